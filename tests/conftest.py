"""Shared fixtures: a tiny simulated three-modality cohort written to disk, and its config."""

from __future__ import annotations

import socket
import zipfile
from pathlib import Path

import pytest
import yaml

from biozoo.data.sources.simulate import simulate_cohort, write_cohort

TINY_TRAINING = {
    "epochs": 6,
    "patience": 3,
    "batch_size": 16,
    "ensemble": 2,
    "lr": 0.01,
    "seed": 0,
    "split": {"kind": "kfold", "folds": 3},
}


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> dict[str, Path]:
    """clinical / rna / meth tables and labels.csv for 60 simulated patients."""
    sim = simulate_cohort(
        n_samples=60,
        n_features={"clinical": 4, "rna": 30, "meth": 40},
        n_informative=6,
        effect_size=2.0,
        seed=1,
    )
    return write_cohort(sim, tmp_path_factory.mktemp("tiny"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def search_refused(tmp_path: Path, args: list[str]) -> str:
    """Run ``biozoo search ARGS --out tmp_path/runs``, which must be refused: exit 2, no
    traceback, nothing new under ``tmp_path``. Returns the output on one line."""
    from typer.testing import CliRunner

    from biozoo.cli import app

    before = sorted(tmp_path.rglob("*"))
    result = CliRunner().invoke(app, ["search", *args, "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert sorted(tmp_path.rglob("*")) == before, "something was left behind"
    return " ".join(result.output.split())


def skops_arrays(path: Path) -> list[bytes]:
    """The arrays inside a skops file, in a fixed order: skops names its array files by
    object id, so two writes of the same fitted model differ as bytes but not in these."""
    with zipfile.ZipFile(path) as z:
        return sorted(z.read(n) for n in z.namelist() if n.endswith(".npy"))


def tiny_raw(files: dict[str, Path], **sections: object) -> dict:
    raw = {
        "name": "tiny",
        "data": {
            "modalities": {
                name: {"path": str(files[name])} for name in ("clinical", "rna", "meth")
            },
            "target": {"path": str(files["labels"]), "column": "label", "task": "binary"},
        },
        "models": {
            "multimodule": {"encoders": {"rna": {"name": "mlp", "hidden": [8], "out_dim": 4}}},
            "late": {"fusion": {"name": "late"}},
        },
        "training": dict(TINY_TRAINING),
        "baselines": ["linear"],
    }
    raw.update(sections)
    return raw


@pytest.fixture
def tiny_config(tiny_files, tmp_path) -> Path:
    """A run config over the tiny cohort, written to a YAML file."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_raw(tiny_files)))
    return path
