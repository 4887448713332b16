"""``biozoo train --workers N | --scheduler ADDR``: the units on a real Dask cluster give the
serial run's results; an unreachable scheduler is one sentence and exit 2."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml
from tests.conftest import free_port, skops_arrays, tiny_raw
from typer.testing import CliRunner

from biozoo.cli import app

runner = CliRunner()


def _config(files: dict[str, Path], tmp: Path) -> Path:
    raw = copy.deepcopy(tiny_raw(files))
    raw["training"]["threads"] = 1  # the serial run uses what each worker uses
    raw["output"] = {"report": False}
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _train(*args: str) -> Path:
    out = Path(args[args.index("--out") + 1])
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    (run,) = out.iterdir()
    return run


def test_two_local_workers_give_the_serial_results(tiny_files, tmp_path):
    cfg = str(_config(tiny_files, tmp_path))
    serial = _train(cfg, "--out", str(tmp_path / "serial"))
    dask = _train(cfg, "--workers", "2", "--out", str(tmp_path / "dask"))
    files = sorted(p.relative_to(serial) for p in serial.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(dask) for p in dask.rglob("*") if p.is_file())
    for rel in files:
        if rel.suffix == ".skops":  # skops names its arrays by object id: compare the arrays
            assert skops_arrays(serial / rel) == skops_arrays(dask / rel), rel
        elif rel.name != "metrics.json":
            assert (serial / rel).read_bytes() == (dask / rel).read_bytes(), rel
    a, b = (json.loads((p / "metrics.json").read_text()) for p in (serial, dask))
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_an_unreachable_scheduler_is_one_sentence_and_nothing_is_left(tiny_files, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    out = tmp_path / "runs"
    cfg = str(_config(tiny_files, tmp_path))
    result = runner.invoke(app, ["train", cfg, "--scheduler", address, "--out", str(out)])
    assert result.exit_code == 2, result.output
    text = result.output.replace("\n", "")
    assert text.startswith("error: cannot reach the Dask scheduler at " + address), text
    assert "Traceback" not in result.output and not out.exists()


def test_workers_and_scheduler_together_are_refused(tiny_files, tmp_path):
    cfg = str(_config(tiny_files, tmp_path))
    args = ["train", cfg, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "not both" in result.output, result.output
