"""An image and a clinical table, through the command line: train, predict, explain, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from typer.testing import CliRunner

from biozoo.cli import app
from biozoo.data.sources.image_patterns import simulate_image_patterns

runner = CliRunner()


def _files(folder: Path) -> dict[str, Path]:
    sim = simulate_image_patterns(36, size=12, seed=3)
    ids = np.array(sim.ids)
    images = folder / "images.npz"
    np.savez(images, ids=ids, values=sim.images)
    rng = np.random.default_rng(0)
    clinical = pd.DataFrame(rng.normal(size=(len(ids), 3)), columns=["age", "bmi", "grade"])
    clinical.insert(0, "sample_id", ids)
    clinical.to_csv(folder / "clinical.csv", index=False)
    pd.DataFrame({"sample_id": ids, "label": sim.labels}).to_csv(folder / "labels.csv", index=False)
    return {"images": images, "clinical": folder / "clinical.csv", "labels": folder / "labels.csv"}


def test_image_and_clinical_train_predict_explain_report(tmp_path):
    files = _files(tmp_path)
    raw = {
        "name": "cells",
        "data": {
            "modalities": {
                "cells": {"kind": "image", "path": str(files["images"])},
                "clinical": {"path": str(files["clinical"])},
            },
            "target": {"path": str(files["labels"]), "column": "label", "task": "binary"},
        },
        "models": {
            "cnn": {"encoders": {"cells": {"name": "cnn2d", "width": 4, "stages": 2}}},
            "hybrid": {
                "encoders": {"cells": {"name": "vit", "patch": 2, "stem": "conv", "d_model": 16}}
            },
        },
        "training": {"epochs": 2, "batch_size": 12, "ensemble": 2, "seed": 0,
                     "split": {"kind": "kfold", "folds": 2}},
        "baselines": ["linear"],
        "output": {"latents": False},
    }  # fmt: skip
    config = tmp_path / "cells.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "runs"
    res = runner.invoke(app, ["train", str(config), "--out", str(out)])
    assert res.exit_code == 0, res.output
    (run,) = [p for p in out.iterdir() if not p.name.startswith(".")]

    preds = tmp_path / "preds.csv"
    args = ["predict", str(run), f"cells={files['images']}", f"clinical={files['clinical']}"]
    args += ["--model", "hybrid", "--split", "r0-f1", "--out", str(preds)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    new = pd.read_csv(preds).set_index("sample_id")
    old = pd.read_csv(run / "predictions.csv")
    old = old[(old["method"] == "hybrid") & (old["split"] == "r0-f1")].set_index("sample_id")
    assert len(old) == 18
    np.testing.assert_allclose(new.loc[old.index, "p_1"], old["p_1"], atol=1e-6)

    res = runner.invoke(app, ["explain", str(run)])
    assert res.exit_code == 0, res.output
    with np.load(run / "image_maps" / "cnn" / "cells.npz") as z:
        assert set(z.files) == {"sample_id", "split", "images", "grad_cam"}
        assert z["grad_cam"].shape == (36, 12, 12) and (z["grad_cam"] >= 0).all()
        assert z["images"].shape == (4, 1, 12, 12)
        assert sorted(z["sample_id"]) == sorted(new.index)  # every image, tested once
    with np.load(run / "image_maps" / "hybrid" / "cells.npz") as z:
        assert {"rollout", "grad_cam"} <= set(z.files)
        assert z["rollout"].shape == (36, 12, 12)
    assert not (run / "attention").exists()  # patches are drawn on the image instead
    page = (run / "report.html").read_text()
    assert 'id="image_maps"' in page and 'data-plot="image-maps-1"' in page
    assert "attention rollout" in page and "Grad-CAM" in page
