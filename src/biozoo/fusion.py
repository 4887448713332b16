"""Fusions: how the per-modality embeddings become predictions.

- ``concat`` (intermediate fusion, the multi-module MLP): embeddings concatenated, one
  output layer.
- ``early``: the modalities' inputs are concatenated before one encoder (named in the
  fusion's options); the model builder handles the input side.
- ``late``: one output layer per modality; the head averages their predictions.

Each fusion returns ``(outputs [B, K, n_outputs], view_mask [B, K])`` for a head.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import Tensor, nn

from biozoo.registry import Registry

__all__ = ["FUSIONS", "ConcatFusion", "EarlyFusion", "LateFusion"]

FUSIONS: Registry[type[nn.Module]] = Registry("fusion")

MakeOutput = Callable[[int], nn.Module]


@FUSIONS.register("concat")
class ConcatFusion(nn.Module):
    """Concatenate the embeddings (in modality order) and apply one output layer."""

    early = False

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, in_dims: dict[str, int], make_output: MakeOutput) -> None:
        super().__init__()
        self.names = list(in_dims)
        self.out_dim = sum(in_dims.values())
        self.output = make_output(self.out_dim)

    def joint(self, embeddings: dict[str, Tensor]) -> Tensor:
        """The fused embedding ``[B, sum(d_m)]``."""
        return torch.cat([embeddings[n] for n in self.names], dim=-1)

    def forward(
        self, embeddings: dict[str, Tensor], present: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor]:
        out = self.output(self.joint(embeddings)).unsqueeze(1)  # (B, 1, n_out)
        view_mask = torch.ones(out.shape[:2], dtype=out.dtype, device=out.device)
        return out, view_mask


@FUSIONS.register("early")
class EarlyFusion(ConcatFusion):
    """Inputs concatenated before a single encoder, then one output layer.

    Options:
        encoder: the single encoder's spec, ``{name: mlp, hidden: [64], ...}``.
    """

    early = True

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        encoder: dict[str, Any] = Field(default_factory=lambda: {"name": "mlp"})

        @field_validator("encoder")
        @classmethod
        def _valid_encoder(cls, v: dict[str, Any]) -> dict[str, Any]:
            from biozoo.encoders import ENCODERS

            opts = dict(v)
            name = opts.pop("name", None)
            if not isinstance(name, str):
                raise ValueError("the early fusion's encoder needs a 'name'")
            if name not in ENCODERS:
                raise ValueError(ENCODERS.unknown_message(name))
            ENCODERS.get(name).Config(**opts)
            return v


@FUSIONS.register("late")
class LateFusion(nn.Module):
    """One output layer per modality; the head averages the modalities' predictions."""

    early = False

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, in_dims: dict[str, int], make_output: MakeOutput) -> None:
        super().__init__()
        self.names = list(in_dims)
        self.out_dim = sum(in_dims.values())
        self.outputs = nn.ModuleDict({n: make_output(d) for n, d in in_dims.items()})

    def joint(self, embeddings: dict[str, Tensor]) -> Tensor:
        return torch.cat([embeddings[n] for n in self.names], dim=-1)

    def forward(
        self, embeddings: dict[str, Tensor], present: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor]:
        out = torch.stack([self.outputs[n](embeddings[n]) for n in self.names], dim=1)
        view_mask = torch.stack([present[n].to(out.dtype) for n in self.names], dim=1)
        return out, view_mask
