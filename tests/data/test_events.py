"""The ``events`` kind: reading a long file, bad input in one sentence, the vocabulary and
[UNK] counting, the simulated dataset and its known hazards."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biozoo.data.cohort import RecordModality
from biozoo.data.events import UNK, EventsConfig, EventsOptions, EventTokens, read_modality
from biozoo.data.events.read import read_events
from biozoo.data.sources.life_events import (
    CODES,
    EFFECTS,
    END,
    TERMINAL,
    simulate_life_events,
    true_log_rates,
)

GOOD = """patient,age,code,sex
p1,40.5,E11,1
p1,52.0,I21,1
p2,35,,0
p2,61.25,I10,0
p2,70,DEATH,0
"""


def _write(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _mod(records, name="ev") -> RecordModality:
    records = np.array(records, dtype=object)
    return RecordModality(name, "events", records, np.ones(len(records), bool), "events.csv")


def test_reads_one_history_per_patient_in_file_order(tmp_path):
    hist = read_events(_write(tmp_path, GOOD), options=EventsOptions(covariates=["sex"]))
    assert list(hist.index) == ["p1", "p2"]
    np.testing.assert_array_equal(hist["p1"].ages, [40.5, 52.0])
    assert list(hist["p2"].codes) == ["I10", "DEATH"]  # the empty-code row holds covariates
    assert hist["p2"].covariates.tolist() == [0.0]


def test_a_config_reads_the_file_or_the_bundled_dataset(tmp_path):
    cfg = EventsConfig(path=_write(tmp_path, GOOD), events={"covariates": ["sex"]})
    assert len(read_modality("ev", cfg).data) == 2
    bundled = read_modality("ev", EventsConfig(dataset="life_events"))
    assert len(bundled.data) == 2000 and bundled.source == "dataset life_events"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("patient,when,code\np1,40,E11\n", ["age column 'age' is not in", "events.csv"]),
        ("patient,age,code\np1,forty,E11\n", ["'forty'", "line 2", "not a number"]),
        ("patient,age,code\np1,40,E11\np1,-3,I10\n", ["-3", "line 3", "negative"]),
        ("patient,age,code\np1,50,E11\np1,45,I10\n", ["line 3", "before the previous", "'p1'"]),
        ("patient,age,code\np1,40,E11\np2,41,\n", ["patient 'p2'", "line 3", "no events"]),
        ("patient,age,code\np1,,E11\n", ["age is missing", "line 2"]),
        ("patient,age,code,sex\np1,40,E11,male\n", ["covariate 'sex'", "'male'", "line 2"]),
        ("patient,age,code\n", ["has no rows"]),
    ],
)
def test_bad_input_is_one_sentence_naming_the_file(tmp_path, error_naming, text, parts):
    path = _write(tmp_path, text)
    options = EventsOptions(covariates=["sex"] if "sex" in text else [])
    error_naming(lambda: read_events(path, options=options), path, *parts)


def test_a_missing_file_is_named(tmp_path, error_naming):
    path = tmp_path / "absent.csv"
    error_naming(lambda: read_events(path), path, "does not exist")


def test_the_vocabulary_comes_from_training_patients_and_unknown_codes_are_counted(tmp_path):
    hist = read_events(_write(tmp_path, GOOD), options=EventsOptions(covariates=["sex"]))
    part = EventTokens(covariates=["sex"]).fit(_mod([hist["p1"]]))
    assert part.token_names() == ["[PAD]", "[UNK]", "E11", "I21"]
    x = part.transform(_mod(list(hist)))
    assert x["codes"][1, :2].tolist() == [UNK, UNK]  # p2's I10 and DEATH were not in training
    assert part.unknown == 2 and part.report["unknown_events"] == 2
    assert x["ages"][1, :2].tolist() == [61.25, 70.0]


def test_codes_of_too_few_training_patients_read_as_unknown():
    from biozoo.data.events import History

    h = [
        History(np.array([1.0, 2.0]), np.array(c, dtype=object), np.zeros(0))
        for c in (["A", "B"], ["A", "C"], ["A", "B"])
    ]
    part = EventTokens(min_patients=2).fit(_mod(h))
    assert part.token_names() == ["[PAD]", "[UNK]", "A", "B"]
    part.transform(_mod(h))
    assert part.unknown == 1


def test_truncation_keeps_the_latest_events():
    from biozoo.data.events import History

    h = History(np.arange(5.0), np.array(list("ABCDE"), dtype=object), np.zeros(0))
    part = EventTokens(max_len=3).fit(_mod([h]))
    x = part.transform(_mod([h]))
    assert x["ages"][0].tolist() == [2.0, 3.0, 4.0]


def test_the_simulator_is_seeded_and_ends_every_history():
    a, b = simulate_life_events(50, seed=3), simulate_life_events(50, seed=3)
    assert a.events.equals(b.events)
    last = a.events.groupby("patient").code.last()
    assert set(last) <= {END, TERMINAL}
    assert (a.events.groupby("patient").age.diff().dropna() >= 0).all()


def test_true_rates_carry_the_planted_effects():
    base = true_log_rates(60.0, 1, ["ENTRY", "F32"])
    after = true_log_rates(60.0, 1, ["ENTRY", "E11"])
    i21 = CODES.index("I21")
    assert after[i21] - base[i21] == pytest.approx(EFFECTS[("E11", "I21")])
    assert math.isinf(after[CODES.index("E11")])  # a disease occurs once
    assert math.isinf(true_log_rates(60.0, 0, [])[CODES.index("C61")])


def test_a_history_feeds_a_per_patient_task_and_unknown_codes_are_reported(tmp_path, caplog):
    import biozoo

    sim = simulate_life_events(60, seed=1)
    events = sim.events[sim.events.age < 60]  # the history before 60 ...
    late = sim.events[sim.events.age >= 60].groupby("patient").code.agg(set)
    label = [int("I10" in late.get(p, set())) for p in sim.sex.index]  # ... and what follows
    events.to_csv(tmp_path / "events.csv", index=False)
    target = tmp_path / "y.csv"
    pd.DataFrame({"patient": sim.sex.index, "y": label}).to_csv(target, index=False)
    raw = {
        "name": "history",
        "data": {
            "modalities": {
                "h": {
                    "kind": "events",
                    "path": str(tmp_path / "events.csv"),
                    "events": {"covariates": ["sex"]},
                },
            },
            "target": {"path": str(target), "column": "y", "task": "binary"},
        },
        "models": {"d": {"default_encoder": {"name": "delphi", "d_model": 16, "out_dim": 8}}},
        "training": {"epochs": 2, "ensemble": 2, "split": {"kind": "kfold", "folds": 2}},
        "baselines": ["linear"],
        "output": {"report": False, "latents": False},
    }
    result = biozoo.run(biozoo.parse_config(raw), out_dir=tmp_path / "runs")
    assert len(result.leaderboard) == 2 and "d" in set(result.leaderboard.method)
    new = events.copy()
    new.loc[new.index[:3], "code"] = "Z99"  # a code no training patient had
    new.to_csv(tmp_path / "new.csv", index=False)
    with caplog.at_level("WARNING"):
        preds = biozoo.predict(result.path, {"h": str(tmp_path / "new.csv")})
    assert np.isfinite(preds["p_1"]).all()
    assert any("3 events" in r.message and "[UNK]" in r.message for r in caplog.records)
