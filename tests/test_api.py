"""The Python API: the same run as the YAML file, from Python."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import tiny_raw

import biozoo


def test_import_is_light():
    code = "import sys, biozoo; biozoo.__version__; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_then_predict_from_python(tiny_files, tmp_path):
    raw = tiny_raw(tiny_files, baselines=[])
    raw["models"] = {"multimodule": raw["models"]["multimodule"]}
    cfg = biozoo.parse_config(raw)
    result = biozoo.run(cfg, out_dir=tmp_path)
    assert result.path.parent == tmp_path and (result.path / "metrics.json").is_file()
    assert list(result.leaderboard["method"]) == ["multimodule"]
    sources = {m: tiny_files[m] for m in ("clinical", "rna", "meth")}
    preds = biozoo.predict(result.path, sources)
    assert len(preds) == 60 and preds["split"].eq("all").all()
    assert ((preds["p_0"] + preds["p_1"]) - 1).abs().max() < 1e-6
