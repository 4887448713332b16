"""The search section's schema, the checks against the registries, and trial configs."""

from __future__ import annotations

import pytest
import yaml
from optuna.trial import FixedTrial
from tests.search.conftest import search_raw

from biozoo.errors import BiozooError
from biozoo.search.check import load_search, parse_search
from biozoo.search.sample import trial_config
from biozoo.search.space import Choices, FloatRange, IntRange, Layers, SearchSpace


def test_values_are_typed_by_their_keys():
    space = SearchSpace.model_validate(
        {
            "head": {"dropout": {"low": 0.0, "high": 0.5}, "hidden": {"choices": [[8], [8, 4]]}},
            "training": {
                "epochs": {"low": 2, "high": 9, "step": 1},
                "lr": {"low": 1e-4, "high": 1e-2, "log": True},
                "batch_size": 16,
            },
            "encoders": {
                "rna": {
                    "name": "mlp",
                    "hidden": {"width": {"low": 4, "high": 8}, "depth": {"low": 1, "high": 3}},
                }
            },
        }
    )
    assert isinstance(space.head["dropout"], FloatRange)
    assert isinstance(space.head["hidden"], Choices)
    assert isinstance(space.training["epochs"], IntRange)
    assert space.training["lr"].log
    assert space.training["batch_size"] == 16  # fixed, passed on as written
    (mlp,) = space.encoders["rna"]  # one spec is a list of one choice
    assert isinstance(mlp.options["hidden"], Layers)


def test_trial_config_fills_the_choices(tiny_files):
    cfg, search = parse_search(search_raw(tiny_files))
    trial = FixedTrial(
        {
            "rna.mlp.hidden.depth": 2,
            "rna.mlp.hidden.width": 7,
            "rna.mlp.dropout": 0.25,
            "lr": 0.01,
            "optimizer": "lion",
        }
    )
    out = trial_config(cfg, search, trial)
    (name,) = out.models
    assert name == "searched-mlp"
    rna = out.models[name].encoders["rna"]
    assert rna.name == "mlp" and rna.options == {"hidden": [7, 7], "out_dim": 4, "dropout": 0.25}
    assert out.training.lr == 0.01 and out.training.optimizer == "lion"
    assert out.training.epochs == cfg.training.epochs and out.baselines == cfg.baselines


# the tiny search space's own parameters, fixed, for tests that add to the space
_FIXED = {
    "rna.mlp.hidden.depth": 1,
    "rna.mlp.hidden.width": 4,
    "rna.mlp.dropout": 0.0,
    "lr": 0.01,
    "optimizer": "adamw",
}


def test_choices_of_lists_are_recorded_as_text(tiny_files):
    raw = search_raw(tiny_files)
    raw["search"]["space"]["head"] = {"hidden": {"choices": [[], [8, 4]]}}
    cfg, search = parse_search(raw)
    params = {
        **_FIXED,
        "head.hidden": "[8, 4]",
    }
    out = trial_config(cfg, search, FixedTrial(params))
    assert out.models["searched-mlp"].head.hidden == [8, 4]


def test_a_choice_of_encoders_names_each_family(tiny_files):
    raw = search_raw(tiny_files)
    raw["search"]["space"]["encoders"]["rna"].append({"name": "kan", "out_dim": 4})
    cfg, search = parse_search(raw)
    assert search.name() == "searched"
    out = trial_config(
        cfg, search, FixedTrial({"encoder.rna": "kan", "lr": 0.01, "optimizer": "adamw"})
    )
    assert out.models["searched"].encoders["rna"].name == "kan"


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda s: s["space"]["encoders"]["rna"].append({"name": "mpl"}),
            ["search.space.encoders.rna[1].name", "'mpl'", "did you mean"],
        ),
        (
            lambda s: s["space"]["training"].update(lr={"low": 0.1, "high": 0.01}),
            ["search.space.training.lr", "empty range"],
        ),
        (
            lambda s: s["space"]["training"].update(optimizer={"choices": []}),
            ["search.space.training.optimizer", "empty list of choices"],
        ),
        (
            lambda s: s["space"]["training"].update(optimizer={"choices": ["adamw", "adamx"]}),
            ["search.space.training.optimizer", "'adamx'"],
        ),
        (
            lambda s: s["space"]["training"].update(lr={"low": 0.0, "high": 0.1, "log": True}),
            ["search.space.training.lr", "low > 0"],
        ),
        (
            lambda s: s["space"]["training"].update(momentum=0.9),
            ["search.space.training", "unknown fit option 'momentum'"],
        ),
        (
            lambda s: s["space"]["encoders"]["rna"][0].update(widht=3),
            ["search.space.encoders.rna[0].widht", "unknown key"],
        ),
        (
            lambda s: s["space"]["encoders"]["rna"][0].update(dropout={"low": 0.0, "high": 1.5}),
            ["search.space.encoders.rna[0].dropout", "1.5"],
        ),
        (
            lambda s: s["space"]["encoders"].update(rnaseq={"name": "mlp"}),
            ["search.space.encoders.rnaseq", "names no modality"],
        ),
        (
            lambda s: s["space"].update(fusion=[{"name": "concat"}, {"name": "glue"}]),
            ["search.space.fusion[1].name", "'glue'"],
        ),
        (lambda s: s.update(pruner="halving"), ["search.pruner", "'halving'"]),
        (
            lambda s: s.update(inner={"kind": "predefined", "column": "x"}),
            ["search.inner.kind", "kfold or holdout"],
        ),
    ],
)
def test_a_bad_space_is_one_sentence_naming_the_key(tiny_files, edit, words):
    raw = search_raw(tiny_files)
    edit(raw["search"])
    with pytest.raises(BiozooError) as err:
        parse_search(raw, source="s.yaml")
    message = str(err.value)
    assert message.startswith("s.yaml: ") and message.count("\n") == 0
    for w in words:
        assert w in message


def test_a_config_without_a_search_section_is_refused(tiny_files, tmp_path):
    raw = search_raw(tiny_files)
    del raw["search"]
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(BiozooError, match="has no 'search' section"):
        load_search(path)


def test_the_example_search_config_loads():
    from pathlib import Path

    cfg, search = load_search(Path(__file__).parents[2] / "examples" / "search" / "gse7390.yaml")
    assert search.name() == "searched" and "multimodule_mlp" in cfg.models
    assert {c.name for c in search.space.encoders["gex"]} == {"mlp", "kan"}


@pytest.mark.parametrize(
    ("name", "default", "module", "families"),
    [
        ("simulated", "multimodule", "rna", {"mlp", "kan"}),
        ("liver_cohort", "multimodule", "meth", {"mlp", "kan"}),
        ("pbmc68k", "mlp", "rna", {"mlp", "kan"}),
        ("pbcseq", "lstm", "labs", {"lstm", "gru"}),
    ],
)
def test_each_dataset_search_config_loads(name, default, module, families):
    from pathlib import Path

    path = Path(__file__).parents[2] / "examples" / "search" / f"{name}.yaml"
    cfg, search = load_search(path)
    assert list(cfg.models) == [default] and search.trials == 30
    assert {c.name for c in search.space.encoders[module]} == families


def test_class_weight_decision_and_label_smoothing_are_searchable(tiny_files):
    raw = search_raw(tiny_files)
    raw["search"]["space"]["training"].update(
        class_weight={"choices": ["none", "balanced"]},
        decision={"choices": ["argmax", "prior_correction", "thresholds"]},
        label_smoothing={"low": 0.0, "high": 0.2},
    )
    cfg, search = parse_search(raw)
    params = {
        **_FIXED,
        "class_weight": "balanced",
        "decision": "thresholds",
        "label_smoothing": 0.1,
    }
    out = trial_config(cfg, search, FixedTrial(params))
    assert out.training.class_weight == "balanced"
    assert out.training.decision == "thresholds"
    assert out.training.label_smoothing == 0.1


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("class_weight", {"choices": ["none", "inverse"]}, ["'inverse'", "class_weight"]),
        ("decision", {"choices": ["argmax", "youden"]}, ["'youden'", "decision"]),
        ("label_smoothing", {"low": 0.0, "high": 1.0}, ["label_smoothing", "1.0"]),
    ],
)
def test_an_unknown_training_choice_is_one_sentence(tiny_files, key, value, words):
    raw = search_raw(tiny_files)
    raw["search"]["space"]["training"][key] = value
    with pytest.raises(BiozooError) as err:
        parse_search(raw, source="s.yaml")
    message = str(err.value)
    assert message.startswith("s.yaml: search.space.training.") and "\n" not in message
    for w in words:
        assert w in message, message
