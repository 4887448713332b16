"""Tests of load_cohort: alignment, missing modalities, targets and their errors."""

from __future__ import annotations

import logging
import warnings

import anndata
import mudata
import numpy as np
import pandas as pd
import pytest

from biozoo.data.align import load_cohort
from biozoo.data.spec import DataConfig

LOGGER = "biozoo.data.align"


def table(ids: list[str], n_features: int = 2, prefix: str = "f") -> pd.DataFrame:
    """Row i holds ids' number * 10 + column, so alignment is easy to check."""
    values = np.array([[int(i[1:]) * 10 + j for j in range(n_features)] for i in ids], float)
    cols = [f"{prefix}{j}" for j in range(n_features)]
    return pd.DataFrame(values, index=pd.Index(ids, name="sample_id"), columns=cols)


@pytest.fixture
def files(tmp_path):
    """rna: s1-s5 + s9 (unlabelled); clin: s2-s6; labels: s6 s5 s4 s3 s2 s1 s7 (s7 nowhere)."""
    table(["s5", "s3", "s1", "s2", "s4", "s9"]).to_csv(tmp_path / "rna.csv")
    table(["s2", "s3", "s4", "s5", "s6"], prefix="c").to_csv(tmp_path / "clin.csv")
    labels = pd.DataFrame(
        {
            "sample_id": ["s6", "s5", "s4", "s3", "s2", "s1", "s7"],
            "y": ["b", "a", "b", "a", "b", "a", "a"],
        }
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path


def config(folder, *, policy="drop", column="y", task="binary", labels="labels.csv", **mods):
    modalities = mods or {
        "rna": {"path": folder / "rna.csv"},
        "clin": {"path": folder / "clin.csv"},
    }
    return DataConfig(
        modalities=modalities,
        target={"path": folder / labels, "column": column, "task": task},
        missing_modality=policy,
    )


def warnings_text(caplog) -> str:
    return " | ".join(r.getMessage() for r in caplog.records if r.name == LOGGER)


def test_drop_keeps_label_order_and_aligns_rows(files, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        cohort = load_cohort(config(files))
    assert list(cohort.ids) == ["s5", "s4", "s3", "s2"]  # label-file order
    rna = cohort.modalities["rna"]
    np.testing.assert_array_equal(rna.values[:, 0], [50, 40, 30, 20])
    np.testing.assert_array_equal(cohort.modalities["clin"].values[:, 1], [51, 41, 31, 21])
    assert rna.values.dtype == np.float32 and rna.present.all()
    assert rna.features == ["f0", "f1"] and rna.source == str(files / "rna.csv")
    assert list(cohort.modalities) == ["rna", "clin"]
    assert cohort.classes == ["a", "b"] and cohort.target.tolist() == [0, 1, 0, 1]
    assert cohort.target.dtype == np.int64 and cohort.task.name == "binary"
    text = warnings_text(caplog)
    assert "1 samples of the modalities have no row in" in text and "'s9'" in text
    assert "1 labelled samples" in text and "'s7'" in text
    assert "dropped 2 samples lacking some modality" in text
    assert "rna 1, clin 1" in text


def test_keep_fills_absent_rows_with_nan(files, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        cohort = load_cohort(config(files, policy="keep"))
    assert list(cohort.ids) == ["s6", "s5", "s4", "s3", "s2", "s1"]
    rna, clin = cohort.modalities["rna"], cohort.modalities["clin"]
    assert rna.present.tolist() == [False, True, True, True, True, True]
    assert clin.present.tolist() == [True, True, True, True, True, False]
    assert np.isnan(rna.values[0]).all() and np.isnan(clin.values[-1]).all()
    np.testing.assert_array_equal(rna.values[1:, 0], [50, 40, 30, 20, 10])
    assert "lacking some modality" not in warnings_text(caplog)
    assert "1 labelled samples" in warnings_text(caplog)


def test_order_does_not_depend_on_file_row_order(files):
    first = load_cohort(config(files))
    shuffled = pd.read_csv(files / "rna.csv", index_col=0).sample(frac=1.0, random_state=3)
    shuffled.to_csv(files / "rna.csv")
    second = load_cohort(config(files))
    assert list(first.ids) == list(second.ids)
    np.testing.assert_array_equal(first.modalities["rna"].values, second.modalities["rna"].values)


def test_missing_labels_are_dropped_with_a_count(files, caplog):
    pd.DataFrame({"id": ["s2", "s3", "s4", "s5"], "y": ["a", None, "", "b"]}).to_csv(
        files / "gaps.csv", index=False
    )
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        cohort = load_cohort(config(files, labels="gaps.csv"))
    assert list(cohort.ids) == ["s2", "s5"]
    assert "dropped 2 samples of" in warnings_text(caplog)


def test_no_overlap_names_both_files(files, error_naming):
    table(["s11", "s12"]).to_csv(files / "other.csv")
    cfg = config(files, rna={"path": files / "other.csv"})
    error_naming(lambda: load_cohort(cfg), "other.csv", "labels.csv")


def test_nothing_left(files, error_naming):
    table(["s1"]).to_csv(files / "a.csv")
    table(["s2"]).to_csv(files / "b.csv")
    cfg = config(files, a={"path": files / "a.csv"}, b={"path": files / "b.csv"})
    error_naming(lambda: load_cohort(cfg), "no sample is left", "a.csv", "labels.csv")


def test_binary_bool_and_int_positive_class_second(files):
    ids = ["s1", "s2", "s3", "s4"]
    pd.DataFrame({"id": ids, "flag": [True, False, True, False], "n": [1, 0, 0, 1]}).to_csv(
        files / "bin.csv", index=False
    )
    for column, classes in (("flag", ["False", "True"]), ("n", ["0", "1"])):
        cohort = load_cohort(config(files, column=column, labels="bin.csv", policy="keep"))
        assert cohort.classes == classes
        assert cohort.target.tolist() == ([1, 0, 1, 0] if column == "flag" else [1, 0, 0, 1])


def test_float_coded_classes_print_as_ints(files):
    pd.DataFrame({"id": ["s1", "s2", "s3"], "y": [1, 0, None]}).to_csv(
        files / "f.csv", index=False
    )  # pandas reads 1.0 / 0.0 / NaN
    cohort = load_cohort(config(files, labels="f.csv", policy="keep"))
    assert cohort.classes == ["0", "1"] and cohort.target.tolist() == [1, 0]


def test_multiclass_sorted_classes(files):
    pd.DataFrame(
        {"id": ["s2", "s3", "s4", "s5"], "y": ["nash", "none", "steatosis", "nash"]}
    ).to_csv(files / "m.csv", index=False)
    cohort = load_cohort(config(files, labels="m.csv", task="multiclass"))
    assert cohort.classes == ["nash", "none", "steatosis"]
    assert cohort.target.tolist() == [0, 1, 2, 0] and cohort.task.name == "multiclass"


def test_class_count_errors(files, error_naming):
    pd.DataFrame({"id": ["s2", "s3", "s4"], "y": ["a", "b", "c"], "z": ["a"] * 3}).to_csv(
        files / "c.csv", index=False
    )
    error_naming(
        lambda: load_cohort(config(files, labels="c.csv")), "3 classes", "a, b, c", "c.csv"
    )
    for task in ("binary", "multiclass"):
        cfg = config(files, labels="c.csv", column="z", task=task)
        error_naming(lambda cfg=cfg: load_cohort(cfg), "single class", "'z'", "c.csv")


def test_regression(files, error_naming):
    pd.DataFrame({"id": ["s2", "s3", "s4"], "y": [1.5, 2, 3], "z": ["1", "2", "high"]}).to_csv(
        files / "r.csv", index=False
    )
    cohort = load_cohort(config(files, labels="r.csv", task="regression"))
    assert cohort.target.dtype == np.float32 and cohort.target.tolist() == [1.5, 2.0, 3.0]
    assert cohort.classes is None
    cfg = config(files, labels="r.csv", task="regression", column="z")
    error_naming(lambda: load_cohort(cfg), "'high'", "'z'", "r.csv")


def test_without_target(files, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        drop = load_cohort(config(files), with_target=False)
    assert drop.target is None and drop.classes is None
    assert list(drop.ids) == ["s5", "s3", "s2", "s4"]  # first modality's order
    assert "kept 4 samples present in every modality" in warnings_text(caplog)
    keep = load_cohort(config(files, policy="keep"), with_target=False)
    assert list(keep.ids) == ["s5", "s3", "s1", "s2", "s4", "s9", "s6"]
    assert keep.modalities["clin"].present.tolist() == [True, True, False, True, True, False, True]


def test_h5mu_mod_defaults_to_modality_name(files):
    rna = anndata.AnnData(X=np.arange(6, dtype=np.float32).reshape(3, 2))
    rna.obs_names = ["s1", "s2", "s3"]
    rna.var_names = ["g1", "g2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mudata 0.3's note on .update()
        mudata.MuData({"rna": rna}).write_h5mu(files / "m.h5mu")
    cohort = load_cohort(config(files, rna={"path": files / "m.h5mu"}))
    assert list(cohort.ids) == ["s3", "s2", "s1"]
    np.testing.assert_array_equal(cohort.modalities["rna"].values[:, 1], [5, 3, 1])
    assert cohort.modalities["rna"].features == ["g1", "g2"]


def test_bundled_dataset_modalities(error_naming):
    cfg = DataConfig(
        modalities={
            "clinical": {"dataset": "simulated/clinical"},
            "rna": {"dataset": "simulated/rna"},
        },
        target={"dataset": "simulated", "column": "label", "task": "binary"},
    )
    cohort = load_cohort(cfg)
    assert cohort.n_samples == 200 and cohort.classes == ["0", "1"]
    assert cohort.modalities["rna"].source == "simulated/rna"
    assert cohort.meta["target_source"] == "simulated"
    bad = DataConfig(
        modalities={"rna": {"dataset": "simulated/rna", "transpose": True}},
        target={"dataset": "simulated", "column": "label", "task": "binary"},
    )
    error_naming(lambda: load_cohort(bad), "'transpose'", "simulated/rna")


def test_target_column_missing(files, error_naming):
    error_naming(lambda: load_cohort(config(files, column="status")), "status", "labels.csv")
