"""A modality kind added from outside the library runs a whole experiment.

The ``bag`` kind (one variable-length bag of numbers per sample, read from a CSV with the
numbers separated by ``;``) is defined and registered here, in the test: a reader, a config
class and one view. No library file knows it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import BaseModel, ConfigDict, Field

import biozoo
from biozoo.data.cohort import align_records
from biozoo.data.protocol import MODALITIES, ModalityKind, Part, Read
from biozoo.data.spec import RecordConfig
from biozoo.errors import BiozooError
from biozoo.inputs import TableInput
from biozoo.registry import Registry

STATS = ["mean", "max", "count"]


class BagOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    separator: str = ";"


class BagConfig(RecordConfig):
    kind: Literal["bag"] = "bag"
    bag: BagOptions = Field(default_factory=BagOptions)


def read_bags(name: str, cfg: BagConfig) -> Read:
    frame = pd.read_csv(cfg.path, dtype=str).set_index("id")
    bags = frame["values"].map(lambda s: np.array(s.split(cfg.bag.separator), dtype=np.float64))
    return Read(bags, str(cfg.path), {})


class BagSummary:
    """Mean, max and size of each bag, standardised with training statistics."""

    type: ClassVar[str] = "bag/summary"

    def __init__(self) -> None:
        self.mean = self.sd = None

    def _raw(self, mod: Any) -> np.ndarray:
        out = np.zeros((len(mod.present), len(STATS)))
        for i, bag in enumerate(mod.records):
            if bag is not None:
                out[i] = [bag.mean(), bag.max(), len(bag)]
        return out

    def fit(self, mod: Any, y: np.ndarray | None, task: str) -> BagSummary:
        raw = self._raw(mod)[mod.present]
        self.mean, self.sd = raw.mean(axis=0), raw.std(axis=0) + 1e-8
        return self

    def flat(self, mod: Any) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("not fitted")
        z = (self._raw(mod) - self.mean) / self.sd
        z[~mod.present] = 0.0
        return z.astype(np.float32)

    def transform(self, mod: Any) -> torch.Tensor:
        return torch.from_numpy(self.flat(mod))

    @property
    def input(self) -> TableInput:
        return TableInput(len(STATS))

    def feature_names(self) -> list[str]:
        return list(STATS)

    def token_names(self) -> list[str]:
        return list(STATS)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"mean": self.mean, "sd": self.sd}, {}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> BagSummary:
        part = cls()
        part.mean, part.sd = arrays["mean"], arrays["sd"]
        return part

    @property
    def report(self) -> dict[str, Any]:
        return {"statistics": len(STATS)}


@pytest.fixture
def bag_kind(monkeypatch):
    views: Registry[type[Part]] = Registry("bag view")
    views.register("summary")(BagSummary)
    kind = ModalityKind(
        name="bag",
        Config=BagConfig,
        read=read_bags,
        align=align_records,
        views=views,
        default_view="summary",
    )
    monkeypatch.setitem(MODALITIES._items, "bag", kind)  # registered for this test only
    return kind


def _files(tmp_path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    n = 40
    y = np.arange(n) % 2
    bags = [";".join(f"{v:.3f}" for v in rng.normal(2.0 * c, 1.0, rng.integers(2, 9))) for c in y]
    ids = [f"s{i}" for i in range(n)]
    pd.DataFrame({"id": ids, "values": bags}).to_csv(tmp_path / "bags.csv", index=False)
    pd.DataFrame({"id": ids, "y": y}).to_csv(tmp_path / "y.csv", index=False)
    return {"bags": str(tmp_path / "bags.csv"), "y": str(tmp_path / "y.csv")}


def test_a_kind_registered_outside_the_library_trains_saves_and_predicts(bag_kind, tmp_path):
    assert isinstance(BagSummary(), Part)
    files = _files(tmp_path)
    raw = {
        "name": "bags",
        "data": {
            "modalities": {"b": {"kind": "bag", "path": files["bags"]}},
            "target": {"path": files["y"], "column": "y", "task": "binary"},
        },
        "training": {"epochs": 3, "ensemble": 2, "split": {"kind": "kfold", "folds": 2}},
        "baselines": ["linear"],
        "output": {"report": False, "latents": False},
    }
    result = biozoo.run(biozoo.parse_config(raw), out_dir=tmp_path / "runs")
    board = result.leaderboard.set_index("method")
    assert len(board) == 2 and "multimodule" in board.index
    assert board["roc_auc_mean"].min() > 0.8  # the bags' means separate the classes
    preds = biozoo.predict(result.path, {"b": files["bags"]})  # reloads the saved view
    assert len(preds) == 40 and np.isfinite(preds["p_1"]).all()


def test_an_unregistered_kind_is_a_clear_error(tmp_path):
    raw = {
        "data": {
            "modalities": {"b": {"kind": "bags", "path": "bags.csv"}},
            "target": {"path": "y.csv", "column": "y", "task": "binary"},
        },
    }
    with pytest.raises(BiozooError, match=r"data\.modalities\.b\.kind: unknown modality kind"):
        biozoo.parse_config(raw)
