"""The Lightning training plan for a stacked ensemble, its data feed and early stopping.

``fit_ensemble`` is the one entry point: it trains the members of one fold together on the
fit part, stops each member on its own validation loss, restores each member's best weights,
and records every member's training curves (:class:`biozoo.train.history.LossHistory`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, IterableDataset

from biozoo.data.batch import FoldData
from biozoo.decoders.protocols import EncoderDecoder
from biozoo.latent.protocols import Generative
from biozoo.train.device import lightning_accelerator, module_device
from biozoo.train.ensemble import Ensemble, LoopEnsemble, StackedEnsemble, pad_graphs
from biozoo.train.history import LossHistory
from biozoo.train.optim import build_optimizer, needs_create_graph
from biozoo.train.progress import EpochListener, EpochReport
from biozoo.train.schedules import build_scheduler
from biozoo.train.stability import GradientNoise, check_finite

__all__ = [
    "EnsemblePlan",
    "MemberEarlyStopping",
    "fit_ensemble",
    "member_args",
    "member_models",
    "predict_members",
]

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning's INFO lines (accelerator found, and so on) muted for one fit, then restored."""
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


class MemberBatches(IterableDataset):
    """Each epoch, every member gets its own shuffled pass over the rows, in equal batches.

    Inputs whose part can augment (:attr:`FoldData.augment`) are augmented here, member ``m``
    in epoch ``e`` drawing from a generator seeded with ``(seed, e, m)`` alone. With
    ``padded`` (a stacked ensemble), graph inputs come already padded into one
    :class:`~biozoo.data.batch.MemberGraphs` (see :meth:`FoldData.take`).
    """

    def __init__(
        self, data: FoldData, n_members: int, batch_size: int, seed: int, *, padded: bool = False
    ) -> None:
        self.data, self.n_members, self.seed, self.padded = data, n_members, seed, padded
        n = len(data)
        self.n_batches = max(1, int(np.ceil(n / batch_size)))
        if n // self.n_batches < 2 and n >= 2:  # BatchNorm needs two rows per batch
            self.n_batches = n // 2
        self.epoch = 0

    def __iter__(self) -> Iterator[FoldData]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        n = len(self.data)
        perms = torch.stack([torch.randperm(n, generator=g) for _ in range(self.n_members)])
        gens = self._generators(self.epoch - 1) if self.data.augment else []
        for chunk in torch.tensor_split(perms, self.n_batches, dim=1):  # (M, b)
            batch = self.data.take(chunk, padded=self.padded)
            yield batch.augmented(gens) if gens else batch

    def _generators(self, epoch: int) -> list[torch.Generator]:
        """One generator per member for this epoch's augmentations."""
        seeds = np.random.SeedSequence([self.seed, epoch]).generate_state(self.n_members, np.uint64)
        return [torch.Generator().manual_seed(int(s) >> 1) for s in seeds]

    def __len__(self) -> int:
        return self.n_batches


class EnsemblePlan(L.LightningModule):
    """Training loop of a :class:`Ensemble` with a task head.

    The loss is the sum of the members' losses, so each member's gradient is the one it
    would get alone; gradient clipping is applied per member for the same reason.
    """

    def __init__(
        self,
        ensemble: Ensemble,
        head: nn.Module,
        *,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        gradient_clip: float | None = 1.0,
        optimizer_options: dict[str, Any] | None = None,
        schedule: dict[str, Any] | None = None,
        gradient_noise: float | None = None,
        total_steps: int = 1,
        steps_per_epoch: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.ensemble, self.head = ensemble, head
        self.optimizer_name, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.optimizer_options = dict(optimizer_options or {})
        self.schedule = dict(schedule) if schedule else None
        self.total_steps, self.steps_per_epoch = total_steps, steps_per_epoch
        self.gradient_clip = gradient_clip
        self.noise = None if gradient_noise is None else GradientNoise(gradient_noise, seed=seed)
        self.create_graph = needs_create_graph(optimizer)
        self.val_losses: Tensor | None = None
        self.generative = [m for m in member_models(ensemble) if isinstance(m, Generative)]

    def member_losses(self, batch: FoldData) -> Tensor:
        """Each member's loss on its batch, plus its model's regularisation terms."""
        task, aux = self._task_and_aux(batch)
        return task + aux

    def _model_args(self, batch: FoldData) -> tuple[object, ...]:
        """The ensemble's inputs; an encoder-decoder also reads the target (teacher forcing)."""
        if isinstance(self.ensemble.template, EncoderDecoder):
            return batch.inputs, batch.present, batch.y
        return batch.inputs, batch.present

    def _task_and_aux(self, batch: FoldData) -> tuple[Tensor, Tensor]:
        outputs, view_mask, aux = self.ensemble(*self._model_args(batch), with_aux=True)
        return self._head_losses(outputs, view_mask, batch), aux

    def _head_losses(self, outputs: Tensor, view_mask: Tensor, batch: FoldData) -> Tensor:
        """Each member's head loss ``[M]``, over the rows that have a label."""
        if batch.labelled is None:
            return torch.stack(
                [self.head(outputs[m], view_mask[m], batch.y[m]).loss for m in range(len(outputs))]
            )
        losses = []
        for m in range(len(outputs)):
            keep = batch.labelled[m]
            if keep.any():
                losses.append(
                    self.head(outputs[m][keep], view_mask[m][keep], batch.y[m][keep]).loss
                )
            else:  # a batch of unlabelled rows only: nothing supervised to learn from
                losses.append(outputs.new_zeros(()))
        return torch.stack(losses)

    def transfer_batch_to_device(
        self, batch: FoldData, device: torch.device, dataloader_idx: int
    ) -> FoldData:
        return batch.to(device)

    def on_train_epoch_start(self) -> None:
        for model in self.generative:
            model.set_epoch(self.current_epoch)

    def training_step(self, batch: FoldData, batch_idx: int) -> dict[str, Tensor]:
        task, aux = self._task_and_aux(batch)
        losses = task + aux
        check_finite(losses, epoch=self.current_epoch, step=self.global_step)
        return {"loss": losses.sum(), "member_losses": task.detach()}

    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        # second-order optimizers (AdaHessian, Sophia-H) differentiate the gradient again
        loss.backward(create_graph=self.create_graph)

    def validation_step(self, batch: FoldData, batch_idx: int) -> Tensor:
        """Sets each member's validation loss; returns the members' predictions ``[M, n, ...]``.

        A :class:`~biozoo.latent.protocols.Generative` model's loss includes its unsupervised
        term, as in training.
        """
        if self.generative:
            outputs, view_mask, aux = self.ensemble(*self._model_args(batch), with_aux=True)
        else:
            outputs, view_mask = self.ensemble(*self._model_args(batch))
            aux = None
        losses = self._head_losses(outputs, view_mask, batch)
        self.val_losses = (losses if aux is None else losses + aux).detach()
        predictions = [self.head(outputs[m], view_mask[m]).prediction for m in range(len(outputs))]
        return torch.stack(predictions).detach()

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.gradient_clip is not None:
            self.ensemble.clip_member_gradients(self.gradient_clip)
        if self.noise is not None:
            self.noise(self.ensemble.parameters(), step=self.global_step)

    def configure_optimizers(self) -> Any:
        stacked = isinstance(self.ensemble, StackedEnsemble)
        opt = build_optimizer(
            self.optimizer_name,
            self.ensemble.parameters(),
            lr=self.lr,
            weight_decay=self.weight_decay,
            members=self.ensemble.n_members if stacked else None,
            **self.optimizer_options,
        )
        if self.schedule is None:
            return opt
        options = dict(self.schedule)
        name = options.pop("name")
        warmup = int(options.pop("warmup_epochs", 0)) * self.steps_per_epoch
        scheduler = build_scheduler(
            name,
            opt,
            total_steps=self.total_steps,
            warmup_steps=min(warmup, self.total_steps - 1),
            **options,
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class MemberEarlyStopping(L.Callback):
    """Early stopping per member on its validation loss; restores each member's best weights.

    Training stops when no member has improved for ``patience`` epochs.
    """

    def __init__(self, patience: int, min_delta: float = 1e-4) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best_loss: Tensor | None = None
        self.best_epoch: Tensor | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, plan: EnsemblePlan) -> None:
        losses = plan.val_losses
        if losses is None or trainer.sanity_checking:
            return
        state = plan.ensemble.stacked_state()
        if self.best_loss is None:
            self.best_loss = losses.clone()
            self.best_epoch = torch.zeros_like(losses, dtype=torch.long)
            self.wait = torch.zeros_like(self.best_epoch)
            self.best_state = {n: t.clone() for n, t in state.items()}
            return
        improved = losses < self.best_loss - self.min_delta
        self.best_loss = torch.where(improved, losses, self.best_loss)
        self.best_epoch = torch.where(improved, trainer.current_epoch, self.best_epoch)
        self.wait = torch.where(improved, 0, self.wait + 1)
        for n, t in state.items():
            mask = improved.view(-1, *([1] * (t.dim() - 1)))
            self.best_state[n] = torch.where(mask, t, self.best_state[n])
        if bool((self.wait >= self.patience).all()):
            trainer.should_stop = True

    def on_fit_end(self, trainer: L.Trainer, plan: EnsemblePlan) -> None:
        if self.best_loss is not None:
            plan.ensemble.load_stacked_state(self.best_state)


def member_models(ensemble: Ensemble) -> list[nn.Module]:
    """The modules that run each member's forward pass (one template for a stacked one)."""
    return list(ensemble.members) if isinstance(ensemble, LoopEnsemble) else [ensemble.template]


def _loader(dataset: IterableDataset | list) -> DataLoader:
    return DataLoader(dataset, batch_size=None, collate_fn=lambda b: b)


def fit_ensemble(
    ensemble: Ensemble,
    head: nn.Module,
    fit: FoldData,
    val: FoldData,
    *,
    epochs: int,
    batch_size: int,
    patience: int,
    optimizer: str,
    lr: float,
    weight_decay: float,
    gradient_clip: float | None,
    seed: int,
    optimizer_options: dict[str, Any] | None = None,
    schedule: dict[str, Any] | None = None,
    gradient_noise: float | None = None,
    on_epoch: EpochListener | None = None,
    device: torch.device | None = None,
) -> dict[str, object]:
    """Train the members on ``fit``, early-stopping each on ``val``; returns a summary.

    ``schedule`` is ``{"name": ..., "warmup_epochs": ..., **options}``; its steps count the
    whole ``epochs`` budget (early stopping may end training before the schedule does).
    ``on_epoch`` hears each epoch's mean validation loss (:mod:`biozoo.train.progress`).
    The members train on ``device`` (default the CPU; see :mod:`biozoo.train.device`) and are
    on the CPU again afterwards.

    Returns:
        ``epochs_run``, each member's ``best_epoch`` (0-based; the weights kept) and
        ``best_val_loss``, and ``history``: every member's loss per epoch, a frame of
        :meth:`biozoo.train.history.LossHistory.frame`.
    """
    torch.manual_seed(seed)
    stacked = isinstance(ensemble, StackedEnsemble)
    batches = MemberBatches(fit, ensemble.n_members, batch_size, seed, padded=stacked)
    plan = EnsemblePlan(
        ensemble,
        head,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        gradient_clip=gradient_clip,
        optimizer_options=optimizer_options,
        schedule=schedule,
        gradient_noise=gradient_noise,
        total_steps=epochs * len(batches),
        steps_per_epoch=len(batches),
        seed=seed,
    )
    stopper, history = MemberEarlyStopping(patience), LossHistory()
    val_feed = val.repeat(ensemble.n_members)
    if stacked:  # the same validation graphs every epoch: padded once, not at every call
        val_feed = replace(val_feed, inputs=pad_graphs(val_feed.inputs))
    accelerator, devices = lightning_accelerator(device or torch.device("cpu"))
    with _quiet_lightning(), warnings.catch_warnings():
        trainer = L.Trainer(
            max_epochs=epochs,
            accelerator=accelerator,
            devices=devices,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            callbacks=[stopper, history] + ([] if on_epoch is None else [EpochReport(on_epoch)]),
        )
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*IterableDataset.*__len__.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        warnings.filterwarnings("ignore", ".*backward\\(\\) with create_graph=True.*")
        trainer.fit(
            plan,
            train_dataloaders=_loader(batches),
            val_dataloaders=_loader([val_feed]),
        )
    ensemble.eval()
    return {
        "epochs_run": trainer.current_epoch,
        "best_epoch": [] if stopper.best_epoch is None else stopper.best_epoch.tolist(),
        "best_val_loss": [] if stopper.best_loss is None else stopper.best_loss.tolist(),
        "history": history.frame(),
    }


@torch.no_grad()
def predict_members(ensemble: Ensemble, head: nn.Module, data: FoldData) -> Tensor:
    """Every member's predictions for ``data``: ``[M, n, C]`` probabilities or ``[M, n]``,
    computed on the ensemble's device and handed back on the CPU."""
    ensemble.eval()
    outputs, view_mask = ensemble(*member_args(ensemble, data))
    return torch.stack(
        [head(outputs[m], view_mask[m]).prediction for m in range(ensemble.n_members)]
    ).cpu()


@torch.no_grad()
def embed_members(ensemble: Ensemble, data: FoldData) -> dict[str, Tensor]:
    """Every member's embeddings: name -> ``[M, n, d]`` (per encoder, plus ``fused``), on
    the CPU."""
    ensemble.eval()
    z = ensemble(*member_args(ensemble, data), embed=True)
    return {name: t.cpu() for name, t in z.items()}


def member_args(ensemble: Ensemble, data: FoldData) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``data``'s inputs and presence masks, repeated for every member, on the ensemble's
    device."""
    rep = data.repeat(ensemble.n_members).to(module_device(ensemble))
    return rep.inputs, rep.present
