"""Semi-supervised training: samples without a label train the unsupervised loss of every
split and are never scored; the supervised loss ignores them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tests.conftest import tiny_raw

from biozoo.api import parse_config
from biozoo.config import ModelConfig
from biozoo.data.batch import FoldData
from biozoo.heads import BinaryHead
from biozoo.inputs import TableInput
from biozoo.model import build_model
from biozoo.train.ensemble import make_ensemble
from biozoo.train.plan import EnsemblePlan
from biozoo.train.run import train

ENCODER = {"name": "mlp", "hidden": [8], "out_dim": 8}


@pytest.fixture(scope="module")
def semi_run(tiny_files, tmp_path_factory):
    """A VAE run on the tiny cohort with the first 15 labels blanked (unlabelled: keep)."""
    labels = pd.read_csv(tiny_files["labels"], dtype={"sample_id": str})
    unlabelled = set(labels["sample_id"][:15])
    labels.loc[:14, "label"] = np.nan
    folder = tmp_path_factory.mktemp("semi")
    labels.to_csv(folder / "labels.csv", index=False)
    raw = tiny_raw(
        {**tiny_files, "labels": folder / "labels.csv"},
        models={"vae": {"default_encoder": ENCODER, "objective": {"name": "vae"}}},
    )
    raw["data"]["unlabelled"] = "keep"
    raw["output"] = {"report": False}
    return train(parse_config(raw), out_dir=folder / "runs"), unlabelled


def test_unlabelled_samples_train_in_every_split_and_are_never_scored(semi_run):
    result, unlabelled = semi_run
    pred = pd.read_csv(result.path / "predictions.csv", dtype={"sample_id": str})
    assert not unlabelled & set(pred["sample_id"])
    assert pred.groupby("method")["sample_id"].nunique().eq(45).all()
    splits = pd.read_csv(result.path / "splits.csv", dtype={"sample_id": str})
    rows = splits[splits["sample_id"].isin(unlabelled)]
    assert set(rows["part"]) == {"train"} and len(rows) == 15 * splits["split"].nunique()
    latents = pd.read_csv(result.path / "latents" / "vae" / "fused.csv", dtype={"sample_id": str})
    unl = latents[latents["sample_id"].isin(unlabelled)]
    assert set(unl["part"]) == {"fit"}  # fitted on (reconstruction), never validated on
    board = result.leaderboard.set_index("method")
    assert np.isfinite(board.loc["vae", "recon_mse_rna_mean"])


def test_the_supervised_loss_ignores_unlabelled_rows_and_the_unsupervised_one_does_not():
    inputs = {"t": TableInput(5)}
    spec = ModelConfig(default_encoder=ENCODER, objective={"name": "ae", "latent_dim": 2})
    ens = make_ensemble(lambda: build_model(spec, inputs, 1), [0])
    plan = EnsemblePlan(ens, BinaryHead())
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    present = {"t": torch.ones(6, dtype=torch.bool)}
    labelled = torch.tensor([True, True, True, False, False, False])
    y = torch.tensor([0, 1, 0, 0, 0, 0])
    ens.eval()

    def losses(x, y):
        data = FoldData({"t": x}, present, y, labelled=labelled).repeat(1)
        return plan._task_and_aux(data)

    task, aux = losses(x, y)
    task2, _ = losses(x, torch.tensor([0, 1, 0, 1, 1, 1]))  # placeholders changed
    assert torch.equal(task, task2)
    moved = x.clone()
    moved[3:] += 5.0  # unlabelled rows' inputs changed
    task3, aux3 = losses(moved, y)
    assert torch.equal(task, task3) and not torch.equal(aux, aux3)
