"""The ``delphi`` encoder: a causal transformer over life events with continuous age encoding.

Delphi-2M (Shmatko et al. 2025, "Learning the natural history of human disease with
generative transformers", https://doi.org/10.1038/s41586-025-09529-3): each event is a token,
its code's embedding plus the sinusoids of its *age* (not of its position,
:class:`~biozoo.layers.positional.AgeEncoding`), plus the patient's covariates; causal
pre-norm blocks (:class:`~biozoo.layers.attention.TransformerBlock` with ``causal=True``) let
each event see itself and the events before it only (:meth:`DelphiEncoder.event_states`).
The generative model of :mod:`biozoo.pipelines.life_events` puts a log-rate head on those
states (next event and time to it as competing exponentials,
:mod:`biozoo.layers.competing_exponentials`).

As an encoder (``forward``) it gives the state of each patient's last event, so a history can
also feed a per-patient task.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import Tensor, nn

from biozoo.encoders._registry import ENCODERS
from biozoo.inputs import EventsInput
from biozoo.layers.attention import TransformerBlock
from biozoo.layers.multihead import head_dim
from biozoo.layers.positional import AgeEncoding
from biozoo.layers.token_input import zero_absent

__all__ = ["DelphiEncoder"]


@ENCODERS.register("delphi")
class DelphiEncoder(nn.Module):
    """Code embedding + age encoding + covariates -> causal blocks -> a state per event.

    Args:
        input: the events input (vocabulary, length, covariates come from the data).
        d_model: token width (even).
        heads: attention heads (``d_model`` must be a multiple).
        layers: causal transformer blocks.
        dropout: dropout on attention weights and residual branches.
        out_dim: size of the embedding ``forward`` returns.

    Shape:
        - x: ``{"codes": [B, L] int64 (0 = padding), "ages": [B, L], "mask": [B, L] bool,
          "covariates": [B, c]}``; mask: ``[B]`` bool or None.
        - forward: ``[B, out_dim]``; :meth:`event_states`: ``[B, L, d_model]``.
    """

    reads: ClassVar[tuple[type, ...]] = (EventsInput,)

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        d_model: PositiveInt = 32
        heads: PositiveInt = 4
        layers: PositiveInt = 2
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        out_dim: PositiveInt = 32

    def __init__(
        self,
        input: EventsInput,
        *,
        d_model: int = 32,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.1,
        out_dim: int = 32,
    ) -> None:
        super().__init__()
        head_dim(d_model, heads, "delphi d_model")
        self.input, self.out_dim, self.d_model = input, out_dim, d_model
        self.codes = nn.Embedding(input.vocab, d_model, padding_idx=0)
        self.age = AgeEncoding(d_model)
        self.covariates = nn.Linear(input.covariates, d_model) if input.covariates else None
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, heads, dropout=dropout, causal=True) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.proj = nn.Linear(d_model, out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.codes.weight, std=0.02)
        with torch.no_grad():
            self.codes.weight[0].zero_()
        self.age.reset_parameters()
        if self.covariates is not None:
            self.covariates.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()
        self.norm.reset_parameters()
        self.proj.reset_parameters()

    def embed_events(self, x: dict[str, Tensor]) -> Tensor:
        """Each event's input token ``[B, L, d_model]``: code + age (+ covariates)."""
        h = self.codes(x["codes"]) + self.age(x["ages"])
        if self.covariates is not None:
            h = h + self.covariates(x["covariates"]).unsqueeze(1)
        return h

    def event_states(self, x: dict[str, Tensor]) -> Tensor:
        """Each event's state after the causal blocks, ``[B, L, d_model]``."""
        h, mask = self.embed_events(x), x["mask"]
        for block in self.blocks:
            h, _ = block(h, mask)
        return self.norm(h)

    def forward(self, x: dict[str, Tensor], mask: Tensor | None = None) -> Tensor:
        tmask = x["mask"]
        h = self.event_states(x)
        last = (tmask.sum(dim=1) - 1).clamp(min=0)  # events are left-aligned
        pooled = h[torch.arange(h.shape[0], device=h.device), last]
        return zero_absent(self.proj(pooled), tmask, mask)
