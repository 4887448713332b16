"""Masked-value pretraining: on the training part of each fold only, encoders only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biozoo.config import parse_config
from biozoo.data.cohort import Cohort, TableModality
from biozoo.errors import BiozooError
from biozoo.inputs import VALUE_FIRST, VALUE_HIDDEN
from biozoo.tasks import TASKS
from biozoo.train import experiment, pretrain
from biozoo.train.experiment import run_experiment

N = 30
UNK = 1  # gene_rank's id of a gene in no training cell's top genes


def marker_cohort() -> Cohort:
    """Each cell's top gene is its own marker, so a test cell's marker is unknown to the
    vocabulary of its fold: a test cell shows up as an [UNK] token."""
    rng = np.random.default_rng(0)
    values = np.zeros((N, N + 3), dtype=np.float32)
    values[np.arange(N), np.arange(N)] = 10.0 + rng.random(N)
    values[np.arange(N), N + np.arange(N) % 3] = rng.random(N) + 0.1
    features = [f"M{i}" for i in range(N)] + ["S0", "S1", "S2"]
    mod = TableModality("a", values, features, np.ones(N, bool))
    ids = np.array([f"c{i}" for i in range(N)], dtype=object)
    return Cohort(ids, {"a": mod}, np.arange(N) % 2, TASKS.get("binary")(), ["0", "1"])


def config(value_bins: int = 3, pretrain_epochs: int = 2, tokenizer: dict | None = None):
    tokenizer = tokenizer or {"name": "gene_rank", "top_k": 2, "value_bins": value_bins}
    encoder = {"name": "transformer", "d_model": 8, "heads": 2, "layers": 1, "hidden": 8}
    return parse_config(
        {
            "data": {
                "modalities": {"a": {"path": "a.csv", "tokenizer": tokenizer}},
                "target": {"path": "y.csv", "column": "y", "task": "binary"},
            },
            "models": {"t": {"encoders": {"a": encoder}}},
            "training": {
                "epochs": 2,
                "ensemble": 2,
                "batch_size": 8,
                "split": {"kind": "kfold", "folds": 3},
                "pretrain": {"epochs": pretrain_epochs, "mask_fraction": 0.5},
            },
            "baselines": [],
        }
    )


def test_pretraining_never_sees_a_test_cell(monkeypatch):
    handed, seen = [], []
    real_pretrain, real_loss = experiment.pretrain_ensemble, pretrain.masked_value_loss

    def spy_pretrain(ensemble, make_model, data, *args, **kwargs):
        handed.append(data.inputs["a"]["tokens"].clone())
        return real_pretrain(ensemble, make_model, data, *args, **kwargs)

    def spy_loss(encoder, scorer, x, *args):
        seen.append(x["tokens"].clone())
        return real_loss(encoder, scorer, x, *args)

    monkeypatch.setattr(experiment, "pretrain_ensemble", spy_pretrain)
    monkeypatch.setattr(pretrain, "masked_value_loss", spy_loss)
    result = run_experiment(config(), marker_cohort())
    assert len(handed) == 3  # one pretraining per fold
    for tokens in handed:
        assert len(tokens) == N - N // 3  # the fold's training cells, validation part included
        assert not (tokens == UNK).any()
    assert seen and all(not (t == UNK).any() for t in seen)
    assert len(result.training["t"]) == 3
    for summary in result.training["t"]:
        assert len(summary["pretrain_loss"]) == 2  # one per member
    assert len(result.predictions) == 3  # fine-tuned and scored as usual


def test_pretraining_moves_the_encoder_only():
    cohort = marker_cohort()
    cfg = config()
    transforms = experiment.fit_transforms(cohort, cfg.data)
    data = transforms.fold_data(cohort)
    head = experiment.head_for(cohort)
    spec = cfg.models["t"]

    def make_model():
        return experiment.build_model(spec, transforms.inputs, head.n_outputs)

    ensemble = experiment.make_ensemble(make_model, [0, 1])
    before = {k: t.clone() for k, t in ensemble.stacked_state().items()}
    info = pretrain.pretrain_ensemble(
        ensemble, make_model, data, cfg.training.pretrain, batch_size=8, weight_decay=0.0, seed=0
    )
    after = ensemble.stacked_state()
    assert len(info["pretrain_loss"]) == 2
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("encoders.a.tokens.value_embed") for k in moved)
    assert all(k.startswith("encoders.a.") for k in moved)
    assert not torch.equal(after[sorted(moved)[0]][0], after[sorted(moved)[0]][1])


def test_hide_values_hides_valued_tokens_only():
    values = torch.tensor([[0, 2, 3, 4, 0], [0, 5, 0, 0, 0]])
    shown, hidden = pretrain.hide_values(values, 0.999, torch.Generator().manual_seed(0))
    assert torch.equal(hidden, values >= VALUE_FIRST)
    assert torch.equal(shown, torch.where(hidden, VALUE_HIDDEN, values))


def test_pretraining_needs_value_ids_or_groups():
    with pytest.raises(BiozooError, match="training.pretrain needs an encoder that gives token"):
        run_experiment(config(value_bins=0), marker_cohort())


def test_hide_groups_hides_whole_present_groups_and_keeps_one():
    mask = torch.ones(64, 4, 2, dtype=torch.bool)
    mask[:, 3, 1] = False  # a partly measured group is hidden whole
    mask[0, 3] = False  # an absent group is never "hidden"
    mask[1, 1:] = False  # a sample with one group keeps it
    shown, hidden = pretrain.hide_groups(mask, 0.5, torch.Generator().manual_seed(0))
    assert not hidden[0, 3] and not hidden[1].any()
    assert torch.equal(shown, mask & ~hidden[..., None])
    assert ((mask.any(-1) & ~hidden).sum(1) >= 1).all()  # a visible group in every sample
    assert 0.3 < hidden[2:].float().mean() < 0.6
    _, hidden = pretrain.hide_groups(mask, 0.999, torch.Generator().manual_seed(0))
    assert not hidden.any()  # every group drawn: each sample would lose all, so keeps all


GROUPS = {"name": "omics_groups", "groups": "correlation", "n_groups": 4, "min_size": 2}


def loss_after(epochs: int) -> float:
    cohort = marker_cohort()
    cfg = config(tokenizer=GROUPS, pretrain_epochs=epochs)
    transforms = experiment.fit_transforms(cohort, cfg.data)

    def make_model():
        return experiment.build_model(cfg.models["t"], transforms.inputs, 1)

    torch.manual_seed(0)
    ensemble = experiment.make_ensemble(make_model, [0])
    before = {k: t.clone() for k, t in ensemble.stacked_state().items()}
    options = cfg.training.pretrain
    info = pretrain.pretrain_ensemble(
        ensemble, make_model, transforms.fold_data(cohort), options, batch_size=8,
        weight_decay=0.0, seed=0,
    )  # fmt: skip
    moved = {k for k, t in ensemble.stacked_state().items() if not torch.equal(before[k], t)}
    assert any(k.startswith("encoders.a.tokens.weight") for k in moved)
    assert all(k.startswith("encoders.a.") for k in moved)
    return info["pretrain_loss"][0]


def test_group_tokens_learn_to_predict_hidden_groups():
    assert loss_after(40) < 0.8 * loss_after(1)


def test_group_pretraining_runs_in_an_experiment():
    result = run_experiment(config(tokenizer=GROUPS), marker_cohort())
    assert all(len(s["pretrain_loss"]) == 2 for s in result.training["t"])
    assert len(result.predictions) == 3
