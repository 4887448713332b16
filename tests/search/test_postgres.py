"""Two workers share one study in a real PostgreSQL server; one is SIGKILLed mid-trial.

The server is Debian's PostgreSQL (``scripts/install_postgresql.sh``), started here with
``initdb`` and ``pg_ctl`` in a temporary folder on a free port and stopped at the end. The
study must end with exactly the requested number of finished trials, and the killed worker's
trial marked failed (by the heartbeat), not left running.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from tests.conftest import free_port
from tests.search.conftest import search_raw

from biozoo.search.study import open_storage

WORKER = Path(__file__).with_name("pg_worker.py")
TRIALS = 5


def _binary(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (trust authentication), its URL."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL's initdb and pg_ctl are missing: scripts/install_postgresql.sh")
    root = Path(tempfile.mkdtemp(prefix="biozoo-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(pg_ctl, "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 180) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the worker ended (status {proc.returncode}) before {path.name}")
        if time.monotonic() > end:
            raise AssertionError(f"no {path.name} after {seconds} s")
        time.sleep(0.1)


def test_a_killed_worker_leaves_a_failed_trial_and_the_other_finishes(
    tiny_files, tmp_path, postgres_url
):
    raw = search_raw(tiny_files, trials=TRIALS, pruner="none", heartbeat=1)
    config = tmp_path / "search.yaml"
    config.write_text(yaml.safe_dump(raw))
    marks = tmp_path / "marks"
    marks.mkdir()

    def worker(role: str) -> subprocess.Popen:
        args = [sys.executable, str(WORKER), str(config), postgres_url, role, str(marks)]
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    doomed, survivor = worker("doomed"), worker("survivor")
    try:
        _wait_for(marks / "doomed-started", doomed)
        _wait_for(marks / "survivor-scored", survivor)
        os.kill(doomed.pid, signal.SIGKILL)  # mid-trial: its first trial is running
        assert doomed.wait(timeout=30) == -signal.SIGKILL
        _, err = survivor.communicate(timeout=240)
        assert survivor.returncode == 0, err.decode()[-2000:]
    finally:
        for proc in (doomed, survivor):
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    study = optuna.load_study(study_name="tiny-r0-f0", storage=open_storage(postgres_url))
    states = Counter(t.state.name for t in study.trials)
    assert states == {"COMPLETE": TRIALS, "FAIL": 1}
    (failed,) = [t for t in study.trials if t.state.name == "FAIL"]
    assert failed.number == 0  # the doomed worker's trial, started first
