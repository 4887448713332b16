"""The MLP encoder: one module of the multi-module MLP."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator
from torch import Tensor, nn

from biozoo.activations import ACTIVATIONS
from biozoo.encoders._registry import ENCODERS
from biozoo.inputs import TableInput
from biozoo.layers.mlp import MLP
from biozoo.layers.periodic import PeriodicEmbedding

__all__ = ["MLPEncoder"]


@ENCODERS.register("mlp")
class MLPEncoder(nn.Module):
    """Hidden layers then a linear projection to the module's latent space.

    The output is the module's embedding "before concatenation": what the run folder exports
    as ``latents/<model>/<modality>.csv``.

    Args:
        input: the table it reads (its number of features comes from the data).
        hidden: hidden layer sizes.
        out_dim: size of the embedding.
        activation: activation name (see ``biozoo.activations.ACTIVATIONS``).
        dropout: dropout after each hidden layer.
        norm: ``batch``, ``layer`` or ``none``.
        numeric_embedding: ``none`` (the features go straight in) or ``plr``: each feature
            first becomes a periodic -> linear -> ReLU embedding
            (:class:`~biozoo.layers.periodic.PeriodicEmbedding`).
        plr_frequencies: trainable frequencies per feature (``plr``).
        plr_dim: embedding size per feature (``plr``); the MLP reads ``n_features * plr_dim``.
        plr_sigma: standard deviation of the frequencies' initialisation (``plr``).

    Shape:
        - x: ``[B, in_dim]``; mask: ``[B]`` bool or None; output ``[B, out_dim]``.
    """

    reads: ClassVar[tuple[type, ...]] = (TableInput,)

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        hidden: list[PositiveInt] = Field(default_factory=lambda: [64])
        out_dim: PositiveInt = 16
        activation: str = "relu"
        dropout: float = Field(0.2, ge=0.0, lt=1.0)
        norm: Literal["batch", "layer", "none"] = "batch"
        numeric_embedding: Literal["none", "plr"] = "none"
        plr_frequencies: PositiveInt = 16
        plr_dim: PositiveInt = 4
        plr_sigma: float = Field(0.1, gt=0.0)

        @field_validator("activation")
        @classmethod
        def _known(cls, v: str) -> str:
            if v not in ACTIVATIONS:
                raise ValueError(ACTIVATIONS.unknown_message(v))
            return v

    def __init__(
        self,
        input: TableInput,
        *,
        hidden: list[int] = (64,),  # type: ignore[assignment]
        out_dim: int = 16,
        activation: str = "relu",
        dropout: float = 0.2,
        norm: Literal["batch", "layer", "none"] = "batch",
        numeric_embedding: Literal["none", "plr"] = "none",
        plr_frequencies: int = 16,
        plr_dim: int = 4,
        plr_sigma: float = 0.1,
    ) -> None:
        super().__init__()
        in_dim = input.n_features
        self.embed: PeriodicEmbedding | None = None
        if numeric_embedding == "plr":
            self.embed = PeriodicEmbedding(in_dim, plr_frequencies, plr_dim, plr_sigma)
        self.mlp = MLP(
            in_dim if self.embed is None else self.embed.out_dim,
            list(hidden),
            out_dim,
            activation=ACTIVATIONS.get(activation),
            dropout=dropout,
            norm=norm,
        )
        self.in_dim = in_dim
        self.out_dim = out_dim

    def reset_parameters(self) -> None:
        if self.embed is not None:
            self.embed.reset_parameters()
        self.mlp.reset_parameters()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        z = self.mlp(x if self.embed is None else self.embed(x))
        if mask is not None:
            z = z * mask.unsqueeze(-1).to(z.dtype)
        return z
