"""An image modality through a whole run: config, folds, baselines, a deep model, predict.

The image encoders live elsewhere; a tiny convolutional encoder registered inside the test
stands in for them, so the kind is checked on its own.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

import biozoo
from biozoo.encoders import ENCODERS
from biozoo.inputs import ImageInput


class TinyImageEncoder(nn.Module):
    """One 3 x 3 convolution, ReLU, global max pooling."""

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        out_dim: int = 4

    reads: ClassVar[tuple[type, ...]] = (ImageInput,)

    def __init__(self, input: ImageInput, out_dim: int = 4) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.conv = nn.Conv2d(input.channels, out_dim, 3, padding=1)

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # [B, out_dim]
        return torch.relu(self.conv(x)).amax(dim=(-2, -1))


@pytest.fixture
def tiny_image_encoder(monkeypatch):
    monkeypatch.setitem(ENCODERS._items, "tiny_image", TinyImageEncoder)  # this test only


def _files(tmp_path) -> dict[str, str]:
    """40 two-channel 10 x 10 images; class 1 has a bright 2 x 2 spot somewhere in channel 0."""
    rng = np.random.default_rng(0)
    n = 40
    y = np.arange(n) % 2
    values = rng.normal(size=(n, 2, 10, 10)).astype(np.float32)
    for i in np.flatnonzero(y):
        r, c = rng.integers(0, 9, 2)
        values[i, 0, r : r + 2, c : c + 2] += 6.0
    ids = np.array([f"s{i:02d}" for i in range(n)])
    np.savez(tmp_path / "cells.npz", values=values, ids=ids, channels=np.array(["dna", "er"]))
    pd.DataFrame({"id": ids, "y": y}).to_csv(tmp_path / "y.csv", index=False)
    return {"cells": str(tmp_path / "cells.npz"), "y": str(tmp_path / "y.csv")}


def test_images_train_with_baselines_and_a_deep_model_then_predict(tiny_image_encoder, tmp_path):
    files = _files(tmp_path)
    raw = {
        "name": "cells",
        "data": {
            "modalities": {
                "cells": {
                    "kind": "image",
                    "path": files["cells"],
                    "image": {"size": [12, 12], "resize": "crop", "augment": {"jitter": 0.02}},
                }
            },
            "target": {"path": files["y"], "column": "y", "task": "binary"},
        },
        "models": {"cnn": {"encoders": {"cells": {"name": "tiny_image", "out_dim": 4}}}},
        "training": {"epochs": 20, "ensemble": 2, "lr": 0.03, "split": {"kind": "kfold", "folds": 2}},  # noqa: E501
        "baselines": ["linear"],
        "output": {"report": False, "latents": False},
    }
    result = biozoo.run(biozoo.parse_config(raw), out_dir=tmp_path / "runs")
    board = result.leaderboard.set_index("method")
    assert set(board.index) == {"cnn", "logistic/ridge (CV)"}
    assert board.loc["cnn", "roc_auc_mean"] > 0.9  # the spot, wherever it is
    preds = biozoo.predict(result.path, {"cells": files["cells"]})  # reloads the saved view
    assert len(preds) == 40 and np.isfinite(preds["p_1"]).all()
