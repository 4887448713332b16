"""Optimizers, schedules and gradient noise as named in a run config, end to end."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from biozoo.api import parse_config
from biozoo.api import run as train
from biozoo.data.batch import FoldData
from biozoo.errors import BiozooError
from biozoo.heads import BinaryHead
from biozoo.train.ensemble import StackedEnsemble
from biozoo.train.plan import EnsemblePlan, fit_ensemble

CONFTEST = importlib.util.spec_from_file_location(
    "conftest", __file__.rsplit("/", 2)[0] + "/conftest.py"
)
_conf = importlib.util.module_from_spec(CONFTEST)
CONFTEST.loader.exec_module(_conf)


def _run(tiny_files, tmp_path, **training):
    raw = _conf.tiny_raw(tiny_files)
    raw["models"] = {"multimodule": raw["models"]["multimodule"]}
    raw["baselines"] = []
    raw["training"] = {**raw["training"], **training, "split": {"kind": "holdout", "repeats": 1}}
    return train(parse_config(raw), out_dir=tmp_path)


@pytest.mark.parametrize(
    "training",
    [
        {
            "optimizer": "lion",
            "lr": 0.001,
            "schedule": {"name": "warmup_cosine", "warmup_epochs": 2},
        },
        {"optimizer": "adahessian", "lr": 0.05},
        {"optimizer": "soap", "gradient_noise": 0.01, "schedule": {"name": "one_cycle"}},
    ],
    ids=["lion-cosine", "adahessian", "soap-noise-onecycle"],
)
def test_named_optimizers_and_schedules_train_a_run(tiny_files, tmp_path, training):
    result = _run(tiny_files, tmp_path, **training)
    auc = result.metrics["summary"]["multimodule"]["roc_auc"]["mean"]
    assert 0.0 <= auc <= 1.0
    assert result.metrics["training"]["multimodule"][0]["epochs_run"] > 0


def test_unknown_optimizer_option_is_one_sentence(tiny_files):
    raw = _conf.tiny_raw(tiny_files)
    raw["training"]["optimizer_options"] = {"betaz": [0.9, 0.99]}
    with pytest.raises(BiozooError, match="did you mean 'betas'"):
        parse_config(raw)


def test_unknown_schedule_gets_did_you_mean(tiny_files):
    raw = _conf.tiny_raw(tiny_files)
    raw["training"]["schedule"] = {"name": "warmup_cosin"}
    with pytest.raises(BiozooError, match="warmup_cosine"):
        parse_config(raw)


def test_a_nan_loss_stops_training_naming_epoch_and_step():
    from biozoo.config import ModelConfig
    from biozoo.data.spec import PartSpec
    from biozoo.model import build_model

    spec = ModelConfig(default_encoder=PartSpec(name="mlp", hidden=[4], out_dim=2, dropout=0.0))
    ens = StackedEnsemble(lambda: build_model(spec, {"a": 3}, 1), [0, 1])
    x = torch.randn(16, 3)
    x[3, 0] = float("nan")
    data = FoldData({"a": x}, {"a": torch.ones(16, dtype=torch.bool)}, torch.arange(16) % 2)
    with pytest.raises(BiozooError, match=r"epoch 0, step 0"):
        fit_ensemble(
            ens,
            BinaryHead(),
            data,
            data,
            epochs=2,
            batch_size=16,
            patience=5,
            optimizer="adamw",
            lr=0.01,
            weight_decay=0.0,
            gradient_clip=1.0,
            seed=0,
        )
    assert EnsemblePlan(ens, BinaryHead(), optimizer="adahessian").create_graph
