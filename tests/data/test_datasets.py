"""Tests of the bundled datasets: real shapes and class counts, lookups, errors, copies."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from biozoo.data.sources import datasets
from biozoo.data.sources.datasets import (
    dataset_events,
    dataset_table,
    dataset_target,
    list_datasets,
    load_dataset,
)
from biozoo.data.sources.simulate import simulate_cohort


def test_list_datasets():
    infos = {info.name: info for info in list_datasets()}
    assert list(infos) == [
        "gse7390",
        "image_patterns",
        "life_events",
        "liver_cohort",
        "nuclei",
        "orfs",
        "pbmc68k_reduced",
        "simulated",
    ]
    assert infos["gse7390"].tables == ("gex", "clin")
    assert infos["pbmc68k_reduced"].task == "multiclass"
    assert all(info.source and info.description for info in infos.values())


def test_life_events_holds_histories_and_their_labels():
    data = load_dataset("life_events")
    assert data.events is not None and set(data.events.patient) == set(data.target.index)
    died = data.events.groupby("patient").code.agg(lambda c: int("DEATH" in set(c)))
    assert (died.reindex(data.target.index) == data.target).all()
    assert dataset_events("life_events").equals(data.events)


def test_a_dataset_without_events_says_so(error_naming):
    error_naming(lambda: dataset_events("gse7390"), "'gse7390'", "no life events")


def test_gse7390():
    data = load_dataset("gse7390")
    gex, clin = data.tables["gex"], data.tables["clin"]
    assert gex.shape == (198, 76) and clin.shape == (198, 4)
    assert list(clin.columns) == ["age", "er", "grade", "size"]
    assert (gex.dtypes == np.float32).all() and (clin.dtypes == np.float32).all()
    assert gex.index[0] == "GSE7390_001" and gex.index[-1] == "GSE7390_198"
    assert gex.index.name == "sample_id" and (gex.index == data.target.index).all()
    assert data.task == "binary" and data.target_column == "e.tdm"
    assert data.target.value_counts().to_dict() == {0: 147, 1: 51}
    assert clin["er"].value_counts().to_dict() == {1.0: 134, 0.0: 64}
    assert clin["grade"].value_counts().to_dict() == {2.0: 83, 3.0: 83, 1.0: 30}
    assert clin["grade"].isna().sum() == 2  # "unkown" in the source
    assert dataset_target("gse7390", "t.tdm").dtype == np.float64


def test_pbmc68k_reduced():
    if importlib.util.find_spec("scanpy") is None:
        pytest.skip("scanpy (biozoo[data]) is not installed")
    data = load_dataset("pbmc68k_reduced")
    rna = data.tables["rna"]
    assert rna.shape == (700, 765) and rna.dtypes.iloc[0] == np.float32
    values = rna.to_numpy()
    assert values.min() == 0.0 and values.max() < 20  # log-normalised, not scaled
    assert data.target.nunique() == 10 and data.task == "multiclass"
    assert data.target.value_counts()["Dendritic"] == 240
    assert set(data.labels.columns) == {"bulk_labels", "louvain", "phase"}


def test_simulated_is_the_default_simulation():
    data = load_dataset("simulated")
    sim = simulate_cohort(seed=0)
    for name, table in sim.tables.items():
        np.testing.assert_array_equal(data.tables[name].to_numpy(), table.to_numpy())
    assert (data.target == sim.target).all()


def test_copies_protect_the_cache():
    first = dataset_table("gse7390/clin")
    first.iloc[0, 0] = -1.0
    target = load_dataset("gse7390").target
    target.iloc[0] = 99
    assert dataset_table("gse7390/clin").iloc[0, 0] != -1.0
    assert load_dataset("gse7390").target.iloc[0] != 99


def test_unknown_names(error_naming):
    error_naming(lambda: load_dataset("gse739"), "gse739", "did you mean", "gse7390")
    error_naming(lambda: dataset_table("gse7390"), "'gse7390'", "<dataset>/<table>")
    error_naming(lambda: dataset_table("simulatd/rna"), "simulatd", "simulated")
    error_naming(lambda: dataset_table("gse7390/rna"), "'rna'", "gex", "clin")
    error_naming(lambda: dataset_target("gse7390", "status"), "'status'", "e.tdm")


def test_missing_scanpy(monkeypatch, error_naming):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "scanpy" else real(name, *a)
    )
    datasets._load_cached.cache_clear()
    try:
        error_naming(lambda: load_dataset("pbmc68k_reduced"), "scanpy", "biozoo[data]")
    finally:
        datasets._load_cached.cache_clear()


@pytest.fixture
def small_liver(monkeypatch):
    """The liver_cohort dataset at a small size, recording which modalities are simulated."""
    from biozoo.data.sources import liver

    real, calls = liver.liver_cohort, []

    def small(seed=0, *, n_features=None, only=None):
        calls.append(tuple(only) if only is not None else None)
        return real(seed, n_features={"clinical": 8, "rna": 300, "meth": 400}, only=only)

    monkeypatch.setattr(liver, "liver_cohort", small)
    datasets._load_cached.cache_clear()
    yield calls
    datasets._load_cached.cache_clear()


def test_liver_cohort_labels_and_tables_built_on_first_use(small_liver):
    from biozoo.data.sources.liver import LIVER_CLASSES

    status = dataset_target("liver_cohort", "status")
    assert status.value_counts().to_dict() == LIVER_CLASSES
    assert small_liver == [()]  # labels alone simulate no table
    nash = dataset_target("liver_cohort", "nash")
    assert nash.isna().sum() == 80 and nash.sum() == 83
    assert (nash.dropna().index == status.index[status != "no_disease"]).all()
    codes = dataset_target("liver_cohort", "label")
    assert (codes.map(dict(enumerate(LIVER_CLASSES))) == status).all()
    clinical = dataset_table("liver_cohort/clinical")
    assert small_liver == [(), ("clinical",)]
    assert clinical.shape == (300, 8) and (clinical.index == status.index).all()
    dataset_table("liver_cohort/clinical")
    assert small_liver == [(), ("clinical",)]  # built once
    data = load_dataset("liver_cohort")
    assert {k: v.shape for k, v in data.tables.items()} == {
        "clinical": (300, 8),
        "rna": (300, 300),
        "meth": (300, 400),
    }
    assert data.task == "multiclass" and data.target_column == "status"
