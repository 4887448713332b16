"""Optional abilities of an encoder, checked with ``isinstance``, never by name.

- :class:`AttentionEncoder`: hands back its token states and attention weights (explain's
  attention maps read them).
- :class:`AuxLoss`: adds a regularisation term to the training loss after each forward.
- :class:`EventEncoder`: gives a state after each life event, seeing earlier events only
  (what the generative event-history model of :mod:`biozoo.pipelines.life_events` reads).
- :class:`Stackable`: a module that says whether ensemble members holding it can be trained
  together under ``torch.func.vmap`` (a module without the attribute is stackable).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from torch import Tensor

__all__ = ["AttentionEncoder", "AuxLoss", "EventEncoder", "Stackable"]


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
