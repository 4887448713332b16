"""``biozoo search``: a tiny search from the command line, and its bad input."""

from __future__ import annotations

import pytest
import yaml
from tests.conftest import free_port, search_refused
from tests.search.conftest import search_raw
from typer.testing import CliRunner

from biozoo.cli import app

runner = CliRunner()


def _write(tmp_path, raw) -> str:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_search_command_prints_the_leaderboard(tiny_files, tmp_path):
    raw = search_raw(tiny_files, trials=1)
    raw["training"]["split"] = {"kind": "holdout", "repeats": 1, "test_size": 0.3}
    out = tmp_path / "runs"
    result = runner.invoke(app, ["search", _write(tmp_path, raw), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "searched-mlp" in result.output and "logistic/ridge" in result.output
    (run,) = out.iterdir()
    assert (run / "search" / "best" / "h0.yaml").is_file()
    assert (run / "search" / "study.db").is_file()


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda s: s["space"]["encoders"]["rna"].append({"name": "transfomer"}),
            ["unknown encoder 'transfomer'", "search.space.encoders.rna[1].name"],
        ),
        (
            lambda s: s["space"]["training"].update(epochs={"low": 9, "high": 3}),
            ["search.space.training.epochs", "empty range"],
        ),
    ],
)
def test_a_bad_space_exits_2_leaving_nothing(tiny_files, tmp_path, edit, words):
    raw = search_raw(tiny_files)
    edit(raw["search"])
    message = search_refused(tmp_path, [_write(tmp_path, raw)])
    for w in words:
        assert w in message


def test_an_unreachable_postgresql_names_host_and_port_not_the_password(tiny_files, tmp_path):
    port = free_port()
    url = f"postgresql://alice:s3cret-pw@127.0.0.1:{port}/studies"
    message = search_refused(tmp_path, [_write(tmp_path, search_raw(tiny_files)), "--storage", url])
    assert f"127.0.0.1:{port}" in message and "cannot reach the study storage" in message
    assert "s3cret" not in message


def test_a_storage_that_is_not_a_url_is_refused(tiny_files, tmp_path):
    message = search_refused(
        tmp_path, [_write(tmp_path, search_raw(tiny_files)), "--storage", "db"]
    )
    assert "is not a database URL" in message
