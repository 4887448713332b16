"""The sequence task: target vocabulary, metrics by length, predictions, bad targets."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from biozoo.errors import BiozooError
from biozoo.tasks import SequenceTask
from biozoo.tasks.sequence import sequence_scores
from biozoo.tasks.sequence_target import EOS, FIRST, UNK, TargetVocabulary


def _labels(values) -> pd.DataFrame:
    ids = pd.Index([f"s{i}" for i in range(len(values))], name="sample_id")
    return pd.DataFrame({"y": values}, index=ids)


def _one_hot(ids: np.ndarray, v: int) -> np.ndarray:
    return np.eye(v, dtype=np.float32)[ids]


def test_vocabulary_is_fitted_on_training_targets_and_ends_each_with_eos(caplog):
    task = SequenceTask("protein")
    vocab = task.fit_target(np.array(["MKV", "MA"], dtype=object))
    assert vocab.known == "AKMV"
    ids = vocab.transform(np.array(["MA", "MW"], dtype=object))
    m, a = FIRST + task.letters.index("M"), FIRST + task.letters.index("A")
    with caplog.at_level(logging.WARNING):
        ids = vocab.transform(np.array(["MA", "MW"], dtype=object))
    assert ids.tolist() == [[m, a, EOS], [m, UNK, EOS]]  # W was never seen in training
    assert "1 target letters never seen in training were read as [UNK]" in caplog.text
    back = task.load_target(*vocab.state())
    np.testing.assert_array_equal(
        back.transform(np.array(["MKV"], object)), vocab.transform(np.array(["MKV"], object))
    )


def test_predictions_read_back_to_strings_and_score_by_length_band():
    task = SequenceTask("protein")
    true = np.array(["MKV", "M" * 30, "MA"], dtype=object)
    ids = TargetVocabulary(task.letters).transform(true)
    ids[2, 1] = FIRST + task.letters.index("C")  # MA -> MC
    pred = _one_hot(ids, task.n_outputs(None))
    assert task.decode(pred) == ["MKV", "M" * 30, "MC"]
    scores = task.metrics(true, pred)
    assert list(scores) == list(task.metric_names)
    assert scores["residue_accuracy"] == pytest.approx(34 / 35)
    assert scores["exact_accuracy"] == pytest.approx(2 / 3)
    assert scores["residue_accuracy_len_1-25"] == pytest.approx(4 / 5)
    assert scores["residue_accuracy_len_26-50"] == 1.0
    assert np.isnan(scores["residue_accuracy_len_51-100"])
    columns = task.prediction_columns(true, pred)
    assert list(columns) == ["y_true", "y_pred"] and list(columns["y_pred"]) == task.decode(pred)
    assert list(task.prediction_columns(None, pred)) == ["y_pred"]


def test_a_prediction_too_long_or_too_short_loses_the_missing_positions():
    scores = sequence_scores(["MKV", "MKV"], ["MKVAA", "MK"])
    assert scores["residue_accuracy"] == pytest.approx((3 + 2) / (5 + 3))
    assert scores["exact_accuracy"] == 0.0


def test_bad_targets_are_one_sentence():
    task = SequenceTask("protein")
    options = task.parse_options({"column": "y"}, where="data.target")
    with pytest.raises(BiozooError, match=r"sample 's1' of t.csv has an empty target sequence\."):
        task.encode_target(_labels(["MK", ""]), options, "t.csv")
    with pytest.raises(
        BiozooError, match=r"sample 's0' of t.csv has 'B' at position 3 of its target, not in"
    ):
        task.encode_target(_labels(["MKB"]), options, "t.csv")
    with pytest.raises(BiozooError, match="alphabet must be one of protein, dna, rna"):
        SequenceTask.parse_options({"column": "y", "alphabet": "A C"}, where="data.target")
    with pytest.raises(BiozooError, match="baseline 'linear' has no estimator for task 'sequence'"):
        task.baseline("linear", np.zeros((2, 1)), np.array(["M", "K"], object))


def test_options_choose_the_alphabet():
    options = SequenceTask.parse_options({"column": "y", "alphabet": "dna"}, where="t")
    task = SequenceTask.from_options(options)
    assert task.letters == "ACGT" and task.n_outputs(None) == FIRST + 4
    encoded = task.encode_target(_labels(["acgt", "TT"]), options, "t.csv")
    assert list(encoded.values) == ["ACGT", "TT"] and encoded.classes is None


def test_the_example_config_checks():
    from pathlib import Path

    from biozoo.api import load_config

    cfg = load_config(Path(__file__).parents[2] / "examples" / "orfs_seq2seq.yaml")
    assert cfg.data.target.build_task().letters == "ACDEFGHIKLMNPQRSTVWY"
    assert {m.decoder.name for m in cfg.models.values()} == {"attention_lstm", "transformer"}
