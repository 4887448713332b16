"""The one atomic writer: nothing half-written under the final name, nothing left behind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from biozoo._atomic import atomic_dir, atomic_file, json_default


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_file_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and _hidden(tmp_path) == []
    with atomic_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new" and _hidden(tmp_path) == []


def test_atomic_dir_new_replaced_and_failed(tmp_path):
    final = tmp_path / "sub" / "model"
    with atomic_dir(final) as tmp:
        (tmp / "a.csv").write_text("1")
        assert not final.exists()
    assert (final / "a.csv").read_text() == "1"
    with pytest.raises(RuntimeError), atomic_dir(final, replace=True) as tmp:
        (tmp / "b.csv").write_text("2")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in final.iterdir()) == ["a.csv"]
    with atomic_dir(final, replace=True) as tmp:
        (tmp / "b.csv").write_text("2")
    assert sorted(p.name for p in final.iterdir()) == ["b.csv"]
    assert _hidden(final.parent) == []
    with pytest.raises(OSError), atomic_dir(final) as tmp:  # no replace: an existing folder
        (tmp / "c.csv").write_text("3")
    assert _hidden(final.parent) == []


def test_a_failed_atomic_dir_removes_the_parents_it_made(tmp_path):
    (tmp_path / "kept").mkdir()
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "kept" / "a" / "b" / "run") as tmp:
        (tmp / "x.csv").write_text("1")
        raise RuntimeError("interrupted")
    assert list((tmp_path / "kept").iterdir()) == []  # a and b made by the call: gone
    (tmp_path / "kept" / "a").mkdir()
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "kept" / "a" / "b" / "run"):
        (tmp_path / "kept" / "a" / "other.csv").write_text("someone else's")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in (tmp_path / "kept" / "a").iterdir()) == ["other.csv"]


def test_atomic_dir_names_the_folder_when_done(tmp_path):
    names = iter(["first", "second"])
    with atomic_dir(lambda: tmp_path / next(names)):
        pass
    assert [p.name for p in tmp_path.iterdir()] == ["second"]


def test_json_default_handles_numpy(tmp_path):
    text = json.dumps(
        {"a": np.arange(2), "b": np.float32(0.5), "p": tmp_path}, default=json_default
    )
    assert json.loads(text) == {"a": [0, 1], "b": 0.5, "p": str(tmp_path)}
    with pytest.raises(TypeError):
        json.dumps({"x": object()}, default=json_default)
