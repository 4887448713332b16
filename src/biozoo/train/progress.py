"""Progress of a run as it trains: which fit is running, and each epoch's validation loss.

A run reports to a *progress* callable, ``progress(label)``, before each fit (a baseline or
one split's ensemble of a deep model). A progress object that also has an ``epoch`` method
(:class:`EpochListener`) hears, after every training epoch of an ensemble, the epoch, the
epoch budget and the members' mean validation loss; :class:`EpochReport` is the Lightning
callback that tells it.

Reporting reads values the training loop computes anyway: it draws no random numbers and
changes no weight, so a run's results are the same with or without a listener.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import lightning as L

__all__ = ["EpochListener", "EpochReport", "Progress"]

Progress = Callable[[str], None]
"""Called with a short label (``"h0: mlp"``) before each fit of a run."""


@runtime_checkable
class EpochListener(Protocol):
    """A progress object that also hears about every epoch of an ensemble's training."""

    def epoch(self, epoch: int, epochs: int, val_loss: float) -> None:
        """Epoch ``epoch`` (1-based) of at most ``epochs`` ended with mean validation loss
        ``val_loss`` (the mean over the ensemble's members)."""


class EpochReport(L.Callback):
    """Tells ``listener`` each epoch's number and the members' mean validation loss.

    Args:
        listener: what hears about each epoch.
    """

    def __init__(self, listener: EpochListener) -> None:
        self.listener = listener

    def on_validation_epoch_end(self, trainer: L.Trainer, plan: L.LightningModule) -> None:
        losses = getattr(plan, "val_losses", None)
        if trainer.sanity_checking or losses is None:
            return
        mean = float(losses.double().mean())
        self.listener.epoch(trainer.current_epoch + 1, int(trainer.max_epochs or 0), mean)
