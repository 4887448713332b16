"""What the terminal shows: progress lines for logs, -v filtering, and error text as written."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import yaml
from tests.conftest import tiny_raw
from tests.train.test_experiment import cohort, config
from typer.testing import CliRunner

from biozoo.cli import app
from biozoo.cli.logs import configure_logging
from biozoo.cli.progress import PlainProgress, RunProgress, clock_text
from biozoo.errors import BiozooError
from biozoo.train.experiment import run_experiment
from biozoo.train.progress import EpochListener

runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_writes_a_line_at_most_every_n_seconds():
    clock, lines = Clock(), []
    p = PlainProgress(4, lines.append, every=30, clock=clock, wall=lambda: "12:00:00")
    p("h0: linear")  # the first fit is always shown
    clock.now = 10
    p("h0: mlp")  # too soon
    clock.now = 20
    p.epoch(5, 10, 0.52)  # too soon
    clock.now = 45
    p.epoch(6, 10, 0.5123)
    assert lines == [
        "12:00:00 fit 1/4 h0: linear; 0:00:00 so far, about ? left",
        # 1 fit done and 6 of 10 epochs of the second: 40% in 45 s, so 67.5 s left
        "12:00:00 fit 2/4 h0: mlp; epoch 6/10, val loss 0.5123; 0:00:45 so far, "
        "about 0:01:08 left",
    ]


def test_run_progress_counts_fits_and_is_an_epoch_listener():
    p = RunProgress(2)
    assert isinstance(p, EpochListener)
    assert p.fraction == 0
    p("a")
    p.epoch(1, 4, 1.0)
    assert p.fraction == pytest.approx(1 / 8)
    p("b")
    assert (p.done, p.fraction, p.status()) == (1, 0.5, "")
    p("attributions")  # a closing step after the last fit
    assert (p.done, p.fraction) == (2, 1.0)
    assert clock_text(3723.4) == "1:02:03"


def test_time_left_comes_from_each_methods_time_per_fit_once_known():
    clock = Clock()
    p = RunProgress(6, per_split=2, clock=clock)  # 3 splits x (a baseline, a deep model)
    p("h0: linear")
    clock.now = 1
    p("h0: mlp")
    p.epoch(1, 300, 0.7)  # before every method is timed: from the part done
    assert p.remaining() == pytest.approx(1 * (1 - p.fraction) / p.fraction)
    clock.now = 11
    p("h1: linear")  # the baseline took 1 s, the deep model 10 s
    # this baseline fit (1 s), then h1's deep model (10), h2's baseline (1) and deep model (10)
    assert p.remaining() == 22
    clock.now = 11.5
    assert p.remaining() == 21.5
    clock.now = 40
    p("h1: mlp")
    p("h2: linear")
    p("h2: mlp")
    p("attributions")
    assert p.remaining() == 0


class Recorder(RunProgress):
    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.heard: list[tuple[str, int, int, float]] = []

    def epoch(self, epoch: int, epochs: int, val_loss: float) -> None:
        self.heard.append((self.label, epoch, epochs, val_loss))
        super().epoch(epoch, epochs, val_loss)


def test_epoch_progress_reports_every_epoch_and_changes_no_result():
    cfg, data = config(), cohort()
    quiet = run_experiment(cfg, data)
    heard = Recorder(3 * 2)
    watched = run_experiment(cfg, data, progress=heard)
    assert quiet.metrics == watched.metrics
    for a, b in zip(quiet.predictions, watched.predictions, strict=True):
        assert a.equals(b)
    # one report per epoch run, per split, with the epoch budget and the mean validation loss
    epochs = sum(t["epochs_run"] for t in watched.training["multimodule"])
    assert len(heard.heard) == epochs
    assert {h[0] for h in heard.heard} == {f"{s.name}: multimodule" for s in watched.splits}
    assert all(h[2] == 4 and np.isfinite(h[3]) for h in heard.heard)
    first = watched.models[0].history
    mean_val = first.groupby("epoch")["val_loss"].mean().to_numpy()
    assert [h[3] for h in heard.heard[: len(mean_val)]] == pytest.approx(mean_val)


def test_train_without_a_terminal_writes_plain_progress_lines(tiny_files, tmp_path):
    raw = tiny_raw(tiny_files, output={"latents": False, "report": False})
    raw["models"] = {"mlp": {}}
    raw["training"] |= {"epochs": 2, "split": {"kind": "kfold", "folds": 2}}
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(raw))
    res = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    # CliRunner's streams are no terminal: no bar redraws, a time-stamped plain line instead
    assert re.search(r"^\d\d:\d\d:\d\d fit 1/4 r0-f0: logistic.*so far", res.output, re.M)
    assert "\r" not in res.output and "━" not in res.output


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    own = logging.getLogger("biozoo").level
    yield
    root.handlers[:], root.level = handlers, level
    logging.getLogger("biozoo").setLevel(own)
    for name in ("numba.core", "matplotlib.font_manager"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_biozoo_debug_lines_and_no_other_librarys(verbose, root_logging, capsys):
    from rich.console import Console

    configure_logging(Console(stderr=True, width=200), verbose=verbose)
    logging.getLogger("numba.core").setLevel(logging.DEBUG)  # as noisy libraries do
    logging.getLogger("numba.core").debug("numba debug line")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.DEBUG)
    logging.getLogger("matplotlib.font_manager").info("matplotlib info line")
    logging.getLogger("lightning.pytorch").warning("lightning warning line")
    logging.getLogger("biozoo.train.plan").debug("biozoo debug line")
    err = capsys.readouterr().err
    assert "numba debug line" not in err and "matplotlib info line" not in err
    assert "lightning warning line" in err
    assert ("biozoo debug line" in err) is verbose


def test_error_messages_keep_their_square_brackets(monkeypatch, tmp_path):
    import biozoo.api

    def fail(run):
        raise BiozooError("token [UNK] at positions [1, 2] of [bold]x[/bold] is unknown.")

    monkeypatch.setattr(biozoo.api, "report", fail)
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2
    assert "token [UNK] at positions [1, 2] of [bold]x[/bold] is unknown." in res.output
