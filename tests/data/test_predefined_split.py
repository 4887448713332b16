"""The ``predefined`` split kind: a data set's own split, read from a column of its labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from tests.conftest import tiny_raw

import biozoo
from biozoo.data.align import load_cohort
from biozoo.data.splits import SplitConfig, cohort_splits
from biozoo.train.experiment import run_experiment


def labelled(files, tmp_path, **columns: list[str]):
    """The tiny cohort's labels with extra columns, as a file, and the data section."""
    labels = pd.read_csv(files["labels"], dtype={"sample_id": str})
    for name, values in columns.items():
        labels[name] = values
    path = tmp_path / "labels_split.csv"
    labels.to_csv(path, index=False)
    raw = tiny_raw(files)
    raw["data"]["target"]["path"] = str(path)
    return raw, labels


def sides(n: int, test: slice, val: slice | None = None) -> list[str]:
    out = np.array(["train"] * n, dtype=object)
    out[test] = "test"
    if val is not None:
        out[val] = "val"
    return list(out)


def test_the_column_is_honoured_exactly(tiny_files, tmp_path):
    first = sides(60, slice(0, 15))
    second = [s.upper() + " " for s in sides(60, slice(45, 60), slice(30, 40))]
    raw, labels = labelled(tiny_files, tmp_path, fold_a=first, fold_b=second)
    cfg = biozoo.parse_config(raw)
    cohort = load_cohort(cfg.data)
    split_cfg = SplitConfig(kind="predefined", column=["fold_a", "fold_b"])
    assert split_cfg.n_splits == 2
    splits = cohort_splits(cohort, split_cfg, seed=0, target=cfg.data.target)
    assert [s.name for s in splits] == ["fold_a", "fold_b"]
    side_of = labels.set_index("sample_id")
    for split, column in zip(splits, ("fold_a", "fold_b"), strict=True):
        wanted = side_of[column].str.strip().str.lower().reindex(cohort.ids).to_numpy()
        assert set(cohort.ids[split.test]) == set(cohort.ids[wanted == "test"])
        assert set(cohort.ids[split.train]) == set(cohort.ids[wanted != "test"])
        assert len(np.intersect1d(split.train, split.test)) == 0
        assert len(split.train) + len(split.test) == len(cohort)
    assert splits[0].val is None
    val = splits[1].val
    assert val is not None and set(cohort.ids[val]) == set(side_of.index[30:40])
    assert np.array_equal(splits[1].train[splits[1].val_in_train()], val)
    again = cohort_splits(cohort, split_cfg, seed=9, target=cfg.data.target)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(splits, again, strict=True))


def test_a_run_tests_on_the_test_rows_and_validates_on_the_val_rows(tiny_files, tmp_path):
    raw, labels = labelled(tiny_files, tmp_path, official=sides(60, slice(40, 60), slice(0, 10)))
    raw["training"].update(epochs=2, ensemble=1, split={"kind": "predefined", "column": "official"})
    raw["models"] = {"mm": {}}
    cfg = biozoo.parse_config(raw)
    result = run_experiment(cfg, load_cohort(cfg.data))
    assert [s.name for s in result.splits] == ["official"]
    predictions = pd.concat(result.predictions)
    for method, frame in predictions.groupby("method"):
        assert set(frame["sample_id"]) == set(labels["sample_id"][40:60]), method
    latents = next(iter(result.latents.values()))[0].set_index("sample_id")
    assert set(latents.index[latents["part"] == "validation"]) == set(labels["sample_id"][:10])
    assert set(latents.index[latents["part"] == "test"]) == set(labels["sample_id"][40:60])


@pytest.mark.parametrize(
    ("values", "culprit"),
    [
        (sides(60, slice(0, 0)), "no test rows"),
        (sides(60, slice(0, 50), slice(50, 60)), "no train rows"),
        (["train"] * 59 + ["tset"], "'tset'"),
        (["train"] * 59 + [None], "no value for sample"),
    ],
    ids=["no-test", "no-train", "unknown-value", "missing-value"],
)
def test_bad_columns_get_one_sentence_naming_file_and_column(
    tiny_files, tmp_path, error_naming, values, culprit
):
    raw, _ = labelled(tiny_files, tmp_path, official=values)
    cfg = biozoo.parse_config(raw)
    cohort = load_cohort(cfg.data)
    split_cfg = SplitConfig(kind="predefined", column="official")
    error_naming(
        lambda: cohort_splits(cohort, split_cfg, seed=0, target=cfg.data.target),
        "split column 'official'",
        tmp_path / "labels_split.csv",
        culprit,
    )


def test_the_config_checks_the_keys_of_each_kind():
    with pytest.raises(ValidationError, match="needs 'column'"):
        SplitConfig(kind="predefined")
    with pytest.raises(ValidationError, match="does not use 'column'"):
        SplitConfig(kind="kfold", column="split")
    with pytest.raises(ValidationError, match="does not use 'modality'"):
        SplitConfig(kind="predefined", column="split", modality="mol")
    with pytest.raises(ValidationError, match="did you mean 'predefined'"):
        SplitConfig(kind="predefind", column="split")
    with pytest.raises(ValidationError, match="not allowed"):
        SplitConfig(kind="predefined", column="../x")
    assert SplitConfig(kind="holdout", repeats=3).n_splits == 3
    assert SplitConfig(kind="kfold", folds=4, repeats=2).n_splits == 8
