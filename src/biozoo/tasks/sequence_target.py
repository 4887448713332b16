"""Target sequences as token ids: the alphabet's fixed id layout and the fold-fitted vocabulary.

Ids: 0 = padding, 1 = ``[BOS]`` (the decoder's first input), 2 = ``[EOS]`` (ends every
target), 3 = ``[UNK]`` (a letter of the alphabet never seen in a fold's training targets),
4.. = the alphabet's letters in alphabet order. The layout depends on the alphabet only, so
every fold's model has the same output size and a prediction is read back to letters without
the fold's state; the fold fits which letters it knows (:class:`TargetVocabulary`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from biozoo.errors import BiozooError

__all__ = ["BOS", "EOS", "FIRST", "PAD", "UNK", "TargetVocabulary", "decode_ids"]

log = logging.getLogger(__name__)

PAD, BOS, EOS, UNK = 0, 1, 2, 3
FIRST = 4  # id of the alphabet's first letter


def decode_ids(ids: np.ndarray, letters: str) -> list[str]:
    """The letters of each row of ``ids [n, T]``, up to its first ``[EOS]`` or padding.

    ``[UNK]`` and ids outside the alphabet read as ``?``; ``[BOS]`` is skipped.
    """
    out = []
    for row in np.asarray(ids):
        chars = []
        for i in row.tolist():
            if i in (EOS, PAD):
                break
            if i == BOS:
                continue
            j = i - FIRST
            chars.append(letters[j] if 0 <= j < len(letters) else "?")
        out.append("".join(chars))
    return out


class TargetVocabulary:
    """The letters of a fold's training targets; encodes strings as ``[EOS]``-ended ids.

    Args:
        letters: the alphabet (its order fixes the ids).
        known: the letters seen in the training targets (default: every letter).

    Shape:
        - transform: int64 ``[n, T]`` with ``T`` = longest target + 1 (``[EOS]``), padded
          with 0.
    """

    def __init__(self, letters: str, known: str | None = None) -> None:
        self.letters = letters
        self.known = letters if known is None else known
        self.lut = np.full(256, UNK, dtype=np.int64)
        for c in self.known:
            self.lut[ord(c)] = FIRST + letters.index(c)

    def __repr__(self) -> str:
        return f"TargetVocabulary(letters={self.letters!r}, known={len(self.known)})"

    @classmethod
    def fit(cls, letters: str, targets: np.ndarray) -> TargetVocabulary:
        """The vocabulary of the training ``targets`` (an object array of strings)."""
        seen = set("".join(str(t) for t in targets))
        if not seen:
            raise BiozooError("the training part of a fold holds no target sequence.")
        return cls(letters, "".join(c for c in letters if c in seen))

    def transform(self, y: np.ndarray) -> np.ndarray:
        """Token ids ``[n, T]`` of the strings ``y``; unseen letters become ``[UNK]``."""
        strings = [str(s) for s in np.asarray(y, dtype=object)]
        width = max((len(s) for s in strings), default=0) + 1
        out = np.zeros((len(strings), width), dtype=np.int64)
        unknown = 0
        for i, s in enumerate(strings):
            ids = self.lut[np.frombuffer(s.encode("ascii", "replace"), dtype=np.uint8)]
            unknown += int((ids == UNK).sum())
            out[i, : len(s)] = ids
            out[i, len(s)] = EOS
        if unknown:
            log.warning("%d target letters never seen in training were read as [UNK].", unknown)
        return out

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Predictions unchanged: they are read back to letters by the task."""
        return z

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {}, {"kind": "TargetVocabulary", "letters": self.letters, "known": self.known}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TargetVocabulary:
        """Rebuild from :meth:`state`'s output."""
        if meta.get("kind") != "TargetVocabulary":
            raise ValueError("not the saved state of a TargetVocabulary")
        return cls(str(meta["letters"]), str(meta["known"]))

    @property
    def output_scale(self) -> float:
        return 1.0
