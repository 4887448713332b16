"""End to end through the command line, on a tiny simulated cohort."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from biozoo.cli import app

runner = CliRunner()


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if not p.name.startswith(".")) if out.exists() else []


def train(config: Path, out: Path):
    return runner.invoke(app, ["train", str(config), "--out", str(out)])


def test_train_writes_a_complete_run_folder_and_is_deterministic(tiny_config, tmp_path):
    out = tmp_path / "runs"
    first = train(tiny_config, out)
    assert first.exit_code == 0, first.output
    second = train(tiny_config, out)
    assert second.exit_code == 0, second.output
    a, b = run_dirs(out)
    for name in (
        "config.yaml",
        "versions.json",
        "metrics.json",
        "leaderboard.csv",
        "predictions.csv",
        "splits.csv",
    ):
        assert (a / name).is_file(), name
    # rerunning the same config gives the same numbers
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (a, b))
    assert ma["per_split"] == mb["per_split"]
    pa, pb = (pd.read_csv(p / "predictions.csv") for p in (a, b))
    pd.testing.assert_frame_equal(pa, pb)

    board = pd.read_csv(a / "leaderboard.csv")
    assert set(board["method"]) == {"multimodule", "late", "logistic/ridge (CV)"}
    assert "multimodule" in first.output and "run folder:" in first.output
    assert f"report: {a / 'report.html'}" in first.output.replace("\n", "")

    # out-of-fold: every sample is predicted exactly once per method (3-fold CV)
    assert (pa.groupby("method")["sample_id"].nunique() == 60).all()
    assert (pa.groupby("method").size() == 60).all()

    # latents: one file per module, sample id first, every sample x split x member
    for module, width in (("clinical", 16), ("rna", 4), ("meth", 16), ("fused", 36)):
        lat = pd.read_csv(a / "latents" / "multimodule" / f"{module}.csv")
        assert lat.columns[0] == "sample_id"
        assert len(lat) == 60 * 3 * 2
        assert [c for c in lat.columns if c.startswith("z")] == [f"z{i}" for i in range(width)]
        assert set(lat["part"]) == {"fit", "validation", "test"}
    assert (a / "models" / "multimodule" / "r0-f0.safetensors").is_file()
    assert (a / "models" / "transforms" / "r0-f0.safetensors").is_file()
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]

    # explain afterwards: attributions per model and table modality, and the report shows them
    res = runner.invoke(app, ["explain", str(a), "--model", "multimodule"])
    assert res.exit_code == 0, res.output
    ranked = pd.read_csv(a / "attributions" / "multimodule" / "rna.csv")
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    assert "rna.csv" in (a / "report.html").read_text() or "rna" in (a / "report.html").read_text()


def test_predict_reproduces_the_runs_own_numbers(tiny_config, tiny_files, tmp_path):
    out = tmp_path / "runs"
    assert train(tiny_config, out).exit_code == 0
    (run,) = run_dirs(out)
    preds = tmp_path / "preds.csv"
    args = [
        "predict",
        str(run),
        *[f"{m}={tiny_files[m]}" for m in ("clinical", "rna", "meth")],
        "--model",
        "multimodule",
        "--split",
        "r0-f1",
        "--out",
        str(preds),
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    new = pd.read_csv(preds).set_index("sample_id")
    old = pd.read_csv(run / "predictions.csv")
    old = old[(old["method"] == "multimodule") & (old["split"] == "r0-f1")].set_index("sample_id")
    assert len(old) == 20
    for col in ("p_0", "p_1"):
        pd.testing.assert_series_equal(
            new.loc[old.index, col], old[col], atol=1e-6, check_names=False
        )
    # a split by its index gives the same numbers as by its name
    res = runner.invoke(app, [*args[:-4], "--split", "1"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[1:] == preds.read_text().splitlines()[1:]
    res = runner.invoke(app, [*args[:-4], "--split", "99"])
    assert res.exit_code == 2 and "no split number 99" in res.output
    # config.yaml records the encoders' resolved defaults
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert "out_dim" in saved["models"]["multimodule"]["default_encoder"]
    # the default: every split's ensemble averaged, for every sample
    res = runner.invoke(app, ["predict", str(run), str(tiny_config)])
    assert res.exit_code == 0, res.output
    assert res.stdout.count("\n") == 1 + 60 * 2  # header + 60 samples x 2 models


def test_demo_and_datasets_commands_are_wired():
    res = runner.invoke(app, ["datasets"])
    assert res.exit_code == 0
    assert "gse7390" in res.output and "pbmc68k_reduced" in res.output
    res = runner.invoke(app, ["--help"])
    for command in ("demo", "train", "predict", "explain", "report", "datasets"):
        assert command in res.output


def _bad(tiny_files, tmp_path, mutate):
    from tests.conftest import tiny_raw

    raw = tiny_raw(tiny_files)
    mutate(raw, tmp_path)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    out = tmp_path / "runs"
    res = train(cfg, out)
    return res, out


def _set(path):
    def mutate(raw, tmp):
        node = raw
        *parents, last = path[0]
        for p in parents:
            node = node[p]
        node[last] = path[1](tmp) if callable(path[1]) else path[1]

    return mutate


def _write(name, text):
    def make(tmp):
        p = tmp / name
        p.write_text(text)
        return str(p)

    return make


BAD = {
    "missing file": ((("data", "modalities", "rna", "path"), "/nonexistent/rna.csv"), "rna.csv"),
    "unreadable table": (
        (("data", "modalities", "rna", "path"), _write("rna.parquet", "not parquet")),
        "rna.parquet",
    ),
    "duplicate ids": (
        (
            ("data", "modalities", "clinical", "path"),
            _write("dup.csv", "sample_id,a,b\ns1,1,2\ns1,3,4\ns2,5,6\n"),
        ),
        "s1",
    ),
    "no overlap": (
        (
            ("data", "modalities", "clinical", "path"),
            _write("other.csv", "sample_id,a,b\nx1,1,2\nx2,3,4\nx3,5,6\n"),
        ),
        "other.csv",
    ),
    "absent label column": ((("data", "target", "column"), "status"), "status"),
    "one class": (
        (
            ("data", "target", "path"),
            _write("one.csv", "sample_id,label\n" + "".join(f"S{i:04d},1\n" for i in range(1, 61))),
        ),
        "one.csv",
    ),
    "nan-only feature": (
        (
            ("data", "modalities", "clinical", "path"),
            _write("nan.csv", "sample_id,a,b\nS0001,1,\nS0002,3,\nS0003,5,\n"),
        ),
        "'b'",
    ),
    "non-numeric column": (
        (
            ("data", "modalities", "clinical", "path"),
            _write("txt.csv", "sample_id,a,b\nS0001,1,x\nS0002,3,y\n"),
        ),
        "'b'",
    ),
    "unknown encoder": (
        (("models", "multimodule", "encoders", "rna", "name"), "mpl"),
        "did you mean 'mlp'",
    ),
    "negative learning rate": ((("training", "lr"), -1.0), "training.lr"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_one_sentence_exit_2_and_no_run_folder(case, tiny_files, tmp_path):
    change, expected = BAD[case]
    res, out = _bad(tiny_files, tmp_path, _set(change))
    assert res.exit_code == 2, res.output
    message = res.stderr.strip()
    assert message.startswith("error:"), message
    assert expected in message, message
    assert "Traceback" not in res.output
    assert run_dirs(out) == [] and not (out.exists() and any(out.iterdir()))
