"""Training curves: every member's per-epoch training and validation loss, recorded during fit.

:class:`LossHistory` is a Lightning callback that :func:`biozoo.train.plan.fit_ensemble`
attaches to every fit; its :meth:`LossHistory.frame` is the table a run folder keeps as
``history/<model>/<split>.csv``, one row per (epoch, member):

* ``epoch``: 0-based, as ``best_epoch`` in ``metrics.json["training"]``;
* ``train_loss``: the member's task loss averaged over the epoch's mini-batches, in training
  mode (dropout on) while its weights change, so it is a running average over the epoch and
  excludes regularisation terms (mixture-of-experts balance, for instance) that the optimiser
  also sees;
* ``val_loss``: the task loss on the inner validation part after the epoch, in evaluation
  mode: the quantity early stopping watches;
* ``val_roc_auc`` (classification only): ROC AUC on the validation part, as
  :func:`biozoo.evaluate.classification_metrics` defines it (binary: class 1's probability;
  multiclass: one-vs-rest, macro over the classes present).

Why a callback and not Lightning's ``CSVLogger``: the members are trained together (stacked,
through ``torch.func.vmap``), so each loss is a vector with one entry per member, while a
logger takes scalars. Logging would need one key per member (``val_loss/3``), ``self.log``'s
reduction machinery on every step, and a wide ``metrics.csv`` in a ``version_<n>`` folder
that would then be reshaped into the long table above. Keeping the vectors in a callback costs
one addition per step and one small rank computation per epoch, and yields that table
directly. Recording reads values the loop computes anyway; it draws no random numbers and
changes no weight, so a run's results are the same with or without it.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import Tensor

__all__ = ["HISTORY_COLUMNS", "LossHistory", "roc_auc"]

HISTORY_COLUMNS = ("epoch", "member", "train_loss", "val_loss")
"""The columns every history table has (classification adds ``val_roc_auc``)."""


def roc_auc(proba: Tensor, y: Tensor) -> Tensor:
    """ROC AUC of each member's class probabilities (Mann-Whitney U with mid-ranks for ties).

    Args:
        proba: class probabilities, ``[M, n, C]``.
        y: class codes, ``[M, n]``.

    Returns:
        ``[M]`` (float64): for two classes the AUC of column 1; for more, the mean of the
        one-vs-rest AUCs over the classes present in ``y``. NaN where it is undefined (fewer
        than two classes present).
    """
    n_classes = proba.shape[-1]
    cols = torch.tensor([1] if n_classes == 2 else range(n_classes), device=proba.device)
    score = proba.index_select(-1, cols).transpose(1, 2).double().contiguous()  # (M, K, n)
    positive = y.unsqueeze(1) == cols.view(1, -1, 1)  # (M, K, n)
    ordered = score.sort(dim=-1).values
    low = torch.searchsorted(ordered, score, side="left")
    high = torch.searchsorted(ordered, score, side="right")
    rank = (low + high + 1).double() / 2  # 1-based mid-ranks
    n_pos = positive.sum(-1).double()
    n_neg = score.shape[-1] - n_pos
    u = (rank * positive).sum(-1) - n_pos * (n_pos + 1) / 2
    return torch.nanmean(u / (n_pos * n_neg), dim=-1)  # 0/0 = NaN: a class absent or alone


class LossHistory(L.Callback):
    """Collects each member's training and validation loss (and validation ROC AUC) per epoch.

    It reads the per-member vectors :class:`biozoo.train.plan.EnsemblePlan` hands to the
    batch hooks: ``training_step`` returns ``{"loss", "member_losses"}`` and
    ``validation_step`` returns the members' predictions, ``[M, n, ...]``. Validation is one
    batch (the whole validation part), so the epoch's row is complete when validation ends.
    """

    def __init__(self) -> None:
        self.epochs: list[dict[str, Any]] = []
        self._train_sum: Tensor | None = None
        self._batches = 0
        self._auc: Tensor | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, plan: L.LightningModule) -> None:
        self._train_sum, self._batches, self._auc = None, 0, None

    def on_train_batch_end(
        self, trainer: L.Trainer, plan: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        losses = outputs["member_losses"]
        self._train_sum = losses if self._train_sum is None else self._train_sum + losses
        self._batches += 1

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        plan: L.LightningModule,
        outputs: Any,
        batch: Any,
        idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if isinstance(outputs, Tensor) and outputs.dim() == 3:  # class probabilities
            self._auc = roc_auc(outputs, batch.y)

    def on_validation_epoch_end(self, trainer: L.Trainer, plan: L.LightningModule) -> None:
        val = getattr(plan, "val_losses", None)
        if trainer.sanity_checking or val is None or self._train_sum is None:
            return
        row = {
            "epoch": trainer.current_epoch,
            "train_loss": (self._train_sum / self._batches).double().cpu().numpy(),
            "val_loss": val.double().cpu().numpy(),
        }
        if self._auc is not None:
            row["val_roc_auc"] = self._auc.cpu().numpy()
        self.epochs.append(row)

    def frame(self) -> pd.DataFrame:
        """The history, one row per (epoch, member), sorted by epoch then member."""
        if not self.epochs:
            return pd.DataFrame({c: [] for c in HISTORY_COLUMNS})
        rows = []
        for record in self.epochs:
            n = len(record["val_loss"])
            part = {"epoch": np.full(n, record["epoch"]), "member": np.arange(n)}
            part.update({k: v for k, v in record.items() if k != "epoch"})
            rows.append(pd.DataFrame(part))
        return pd.concat(rows, ignore_index=True)
