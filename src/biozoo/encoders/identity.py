"""The identity encoder: the (transformed) features themselves are the embedding."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from biozoo.encoders._registry import ENCODERS
from biozoo.inputs import TableInput

__all__ = ["IdentityEncoder"]


@ENCODERS.register("identity")
class IdentityEncoder(nn.Module):
    """Passes the features through, so a fusion or head sees the raw (transformed) table.

    Shape:
        - x: ``[B, in_dim]``; output ``[B, in_dim]``.
    """

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")

    reads: ClassVar[tuple[type, ...]] = (TableInput,)

    def __init__(self, input: TableInput) -> None:
        super().__init__()
        self.in_dim = input.n_features
        self.out_dim = input.n_features

    def reset_parameters(self) -> None:
        """Nothing to reset: the encoder has no parameters."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is not None:
            x = x * mask.unsqueeze(-1).to(x.dtype)
        return x
