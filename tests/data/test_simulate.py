"""Tests of the multi-omics simulator and of writing a simulated cohort to files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biozoo.data.sources import simulate
from biozoo.data.sources.simulate import simulate_cohort, write_cohort
from biozoo.data.table.read import read_labels, read_table

SMALL = {"clinical": 4, "rna": 30, "meth": 40}


def test_default_shapes_names_and_ranges():
    sim = simulate_cohort()
    assert {k: v.shape for k, v in sim.tables.items()} == {
        "clinical": (200, 8),
        "rna": (200, 500),
        "meth": (200, 1000),
    }
    clin, rna, meth = sim.tables["clinical"], sim.tables["rna"], sim.tables["meth"]
    assert list(clin.columns[:3]) == ["age", "sex", "bmi"]
    assert rna.columns[0] == "GENE00001" and meth.columns[-1] == "cg00001000"
    assert clin.index[0] == "S0001" and clin.index.name == "sample_id"
    for t in sim.tables.values():
        assert (t.dtypes == np.float32).all() and not t.isna().any().any()
    counts = rna.to_numpy()
    assert counts.min() >= 0 and (counts == np.round(counts)).all()
    betas = meth.to_numpy()
    assert betas.min() > 0 and betas.max() < 1
    assert set(np.unique(clin["sex"])) == {0.0, 1.0}
    assert clin["age"].min() >= 18 and clin["age"].max() <= 90


def test_deterministic_given_seed():
    a, b = simulate_cohort(50, SMALL, seed=3), simulate_cohort(50, SMALL, seed=3)
    c = simulate_cohort(50, SMALL, seed=4)
    for name in SMALL:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
        assert not a.tables[name].equals(c.tables[name])
    assert a.informative == b.informative and (a.target == b.target).all()


def test_class_balance():
    sim = simulate_cohort(50, SMALL, positive_fraction=0.3)
    assert sim.target.sum() == 15 and sim.target.dtype == np.int64
    assert (
        set(sim.target.unique()) == {0, 1} and (sim.target.index == sim.tables["rna"].index).all()
    )


def test_informative_features_are_spread_and_shift_with_the_class():
    sim = simulate_cohort(400, SMALL, n_informative=7, effect_size=2.0, seed=1)
    assert {k: len(v) for k, v in sim.informative.items()} == {"clinical": 3, "rna": 2, "meth": 2}
    y = sim.target.to_numpy()
    meth = sim.tables["meth"]
    logit = np.log(meth / (1 - meth))
    gap = (logit[y == 1].mean() - logit[y == 0].mean()).abs()
    informative = sim.informative["meth"]
    assert gap[informative].min() > 1.0
    assert gap.drop(columns=informative, index=informative).max() < 0.5
    rna = np.log1p(sim.tables["rna"])
    rna_gap = (rna[y == 1].mean() - rna[y == 0].mean()).abs()
    assert rna_gap[sim.informative["rna"]].min() > 3 * rna_gap.drop(sim.informative["rna"]).median()


def test_missing_values_fraction():
    sim = simulate_cohort(100, SMALL, missing_values=0.2)
    for table in sim.tables.values():
        assert abs(table.isna().to_numpy().mean() - 0.2) < 0.05


def test_missing_modality_drops_rows():
    sim = simulate_cohort(100, SMALL, missing_modality=0.25)
    assert len(sim.tables["clinical"]) == 100
    assert len(sim.tables["rna"]) == 75 and len(sim.tables["meth"]) == 75
    assert not sim.tables["rna"].index.equals(sim.tables["meth"].index)
    assert sim.tables["rna"].index.isin(sim.target.index).all()


def test_chunked_generation(monkeypatch):
    monkeypatch.setattr(simulate, "_CHUNK", 7)
    sim = simulate_cohort(20, {"rna": 30, "meth": 30}, missing_values=0.1)
    betas = sim.tables["meth"].to_numpy()
    assert np.nanmin(betas) > 0 and np.nanmax(betas) < 1
    assert np.isnan(betas[:, -3:]).any()  # the last, partial chunk got holes too


def test_two_class_sizes_are_the_binary_cohort():
    binary = simulate_cohort(50, SMALL, positive_fraction=0.3, missing_values=0.1, seed=2)
    sized = simulate_cohort(n_features=SMALL, class_sizes=[35, 15], missing_values=0.1, seed=2)
    for name in SMALL:
        pd.testing.assert_frame_equal(binary.tables[name], sized.tables[name])
    pd.testing.assert_series_equal(binary.target, sized.target)
    assert binary.informative == sized.informative and sized.classes == ["0", "1"]


def test_multiclass_shifts_are_ordered_by_class():
    sim = simulate_cohort(
        n_features=SMALL,
        class_sizes=[150, 250, 200],
        n_informative={"clinical": 0, "rna": 0, "meth": 8},
        effect_size={"meth": 3.0},
        seed=5,
    )
    y = sim.target.to_numpy()
    assert np.bincount(y).tolist() == [150, 250, 200] and sim.classes == ["0", "1", "2"]
    assert {k: len(v) for k, v in sim.informative.items()} == {"clinical": 0, "rna": 0, "meth": 8}
    meth = sim.tables["meth"]
    logit = np.log(meth / (1 - meth))
    means = np.stack([logit[y == c].mean() for c in range(3)])  # (3, features)
    informative = meth.columns.isin(sim.informative["meth"])
    steps = np.diff(means[:, informative], axis=0) * np.sign(means[2] - means[0])[informative]
    assert (steps > 0.4).all()  # each informative CpG moves the same way at each stage
    assert np.abs(means[2] - means[0])[~informative].max() < 0.5


def test_one_modality_is_what_the_whole_cohort_holds():
    whole = simulate_cohort(40, SMALL, missing_modality=0.2, seed=6)
    meth = simulate_cohort(40, SMALL, missing_modality=0.2, seed=6, only=("meth",))
    assert list(meth.tables) == ["meth"] and meth.informative == {"meth": whole.informative["meth"]}
    pd.testing.assert_frame_equal(meth.tables["meth"], whole.tables["meth"])
    pd.testing.assert_series_equal(meth.target, whole.target)


def test_liver_preset_has_the_lecture_classes_at_any_size():
    from biozoo.data.sources.liver import LIVER_CLASSES, liver_cohort

    sim = liver_cohort(n_features={"clinical": 8, "rna": 300, "meth": 400})
    assert sim.classes == ["no_disease", "steatosis", "NASH"]
    assert np.bincount(sim.target).tolist() == list(LIVER_CLASSES.values()) == [80, 137, 83]
    assert {k: len(v) for k, v in sim.informative.items()} == {
        "clinical": 4,
        "rna": 200,
        "meth": 260,
    }
    assert all(t.dtypes.eq(np.float32).all() for t in sim.tables.values())


def test_bad_arguments(error_naming):
    error_naming(lambda: simulate_cohort(n_features={"atac": 5}), "'atac'", "clinical")
    error_naming(lambda: simulate_cohort(positive_fraction=1.0), "positive_fraction")
    error_naming(lambda: simulate_cohort(missing_values=1.5), "missing_values")
    error_naming(lambda: simulate_cohort(n_features={"rna": 3}, n_informative=5), "n_informative")
    error_naming(lambda: simulate_cohort(class_sizes=[10]), "class_sizes", "two classes")
    error_naming(lambda: simulate_cohort(12, class_sizes=[5, 5]), "n_samples=12", "10 samples")
    error_naming(
        lambda: simulate_cohort(n_features=SMALL, n_informative={"rna": 31}), "'rna'", "30"
    )
    error_naming(lambda: simulate_cohort(n_features=SMALL, effect_size={"atac": 1}), "'atac'")


def test_write_cohort_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(simulate, "PARQUET_ABOVE", 35)  # meth (40 features) goes to parquet
    sim = simulate_cohort(12, SMALL, missing_values=0.1, missing_modality=0.25)
    paths = write_cohort(sim, tmp_path / "out")
    assert {k: p.name for k, p in paths.items()} == {
        "clinical": "clinical.csv",
        "rna": "rna.csv",
        "meth": "meth.parquet",
        "labels": "labels.csv",
    }
    for name in ("clinical", "rna"):
        pd.testing.assert_frame_equal(read_table(paths[name]), sim.tables[name])
    pd.testing.assert_frame_equal(read_table(paths["meth"], transpose=True), sim.tables["meth"])
    labels = read_labels(paths["labels"], "label")
    assert labels.to_dict() == sim.target.to_dict()
    assert pd.read_csv(paths["labels"]).columns.tolist() == ["sample_id", "label"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype(dtype):
    sim = simulate_cohort(10, {"meth": 5, "rna": 5}, n_informative=2, dtype=dtype)
    assert all((t.dtypes == dtype).all() for t in sim.tables.values())
