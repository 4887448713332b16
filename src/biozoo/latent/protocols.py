"""Optional abilities of a whole model, checked with ``isinstance``, never by name.

- :class:`Generative`: its unsupervised loss (the third element of
  ``forward(..., with_aux=True)``) is part of its validation loss too, and it is told each
  training epoch (a KL warm-up reads it).
- :class:`Embeds`: gives a posterior over a latent space for new samples
  (``forward(inputs, present, posterior=True) -> (mean, variance)``) and per-sample
  reconstruction scores (``reconstruct=True``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Embeds", "Generative"]


@runtime_checkable
class Generative(Protocol):
    """A model with its own unsupervised loss, told the epoch before each training epoch."""

    def set_epoch(self, epoch: int) -> None:
        """Prepare training epoch ``epoch`` (0-based)."""
        ...


@runtime_checkable
class Embeds(Protocol):
    """A model with a posterior over a latent space of ``latent_dim`` dimensions."""

    latent_dim: int
