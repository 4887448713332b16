"""Training curves: each member's per-epoch losses, recorded without changing the training."""

from __future__ import annotations

import logging

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from biozoo.config import ModelConfig
from biozoo.data.batch import FoldData
from biozoo.data.spec import PartSpec
from biozoo.inputs import TableInput
from biozoo.model import build_model
from biozoo.tasks import TASKS
from biozoo.train import plan as plan_module
from biozoo.train.ensemble import StackedEnsemble
from biozoo.train.history import HISTORY_COLUMNS, roc_auc
from biozoo.train.plan import fit_ensemble

SPEC = ModelConfig(default_encoder=PartSpec(name="mlp", hidden=[8], out_dim=4, dropout=0.2))


def _data(task: str, n: int = 40, seed: int = 0) -> FoldData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    signal = x[:, 0] + 0.5 * torch.randn(n, generator=g)
    y = {
        "binary": (signal > 0).long(),
        "multiclass": torch.bucketize(signal, torch.tensor([-0.5, 0.5])),
    }
    target = y.get(task, signal)
    return FoldData({"a": x}, {"a": torch.ones(n, dtype=torch.bool)}, target)


def _fit(task: str, *, epochs: int = 12, patience: int = 3, members: int = 3):
    n_out = {"binary": 1, "multiclass": 3}.get(task, 1)
    head = TASKS.get(task)().head(3 if task == "multiclass" else None)
    ens = StackedEnsemble(
        lambda: build_model(SPEC, {"a": TableInput(5)}, n_out), [3, 4, 5][:members]
    )
    data = _data(task)
    info = fit_ensemble(
        ens,
        head,
        data.take(torch.arange(28)),
        data.take(torch.arange(28, 40)),
        epochs=epochs,
        batch_size=8,
        patience=patience,
        optimizer="adamw",
        lr=0.02,
        weight_decay=0.0,
        gradient_clip=1.0,
        seed=7,
    )
    return ens, info


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_epoch_of_every_member_is_recorded(task):
    _, info = _fit(task, epochs=12, patience=3)
    history = info["history"]
    metric = [] if task == "regression" else ["val_roc_auc"]
    assert list(history.columns) == [*HISTORY_COLUMNS, *metric]
    n_epochs = info["epochs_run"]
    assert len(history) == n_epochs * 3
    assert history["epoch"].tolist() == np.repeat(np.arange(n_epochs), 3).tolist()
    assert history["member"].tolist() == [0, 1, 2] * n_epochs
    assert np.isfinite(history[["train_loss", "val_loss"]].to_numpy()).all()
    # the kept epoch of each member is where its recorded validation loss is the best one
    for m, (epoch, best) in enumerate(zip(info["best_epoch"], info["best_val_loss"], strict=True)):
        rows = history[history["member"] == m]
        assert rows.loc[rows["epoch"] == epoch, "val_loss"].item() == pytest.approx(best, abs=0)
        assert (
            best <= rows["val_loss"].min() + 1e-4
        )  # min_delta: an equal-ish later loss is not kept


def test_the_training_loss_falls_and_early_stopping_ends_within_patience():
    _, info = _fit("binary", epochs=60, patience=3)
    history = info["history"]
    first, last = (
        history[history["epoch"] == e]["train_loss"] for e in (0, history["epoch"].max())
    )
    assert (last.to_numpy() < first.to_numpy()).all()
    assert info["epochs_run"] <= max(info["best_epoch"]) + 3 + 1


def test_recording_changes_no_weight(monkeypatch):
    recorded, _ = _fit("binary")

    class Silent(L.Callback):
        def frame(self) -> pd.DataFrame:
            return pd.DataFrame()

    monkeypatch.setattr(plan_module, "LossHistory", Silent)
    plain, _ = _fit("binary")
    a, b = recorded.stacked_state(), plain.stacked_state()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_roc_auc_is_that_of_the_task_metrics(n_classes):
    rng = np.random.default_rng(n_classes)
    task = "binary" if n_classes == 2 else "multiclass"
    proba = rng.dirichlet(np.ones(n_classes), size=(3, 30))
    proba[0, :10] = proba[0, 10:20]  # ties
    proba = np.round(proba, 2)  # more ties
    y = rng.integers(0, n_classes, size=(3, 30))
    y[2] = np.minimum(y[2], n_classes - 2)  # a class absent from member 2's targets
    got = roc_auc(torch.from_numpy(proba), torch.from_numpy(y)).numpy()
    want = [
        TASKS.get(task)().metrics(y[m], proba[m], n_classes=n_classes)["roc_auc"]
        for m in range(3)
    ]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_roc_auc_of_one_class_is_nan():
    proba = torch.tensor([[[0.3, 0.7], [0.6, 0.4]]])
    assert torch.isnan(roc_auc(proba, torch.tensor([[1, 1]]))).all()


def test_a_fit_leaves_lightning_logging_as_it_found_it():
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    before = [lg.level for lg in loggers]
    loggers[0].setLevel(logging.WARNING)
    try:
        _fit("binary", epochs=2)
        assert loggers[0].level == logging.WARNING
        assert [lg.level for lg in loggers[1:]] == before[1:]
    finally:
        loggers[0].setLevel(before[0])
