"""``biozoo events CONFIG``: the run folder, its report and saved model, the count of unknown
codes in test patients, and bad input as one sentence with no folder left behind."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from biozoo.cli import app
from biozoo.data.events import EventsConfig, History
from biozoo.data.sources.life_events import simulate_life_events
from biozoo.data.splits import make_splits
from biozoo.errors import BiozooError
from biozoo.pipelines.life_events import (
    LifeEventsConfig,
    load_life_events_model,
    rates_after,
    run_life_events,
    write_life_events_run,
)

runner = CliRunner()


def _config(tmp_path, events: pd.DataFrame | str) -> str:
    path = tmp_path / "events.csv"
    if isinstance(events, str):
        path.write_text(events)
    else:
        events.to_csv(path, index=False)
    cfg = {
        "name": "life",
        "data": {"path": "events.csv", "events": {"covariates": ["sex"], "max_len": 32}},
        "training": {"epochs": 1, "test_size": 0.25},
        "evaluation": {"incidence_ages": [50, 70]},
    }
    (tmp_path / "life.yaml").write_text(yaml.safe_dump(cfg))
    return str(tmp_path / "life.yaml")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One tiny run; a code only one test patient has (unknown to the vocabulary)."""
    tmp = tmp_path_factory.mktemp("events")
    events = simulate_life_events(80, seed=0).events
    patients = pd.unique(events.patient)
    test = make_splits(np.zeros(len(patients)), kind="holdout", test_size=0.25, seed=0)[0].test
    rare = patients[test[0]]
    row = events.index[events.patient == rare][1]  # an event after the first
    events.loc[row, "code"] = "Z99"
    result = runner.invoke(app, ["events", _config(tmp, events), "--out", str(tmp / "runs")])
    return tmp, result


def test_the_command_writes_a_run_folder_and_prints_a_summary(finished):
    tmp, result = finished
    assert result.exit_code == 0, result.output
    (run,) = (tmp / "runs").iterdir()
    assert run.name.startswith("life-")
    names = {p.name for p in run.iterdir()}
    assert {"metrics.json", "metrics.csv", "auc.csv", "calibration.csv", "incidence.csv"} <= names
    assert {"config.yaml", "versions.json", "splits.csv", "report.html", "models"} <= names
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics.method) == [
        "delphi",
        "age_sex_incidence",
        "next_code_logistic",
        "aalen_johansen",
    ]
    for method in metrics.method:
        assert method in result.output
    assert f"run folder: {run}" in result.output.replace("\n", "")
    page = (run / "report.html").read_text()
    for section in ("metrics", "auc", "calibration", "incidence", "training"):
        assert f'id="{section}"' in page
    assert "<script" not in page and page.count("<svg") >= 3


def test_an_unknown_code_in_a_test_patient_is_counted(finished):
    tmp, result = finished
    (run,) = (tmp / "runs").iterdir()
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["test_unknown_events"] == 1 and "Z99" not in summary["vocab"]
    assert "read as [UNK]): 1" in result.output


def test_the_saved_model_gives_the_trained_rates(tmp_path):
    path = tmp_path / "events.csv"
    simulate_life_events(60, seed=0).events.to_csv(path, index=False)
    cfg = LifeEventsConfig(
        data=EventsConfig(path=path, events={"covariates": ["sex"]}),
        training={"epochs": 1},
        evaluation={"incidence_ages": [60.0]},
    )
    res = run_life_events(cfg)
    run = write_life_events_run(res, cfg, tmp_path / "runs")
    model, part = load_life_events_model(run)
    assert part.token_names() == res.part.token_names()
    h = History(np.array([45.0, 52.0]), np.array(["ENTRY", "E11"], object), np.array([1.0]))
    torch.manual_seed(1)  # a freshly initialised model would differ; the saved weights do not
    pd.testing.assert_frame_equal(
        rates_after(res.model, res.part, [h], no_event_every=5.0),
        rates_after(model, part, [h], no_event_every=5.0),
    )
    with pytest.raises(BiozooError, match="holds no saved life-event model"):
        load_life_events_model(tmp_path)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "patient,age,code,sex\np1,40,ENTRY,0\np1,50,E11,0\np1,45,I10,0\n",
            ["line 4", "before the previous", "'p1'"],
        ),
        (
            "patient,age,code,sex\np1,40,ENTRY,0\np1,50,E11,0\np2,41,,1\n",
            ["patient 'p2'", "line 4", "no events"],
        ),
    ],
)
def test_bad_input_is_one_sentence_naming_the_file_and_line(tmp_path, text, parts):
    out = tmp_path / "runs"
    result = runner.invoke(app, ["events", _config(tmp_path, text), "--out", str(out)])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "Traceback" not in message and message.count("error:") == 1
    assert "events.csv" in message
    for part in parts:
        assert part in message
    assert not out.exists()


def test_a_config_error_names_the_key(tmp_path):
    path = tmp_path / "life.yaml"
    path.write_text("data: {dataset: life_events}\nevaluation: {incidence_age: [50]}\n")
    result = runner.invoke(app, ["events", str(path), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert "evaluation.incidence_age" in result.output and "unknown key" in result.output
    assert not (tmp_path / "runs").exists()
