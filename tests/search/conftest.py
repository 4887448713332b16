"""A tiny search config over the tiny cohort: few trials, few epochs, two outer folds."""

from __future__ import annotations

import copy

import pytest
from tests.conftest import tiny_raw

SPACE = {
    "encoders": {
        "rna": [
            {
                "name": "mlp",
                "hidden": {"width": {"low": 4, "high": 16}, "depth": {"low": 1, "high": 2}},
                "out_dim": 4,
                "dropout": {"low": 0.0, "high": 0.5},
            }
        ]
    },
    "training": {
        "lr": {"low": 1e-3, "high": 1e-1, "log": True},
        "optimizer": {"choices": ["adamw", "lion"]},
    },
}


def search_raw(files, **search: object) -> dict:
    """The tiny run config (baseline only, two outer folds) with a ``search`` section."""
    raw = tiny_raw(files, models={})
    raw["training"].update(epochs=2, patience=2, ensemble=1, split={"kind": "kfold", "folds": 2})
    raw["output"] = {"latents": False, "report": False}
    raw["search"] = {
        "trials": 2,
        "inner": {"kind": "holdout", "repeats": 1, "test_size": 0.3},
        "space": copy.deepcopy(SPACE),
        **search,
    }
    return raw


@pytest.fixture
def search_files(tiny_files):
    return tiny_files
