"""Faults a run must survive: signals, killed runs, racing runs, permissions, a full disk."""

from __future__ import annotations

import copy
import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tests.conftest import tiny_raw
from typer.testing import CliRunner

from biozoo._atomic import atomic_dir
from biozoo.cli import app
from biozoo.train.runfolder import RunFolder, clean_stale

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _config(
    files: dict[str, Path], tmp: Path, baselines: list[str] | None = None, **training: object
) -> Path:
    raw = copy.deepcopy(tiny_raw(files))
    raw["training"].update(training)
    if baselines is not None:
        raw["baselines"] = baselines
    raw["output"] = {"report": False}
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _everything(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def _start_training(files: dict[str, Path], tmp: Path) -> tuple[subprocess.Popen, Path]:
    """A real ``biozoo train`` on a long tiny run, returned once its partial folder exists.

    It has no baselines, so no unit of it ever finishes: stopped, it has nothing to resume.
    """
    cfg = _config(files, tmp, baselines=[], epochs=100000, patience=100000)
    out = tmp / "runs"
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    code = "from biozoo.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "train", str(cfg), "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(out.glob(".*.partial")):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"training did not start: {proc.communicate()[1][-2000:]}")
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the first fold's training
    return proc, out


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_exits_128_plus_it_and_leaves_no_folder(sig, code, tiny_files, tmp_path):
    proc, out = _start_training(tiny_files, tmp_path)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err[-2000:]
    assert signal.Signals(sig).name in err and "Traceback" not in err, err[-2000:]
    assert _everything(out) == []


def test_a_killed_run_leaves_a_partial_that_the_next_run_reports_and_removes(
    tiny_files, tmp_path, caplog
):
    proc, out = _start_training(tiny_files, tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    partial = list(out.glob(".*.partial"))
    assert len(partial) == 1  # SIGKILL cannot be caught: the hidden folder stays
    alive = out / f".other-{os.uname().nodename.split('.')[0]}-{os.getpid()}-abc.partial"
    alive.mkdir()  # a run still writing (this process): left alone
    with caplog.at_level("WARNING"):
        assert clean_stale(out) == partial
    assert partial[0].name in caplog.text and "killed" in caplog.text
    assert _everything(out) == [alive.name]


def test_the_rename_never_touches_a_folder_another_run_finished_meanwhile(tmp_path):
    final = tmp_path / "run-20260101-000000"
    names = iter([final, final, tmp_path / "run-20260101-000000-2"])
    with atomic_dir(lambda: next(names)) as tmp:
        (tmp / "mine.txt").write_text("mine")
        final.mkdir()  # another run finishes under the same name before our rename
        (final / "theirs.txt").write_text("theirs")
    assert (final / "theirs.txt").read_text() == "theirs"
    assert not (final / "mine.txt").exists()
    assert (tmp_path / "run-20260101-000000-2" / "mine.txt").read_text() == "mine"


def test_two_runs_into_the_same_folder_at_once_get_two_folders(tmp_path):
    with RunFolder(tmp_path, "same") as a, RunFolder(tmp_path, "same") as b:
        a.write_text("who.txt", "a")
        b.write_text("who.txt", "b")
        first, second = a.commit(), b.commit()
    assert first != second
    assert {(first / "who.txt").read_text(), (second / "who.txt").read_text()} == {"a", "b"}


@pytest.mark.parametrize(
    ("umask", "folder", "file"), [(0o077, 0o700, 0o600), (0o022, 0o755, 0o644)]
)
def test_run_folders_and_weights_follow_the_umask(umask, folder, file, tmp_path):
    import torch

    from biozoo.train.saving import save_ensemble

    old = os.umask(umask)
    try:
        with RunFolder(tmp_path, "perm") as run:
            save_ensemble(run.path("models/m/s.safetensors"), {"w": torch.zeros(2)}, {})
            path = run.commit()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == folder
    assert stat.S_IMODE((path / "models/m/s.safetensors").stat().st_mode) == file


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")


def test_a_full_disk_gets_one_sentence_and_no_partial_folder(tiny_files, tmp_path):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "size=48k")
    try:
        result = runner.invoke(app, ["train", str(_config(tiny_files, tmp_path, epochs=1)),
                                     "--out", str(disk / "runs")])  # fmt: skip
        assert result.exit_code == 1, result.output
        assert "no space left" in result.output.lower().replace("\n", " ")
        assert isinstance(result.exception, SystemExit)
        assert _everything(disk / "runs") == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_an_injected_enospc_gets_one_sentence_and_no_partial_folder(
    tiny_files, tmp_path, monkeypatch
):
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x.safetensors"))

    monkeypatch.setattr("biozoo.train.run.save_ensemble", full)
    out = tmp_path / "runs"
    result = runner.invoke(app, ["train", str(_config(tiny_files, tmp_path, epochs=1)),
                                 "--out", str(out)])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "no space left" in result.output.lower() and "x.safetensors" in result.output
    assert _everything(out) == []


def test_a_read_only_out_folder_gets_one_sentence(tiny_files, tmp_path):
    ro = tmp_path / "ro"
    _mount_tmpfs(ro, "ro,size=16k")
    try:
        result = runner.invoke(app, ["train", str(_config(tiny_files, tmp_path, epochs=1)),
                                     "--out", str(ro / "runs")])  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "read-only" in result.output and str(ro / "runs") in result.output.replace("\n", "")
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_a_run_writes_nothing_outside_its_folder(tiny_files, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cfg = _config(tiny_files, tmp_path, epochs=1, ensemble=1)
    before = set(tmp_path.rglob("*"))
    result = runner.invoke(app, ["train", str(cfg), "--out", str(work / "runs")])
    assert result.exit_code == 0, result.output
    (run,) = (work / "runs").iterdir()
    new = set(tmp_path.rglob("*")) - before
    outside = [p for p in new if p not in (work / "runs", run) and run not in p.parents]
    assert outside == []
