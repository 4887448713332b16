"""Resume: a run killed (SIGKILL) or interrupted (Ctrl-C) after some units finishes with
``biozoo train --resume RUN``, training only the missing units, to the same results as an
uninterrupted run; bad ``--resume`` input is one sentence and exit 2."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tests.conftest import skops_arrays, tiny_raw
from typer.testing import CliRunner

from biozoo.cli import app
from biozoo.train.runfolder import clean_stale, is_resumable

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[2] / "src")
N_UNITS = 9  # 3 splits x (baselines + 2 models)
SAME = ("leaderboard.csv", "predictions.csv", "splits.csv", "config.yaml")


def _config(files: dict[str, Path], tmp: Path, **training: object) -> Path:
    raw = copy.deepcopy(tiny_raw(files))
    raw["training"].update({"threads": 1, **training})
    raw["output"] = {"report": False}
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _units(out: Path) -> list[Path]:
    """The finished units (not a unit's own hidden temporary, still being written)."""
    found = out.glob(".*.partial/units/*/unit.json")
    return [p for p in found if not p.parent.name.startswith(".")]


def _train(cfg: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    code = "from biozoo.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "train", str(cfg), "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop_after_first_unit(proc: subprocess.Popen, out: Path, sig: int) -> str:
    deadline = time.monotonic() + 120
    while not _units(out):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no unit was recorded: {proc.communicate()[1][-2000:]}")
        time.sleep(0.02)
    os.kill(proc.pid, sig)
    return proc.communicate(timeout=60)[1]


def _same_results(a: Path, b: Path) -> None:
    for name in SAME:
        assert (a / name).read_text() == (b / name).read_text(), name
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (a, b))
    ma.pop("seconds"), mb.pop("seconds")
    assert ma == mb
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        if rel.suffix in (".safetensors", ".csv"):
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
        elif rel.suffix == ".skops":  # the baselines a resumed run read back from its units
            assert skops_arrays(a / rel) == skops_arrays(b / rel), rel


@pytest.fixture(scope="module")
def uninterrupted(tiny_files, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("whole")
    result = runner.invoke(app, ["train", str(_config(tiny_files, tmp)), "--out", str(tmp)])
    assert result.exit_code == 0, result.output
    (run,) = (p for p in tmp.iterdir() if p.is_dir())
    return run


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_stopped_run_resumes_to_the_uninterrupted_result(
    sig, uninterrupted, tiny_files, tmp_path, monkeypatch
):
    cfg, out = _config(tiny_files, tmp_path), tmp_path / "runs"
    proc = _train(cfg, out)
    err = _stop_after_first_unit(proc, out, sig)
    (partial,) = out.glob(".*.partial")
    recorded = len(_units(out))
    assert 1 <= recorded < N_UNITS and is_resumable(partial)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
        assert "SIGINT" in err and "--resume" in err and partial.name in err.replace("\n", "")
    assert [p.name for p in out.iterdir()] == [partial.name]  # nothing under a final name

    import biozoo.train.experiment as experiment

    trained = []
    run_unit = experiment.run_unit
    monkeypatch.setattr(
        experiment, "run_unit", lambda *a, **k: trained.append(a[3]) or run_unit(*a, **k)
    )
    result = runner.invoke(app, ["train", str(cfg), "--resume", str(partial)])
    assert result.exit_code == 0, result.output
    assert len(trained) == N_UNITS - recorded  # only the missing units
    (run,) = out.iterdir()
    assert not run.name.startswith(".") and not (run / "units").exists()
    _same_results(uninterrupted, run)


def test_resume_without_the_config_uses_the_runs_own(uninterrupted, tiny_files, tmp_path):
    cfg, out = _config(tiny_files, tmp_path), tmp_path / "runs"
    _stop_after_first_unit(_train(cfg, out), out, signal.SIGKILL)
    (partial,) = out.glob(".*.partial")
    result = runner.invoke(app, ["train", "--resume", str(partial)])
    assert result.exit_code == 0, result.output
    (run,) = out.iterdir()
    _same_results(uninterrupted, run)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _fake_partial(out: Path, config: dict, *, units: bool = True) -> Path:
    """An unfinished run's folder as a killed process leaves it."""
    host = os.uname().nodename.split(".")[0]
    partial = out / f".tiny-20260101-000000-{host}-{_dead_pid()}-abc.partial"
    (partial / "units" / "s0-baselines").mkdir(parents=True)
    if units:
        (partial / "units" / "s0-baselines" / "unit.json").write_text("{}")
    else:  # a unit's own temporary, killed before its rename: not a finished unit
        (partial / "units" / ".s0-m0-x.partial").mkdir()
        (partial / "units" / ".s0-m0-x.partial" / "unit.json").write_text("{}")
    (partial / "config.yaml").write_text(yaml.safe_dump(config))
    return partial


def _resolved(cfg: Path) -> dict:
    from biozoo.api import load_config
    from biozoo.train.resume import resolved_dict

    return resolved_dict(load_config(cfg))


def test_resume_on_a_run_of_another_config_names_the_keys(tiny_files, tmp_path):
    cfg = _config(tiny_files, tmp_path)
    other = _resolved(cfg)
    other["training"]["epochs"] = 99
    other["baselines"] = []
    partial = _fake_partial(tmp_path / "runs", other)
    result = runner.invoke(app, ["train", str(cfg), "--resume", str(partial)])
    assert result.exit_code == 2, result.output
    text = result.output.replace("\n", "")
    assert "different config" in text and "baselines, training.epochs differ" in text
    assert "Traceback" not in result.output
    assert partial.is_dir() and len(list((tmp_path / "runs").iterdir())) == 1  # left as it was


@pytest.mark.parametrize("what", ["missing", "plain folder", "finished run", "no config"])
def test_resume_on_a_folder_that_is_not_an_unfinished_run_is_one_sentence(
    what, tiny_files, tmp_path
):
    cfg = _config(tiny_files, tmp_path)
    target = tmp_path / "target"
    if what == "plain folder":
        target.mkdir()
    elif what == "finished run":
        target.mkdir()
        (target / "config.yaml").write_text("name: tiny\n")
        (target / "metrics.json").write_text("{}")
    elif what == "no config":
        target = _fake_partial(tmp_path / "runs", {})
        (target / "config.yaml").unlink()
    result = runner.invoke(app, ["train", str(cfg), "--resume", str(target)])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines[0].startswith("error:") and "--resume" in lines[0], result.output


def test_stale_partials_are_kept_when_resumable_and_removed_when_not(tmp_path, caplog):
    out = tmp_path / "runs"
    keep = _fake_partial(out, {"name": "tiny"})
    empty = _fake_partial(out, {"name": "tiny"}, units=False)
    with caplog.at_level("WARNING"):
        assert clean_stale(out) == [empty]
    assert keep.is_dir() and not empty.exists()
    assert f"--resume {keep}" in caplog.text
