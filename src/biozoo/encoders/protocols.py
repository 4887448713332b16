"""Optional abilities of an encoder, checked with ``isinstance``, never by name.

- :class:`AttentionEncoder`: hands back its token states and attention weights (explain's
  attention maps read them).
- :class:`PatchAttention`: an attention encoder whose tokens are an image's patches on a grid
  (explain's attention rollout reads them back onto the image).
- :class:`ConvFeatureMap`: names the convolution layer whose feature map Grad-CAM weighs.
- :class:`AuxLoss`: adds a regularisation term to the training loss after each forward.
- :class:`EventEncoder`: gives a state after each life event, seeing earlier events only
  (what the generative event-history model of :mod:`biozoo.pipelines.life_events` reads).
- :class:`Stackable`: a module that says whether ensemble members holding it can be trained
  together under ``torch.func.vmap`` (a module without the attribute is stackable).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from torch import Tensor, nn

__all__ = [
    "AttentionEncoder",
    "AuxLoss",
    "ConvFeatureMap",
    "EventEncoder",
    "PatchAttention",
    "Stackable",
]


@runtime_checkable
class AttentionEncoder(Protocol):
    """An encoder whose tokens attend to each other, and that can show the weights."""

    def forward_tokens(
        self, x: Tensor | Mapping[str, Tensor], *, need_weights: bool = False
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """Token states ``[B, L', d]``, their mask ``[B, L']`` and each block's weights."""
        ...

    def attention_maps(self, x: Tensor | Mapping[str, Tensor]) -> Tensor:
        """Attention weights of every block, ``[B, layers, heads, L', L']``."""
        ...


@runtime_checkable
class PatchAttention(Protocol):
    """An encoder attending over an image's patches laid on a ``rows x cols`` grid, after a
    ``[CLS]`` token (position 0) that it pools on."""

    def attention_maps(self, x: Tensor | Mapping[str, Tensor]) -> Tensor:
        """Attention weights of every block, ``[B, layers, heads, 1 + rows*cols, ...]``."""
        ...

    def patch_grid(self) -> tuple[int, int]:
        """``(rows, cols)`` of the patch grid, patches in row-major order after ``[CLS]``."""
        ...

    def patch_pixels(self) -> int:
        """Side of a patch in input pixels (the grid covers ``rows * side`` from the top)."""
        ...


@runtime_checkable
class ConvFeatureMap(Protocol):
    """An encoder with a convolution layer whose ``[B, C, h, w]`` output Grad-CAM weighs."""

    def cam_layer(self) -> nn.Module:
        """The layer (a module inside the encoder) whose output is the feature map."""
        ...


@runtime_checkable
class AuxLoss(Protocol):
    """An encoder with a regularisation term read right after its forward pass."""

    def aux_loss(self) -> Tensor | None:
        """The term to add to the loss, or None."""
        ...


@runtime_checkable
class EventEncoder(Protocol):
    """A causal encoder of life events: a state after each event, from it and earlier ones."""

    d_model: int

    def event_states(self, x: Mapping[str, Tensor]) -> Tensor:
        """Each event's state ``[B, L, d_model]``."""
        ...


@runtime_checkable
class Stackable(Protocol):
    """A module that declares whether it runs under ``vmap`` (``stackable``)."""

    stackable: bool
