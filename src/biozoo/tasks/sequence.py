"""Sequence outputs: one target string per sample (e.g. the protein a coding DNA encodes).

The ``sequence`` task reads a CSV column of target strings over an alphabet (``protein`` by
default, or ``dna``, ``rna``, or the letters written out). Its models are encoder-decoders
(a model with a ``decoder``, :mod:`biozoo.decoders`): they are trained with teacher forcing
on the target ids of :mod:`biozoo.tasks.sequence_target` and predict by greedy or beam
search. A prediction is ``[n, T, V]`` per-position probabilities of the decoded tokens (one-hot
for one model; an ensemble's average is a per-position vote), read back to letters up to the
first ``[EOS]``.

Metrics:

- ``residue_accuracy``: letters right at their position, over ``max(len(true), len(pred))``
  summed over samples (a prediction too long or too short loses the missing positions);
- ``exact_accuracy``: share of samples whose whole sequence is right;
- ``residue_accuracy_len_<band>``: ``residue_accuracy`` of the samples whose true length
  (in letters) falls in the band: ``1-25``, ``26-50``, ``51-100``, ``101+`` (NaN when no
  sample does).

No classical baseline predicts a sequence, so the task offers none (``baselines: []``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import field_validator
from torch import nn

from biozoo.alphabets import ALPHABETS, alphabet_letters
from biozoo.errors import BiozooError
from biozoo.heads import SequenceHead
from biozoo.tasks.base import (
    BaselineModel,
    ColumnOptions,
    EncodedTarget,
    RankingTarget,
    Reference,
    TargetOptions,
    Task,
    register_task,
)
from biozoo.tasks.sequence_target import FIRST, TargetVocabulary, decode_ids

__all__ = ["LENGTH_BANDS", "SequenceOptions", "SequenceOutput", "SequenceTask", "sequence_scores"]

LENGTH_BANDS: tuple[tuple[int, int | None], ...] = ((1, 25), (26, 50), (51, 100), (101, None))
"""True-length bands (letters, inclusive) of the ``residue_accuracy_len_*`` metrics."""


def _band_name(lo: int, hi: int | None) -> str:
    return f"residue_accuracy_len_{lo}-{hi}" if hi is not None else f"residue_accuracy_len_{lo}+"


@runtime_checkable
class SequenceOutput(Protocol):
    """A task whose prediction is a sequence per sample: its models must decode.

    ``letters`` is the target alphabet; :meth:`decode` reads predictions back to strings.
    """

    letters: str

    def decode(self, prediction: np.ndarray) -> list[str]:
        """The strings of predictions ``[n, T, V]``."""
        ...


class SequenceOptions(ColumnOptions):
    """``column`` holding the target strings, and their ``alphabet``."""

    alphabet: str = "protein"

    @field_validator("alphabet")
    @classmethod
    def _letters(cls, v: str) -> str:
        if v in ALPHABETS:
            return v
        if not v or not v.isascii() or not v.isalpha() or len(set(v.upper())) != len(v):
            raise ValueError(
                f"alphabet must be one of {', '.join(ALPHABETS)} or distinct letters, got {v!r}"
            )
        return v


def sequence_scores(true: list[str], pred: list[str]) -> dict[str, float]:
    """Residue and exact accuracy overall and by true-length band (see the module doc)."""
    right = np.array(
        [sum(a == b for a, b in zip(t, p, strict=False)) for t, p in zip(true, pred, strict=True)]
    )
    span = np.array([max(len(t), len(p), 1) for t, p in zip(true, pred, strict=True)])
    length = np.array([len(t) for t in true])
    scores = {
        "residue_accuracy": float(right.sum() / max(span.sum(), 1)),
        "exact_accuracy": float(np.mean([t == p for t, p in zip(true, pred, strict=True)]))
        if true
        else float("nan"),
    }
    for lo, hi in LENGTH_BANDS:
        band = (length >= lo) & (length <= (hi if hi is not None else np.inf))
        value = right[band].sum() / span[band].sum() if band.any() else np.nan
        scores[_band_name(lo, hi)] = float(value)
    return scores


@register_task
class SequenceTask(Task):
    """A target string per sample, predicted by an encoder-decoder.

    Args:
        alphabet: the target alphabet (named or written out).
    """

    name = "sequence"
    Options = SequenceOptions
    metric_names = (
        "residue_accuracy",
        "exact_accuracy",
        *(_band_name(lo, hi) for lo, hi in LENGTH_BANDS),
    )
    primary = "residue_accuracy"
    higher_is_better = dict.fromkeys(metric_names, True)
    baseline_labels: dict[str, str] = {}
    target_dtype = "int64"

    def __init__(self, alphabet: str = "protein") -> None:
        self.alphabet = alphabet
        self.letters = alphabet_letters(alphabet)

    def __repr__(self) -> str:
        return f"SequenceTask(alphabet={self.alphabet!r})"

    @classmethod
    def from_options(cls, options: TargetOptions) -> SequenceTask:
        return cls(getattr(options, "alphabet", "protein"))

    def encode_target(
        self, labels: pd.DataFrame, options: TargetOptions, source: str
    ) -> EncodedTarget:
        column = options.columns()[0]
        values = labels[column]
        allowed = set(self.letters)
        strings = []
        for sid, value in values.items():
            s = "" if pd.isna(value) else "".join(str(value).split()).upper()
            if not s:
                raise BiozooError(f"sample {sid!r} of {source} has an empty target sequence.")
            bad = next((i for i, c in enumerate(s) if c not in allowed), None)
            if bad is not None:
                raise BiozooError(
                    f"sample {sid!r} of {source} has {s[bad]!r} at position {bad + 1} of its "
                    f"target, not in the {self.alphabet} alphabet ({self.letters})."
                )
            strings.append(s)
        return EncodedTarget(np.array(strings, dtype=object))

    def n_outputs(self, n_classes: int | None) -> int:
        return FIRST + len(self.letters)

    def head(self, n_classes: int | None) -> nn.Module:
        return SequenceHead(self.n_outputs(n_classes))

    def fit_target(self, target: np.ndarray) -> TargetVocabulary:
        return TargetVocabulary.fit(self.letters, target)

    def load_target(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TargetVocabulary:
        return TargetVocabulary.from_state(arrays, meta)

    def decode(self, prediction: np.ndarray) -> list[str]:
        """The strings of predictions ``[n, T, V]`` (most probable token per position)."""
        return decode_ids(np.asarray(prediction).argmax(axis=-1), self.letters)

    def explained(self, classes: list[str]) -> str:
        return "the log-probability of the decoded sequence"

    def stratify_labels(self, target: np.ndarray) -> np.ndarray | None:
        return None

    def ranking_target(self, target: np.ndarray) -> RankingTarget:
        lengths = np.array([len(str(t)) for t in target], dtype=np.float64)
        return RankingTarget(lengths - lengths.mean(), grouped=False)

    def metrics(
        self,
        y_true: np.ndarray,
        prediction: np.ndarray,
        *,
        n_classes: int | None = None,
        reference: Reference | None = None,
    ) -> dict[str, float]:
        return sequence_scores([str(t) for t in y_true], self.decode(prediction))

    def prediction_columns(
        self,
        y_true: np.ndarray | None,
        prediction: np.ndarray,
        *,
        classes: list[str] | None = None,
        reference: Reference | None = None,
    ) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {}
        if y_true is not None:
            columns["y_true"] = np.asarray(y_true, dtype=object)
        columns["y_pred"] = np.array(self.decode(prediction), dtype=object)
        return columns

    def baseline(
        self,
        family: str,
        X: np.ndarray,
        y: np.ndarray,
        *,
        n_classes: int | None = None,
        seed: int = 0,
        n_jobs: int = 1,
    ) -> BaselineModel:
        self.baseline_label(family)  # raises: no baseline predicts a sequence
        raise AssertionError("unreachable")
