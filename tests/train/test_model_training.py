"""A model's own training keys (``models.<name>.training``) and ``training.threads``."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

import biozoo.train.experiment as experiment
from biozoo.api import parse_config
from biozoo.api import run as train
from biozoo.config import RunConfig
from biozoo.errors import BiozooError
from biozoo.train.threads import torch_threads

CONFTEST = importlib.util.spec_from_file_location(
    "conftest", __file__.rsplit("/", 2)[0] + "/conftest.py"
)
_conf = importlib.util.module_from_spec(CONFTEST)
CONFTEST.loader.exec_module(_conf)

WARMUP = {"name": "warmup_cosine", "warmup_epochs": 1}


def _raw(tiny_files, late_training=None, **training):
    raw = _conf.tiny_raw(tiny_files)
    raw["baselines"] = []
    raw["training"] = {**raw["training"], **training, "split": {"kind": "holdout", "repeats": 1}}
    if late_training is not None:
        raw["models"]["late"]["training"] = late_training
    return raw


def test_a_models_own_keys_override_the_runs_for_it_alone(tiny_files):
    cfg = parse_config(_raw(tiny_files, {"optimizer": "lion", "lr": 0.002, "schedule": WARMUP}))
    late, multimodule = cfg.training_for("late"), cfg.training_for("multimodule")
    assert (late.optimizer, late.lr, late.schedule.name) == ("lion", 0.002, "warmup_cosine")
    assert (late.epochs, late.ensemble, late.seed) == (6, 2, 0)  # the run's
    assert multimodule == cfg.training
    assert (multimodule.optimizer, multimodule.schedule) == ("adamw", None)


def test_an_explicit_null_overrides_too(tiny_files):
    cfg = parse_config(_raw(tiny_files, {"gradient_clip": None}, schedule=WARMUP))
    assert cfg.training_for("late").gradient_clip is None
    assert cfg.training_for("late").schedule == cfg.training.schedule
    assert cfg.training_for("multimodule").gradient_clip == 1.0


def test_a_saved_config_keeps_only_the_keys_given(tiny_files):
    cfg = parse_config(_raw(tiny_files, {"epochs": 2}, lr=0.05))
    dumped = json.loads(cfg.model_dump_json())
    assert dumped["models"]["late"]["training"] == {"epochs": 2}
    again = RunConfig(**dumped)
    assert again.training_for("late").lr == 0.05  # the run's lr, not the default
    assert again.training_for("late").epochs == 2


@pytest.mark.parametrize(
    ("late", "match"),
    [
        ({"optimizer": "lino"}, r"models\.late\.training\.optimizer.*lion"),
        ({"schedule": {"name": "warmup_cosin"}}, r"models\.late\.training\.schedule.*warmup"),
        ({"split": {"kind": "kfold"}}, r"models\.late\.training\.split: unknown key"),
        ({"lr": -1}, r"models\.late\.training\.lr"),
    ],
    ids=["optimizer", "schedule", "run-wide-key", "bad-value"],
)
def test_a_bad_model_training_key_names_its_location(tiny_files, late, match):
    with pytest.raises(BiozooError, match=match):
        parse_config(_raw(tiny_files, late))


@pytest.fixture
def two_threads():
    """torch at 2 threads, so that a cap of 1 and its undoing are seen."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fits(monkeypatch):
    """Every fit_ensemble call of the experiment: its options and torch's thread count."""
    calls = []
    real = experiment.fit_ensemble

    def spy(*args, **kwargs):
        calls.append({**kwargs, "threads": torch.get_num_threads()})
        return real(*args, **kwargs)

    monkeypatch.setattr(experiment, "fit_ensemble", spy)
    return calls


def test_each_model_trains_with_its_own_options_and_the_runs_threads(
    tiny_files, tmp_path, fits, two_threads
):
    late = {"optimizer": "lion", "lr": 0.002, "epochs": 2, "schedule": WARMUP, "ensemble": 1}
    result = train(parse_config(_raw(tiny_files, late, threads=1)), out_dir=tmp_path)
    multimodule, late_fit = fits  # one holdout split, models in config order
    assert (multimodule["optimizer"], multimodule["epochs"], multimodule["schedule"]) == (
        "adamw",
        6,
        None,
    )
    assert (late_fit["optimizer"], late_fit["lr"], late_fit["epochs"]) == ("lion", 0.002, 2)
    assert late_fit["schedule"]["name"] == "warmup_cosine"
    assert [f["threads"] for f in fits] == [1, 1]
    assert torch.get_num_threads() == 2  # restored after each fit
    assert result.metrics["training"]["late"][0]["epochs_run"] <= 2
    assert len(result.metrics["training"]["late"][0]["best_epoch"]) == 1  # its own ensemble


def test_threads_null_leaves_torch_alone(two_threads):
    with torch_threads(None):
        assert torch.get_num_threads() == 2
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_threads_default_is_null(tiny_files):
    assert parse_config(_raw(tiny_files)).training.threads is None
    with pytest.raises(BiozooError, match=r"training\.threads"):
        parse_config(_raw(tiny_files, threads=0))


def test_the_resolved_config_keeps_a_models_own_keys_and_completes_its_schedule(tiny_files):
    from biozoo.resolved import resolved_config

    cfg = parse_config(_raw(tiny_files, {"lr": 0.002, "schedule": WARMUP}))
    resolved = resolved_config(cfg)
    own = json.loads(resolved.model_dump_json())["models"]["late"]["training"]
    assert set(own) == {"lr", "schedule"}  # only the keys given
    assert own["schedule"]["warmup_epochs"] == 1 and "min_lr_ratio" in own["schedule"]
    assert resolved.training_for("late") == cfg.training_for("late").model_copy(
        update={"schedule": resolved.models["late"].training.schedule}
    )
    assert resolved.models["multimodule"].training is None
