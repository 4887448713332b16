"""Protein and nucleotide sequences as k-mer tokens (reading: :mod:`biozoo.data.sequence.read`).

:class:`SequenceTransform` is the fold transform of a ``sequence`` modality: it learns the
k-mer vocabulary from the training records of a fold and turns every record into token ids
(``tokens`` input kind), as in EnzBERT (Buton et al. 2023,
https://doi.org/10.1093/bioinformatics/btad620) and DNABERT (Ji et al. 2021,
https://doi.org/10.1093/bioinformatics/btab083).

Tokens. A record of ``l`` letters is cut into k-mers either *overlapping* (``overlap=True``,
stride 1: ``l - k + 1`` tokens, DNABERT style) or as consecutive *chunks* (``overlap=False``,
stride k: ``ceil(l / k)`` tokens, the last one possibly shorter). A record shorter than ``k`` is
one short token. Both are lossless: overlapping tokens decode as the first token plus the last
letter of each next one, chunks by concatenation (:meth:`SequenceTransform.decode`).

Ids: 0 = padding, 1 = ``[UNK]`` (a k-mer never seen in training, or holding a letter outside
the alphabet), 2 = ``[CLS]`` (put first when ``cls_token``; reserved otherwise), 3.. = the
vocabulary: the alphabet's letters in alphabet order for ``k = 1``, otherwise the k-mers seen in
the training records, in alphabet order. Fast path: records are joined into one byte buffer and
every k-mer becomes an integer code (its letters as base ``A + 2`` digits), so encoding 100k
records is numpy work on a few arrays, a chunk of records at a time.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel

from biozoo.data.sequence.read import SequenceOptions, alphabet_letters
from biozoo.errors import BiozooError
from biozoo.inputs import TokensInput
from biozoo.tasks import Task

SPECIALS = {"pad": 0, "unk": 1, "cls": 2}
_FIRST = 3  # id of the first vocabulary token
_CHUNK = 4096  # records encoded at a time
_DENSE = 1 << 22  # k-mer code spaces up to this size get a dense code -> id table
_FASTA = (".fasta", ".fa", ".faa", ".fna", ".ffn", ".fas", ".fsa")
_DELIMITED = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv"}


__all__ = ["SequenceTransform"]

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- k-mer codes


class _Coder:
    """Integer codes of k-mers: letters as digits 1..A (A+1: outside the alphabet), base A+2.

    A token shorter than k (a short record, a last chunk) is padded with zero digits, so codes of
    different strings never collide and sort in alphabet order.
    """

    def __init__(self, letters: str, k: int, overlap: bool, uppercase: bool) -> None:
        self.letters, self.k, self.overlap, self.uppercase = letters, k, overlap, uppercase
        self.base = len(letters) + 2
        if k * np.log2(self.base) >= 62:
            raise BiozooError(
                f"kmer={k} is too long for an alphabet of {len(letters)} letters; use kmer <= "
                f"{int(62 / np.log2(self.base))}."
            )
        self.lut = np.full(256, len(letters) + 1, dtype=np.int64)
        self.lut[0] = 0
        self.lut[np.frombuffer(letters.encode("ascii"), dtype=np.uint8)] = np.arange(
            1, len(letters) + 1
        )

    def count(self, lengths: np.ndarray) -> np.ndarray:
        """Tokens per record of ``lengths`` letters."""
        if self.overlap:
            return np.maximum(lengths - self.k + 1, 1)
        return -(-lengths // self.k)

    def encode(self, records: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Codes of every token of ``records``, tokens per record, and a clean flag per token."""
        k = self.k
        if self.uppercase:
            records = [r.upper() for r in records]
        lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
        text = ("\0" * k).join(records) + "\0" * k
        raw = text.encode("ascii", errors="replace")  # one '?' per non-ASCII letter
        digits = self.lut[np.frombuffer(raw, dtype=np.uint8)]
        m = len(digits) - k
        code = digits[:m].copy()
        for j in range(1, k):
            code *= self.base
            code += digits[j : j + m]
        n_tok = self.count(lengths)
        starts = np.concatenate([[0], np.cumsum(lengths + k)[:-1]])
        if self.overlap:  # a token starts where its first and last letters are real
            valid = (digits[:m] != 0) & (digits[k - 1 : k - 1 + m] != 0)
            valid[starts[lengths < k]] = True  # a record shorter than k is one token
            pos = np.flatnonzero(valid)
        else:
            rec = np.repeat(np.arange(len(records)), n_tok)
            j = np.arange(int(n_tok.sum())) - np.repeat(np.cumsum(n_tok) - n_tok, n_tok)
            pos = starts[rec] + j * k
        bad = digits == len(self.letters) + 1
        if not bad.any():
            return code[pos], n_tok, np.ones(len(pos), dtype=bool)
        unknown = np.concatenate([[0], np.cumsum(bad)])  # separators are never unknown
        return code[pos], n_tok, unknown[pos + k] == unknown[pos]

    def decode(self, code: int) -> str:
        out = []
        for _ in range(self.k):
            code, d = divmod(int(code), self.base)
            out.append(d)
        return "".join(self.letters[d - 1] for d in reversed(out) if d)

    def code_of(self, token: str) -> int:
        code = 0
        for j in range(self.k):
            code = code * self.base + (self.letters.index(token[j]) + 1 if j < len(token) else 0)
        return code

    def split(self, record: str) -> list[str]:
        """The token strings of one record (reference path, for export and decoding)."""
        record = record.upper() if self.uppercase else record
        k, n = self.k, len(record)
        if self.overlap:
            return [record[i : i + k] for i in range(max(n - k + 1, 1))]
        return [record[i : i + k] for i in range(0, n, k)]


def _window(n_tok: np.ndarray, keep: int, truncate: str) -> np.ndarray:
    """Index of the first kept token of each record."""
    extra = np.maximum(n_tok - keep, 0)
    if truncate == "head":
        return np.zeros_like(extra)
    return extra if truncate == "tail" else extra // 2


def _records(mod: Any) -> tuple[list[str], np.ndarray]:
    """The records of present samples and their positions."""
    records = np.asarray(mod.records, dtype=object)
    filled = np.fromiter((r is not None and len(r) > 0 for r in records), bool, len(records))
    has = np.asarray(mod.present, dtype=bool) & filled  # an empty record counts as absent
    rows = np.flatnonzero(has)
    return [str(records[i]) for i in rows], rows


# ---------------------------------------------------------------- fold transform


class SequenceTransform:
    """k-mer tokens of sequences, vocabulary fitted on the training records of a fold.

    Args:
        column, alphabet, kmer, overlap, max_len, truncate, uppercase, cls_token, width: see
            :class:`SequenceOptions` (``column`` is the reader's and is ignored here).

    Shape:
        - transform: ``tokens`` Long ``[n, L]``, ``mask`` Bool ``[n, L]`` with
          ``L = min(max_len, longest training record in tokens)`` (``max_len`` with
          ``width: max_len``), fixed at fit so every part
          of a fold has the same width; absent samples are all padding (mask False).
        - flat: float32 ``[n, V - 3]`` k-mer composition (counts / tokens of the record).
    """

    Config: ClassVar[type[BaseModel]] = SequenceOptions
    type: ClassVar[str] = "sequence/tokens"

    def __init__(
        self,
        *,
        column: str | None = None,
        alphabet: str = "protein",
        kmer: int = 1,
        overlap: bool = True,
        max_len: int = 512,
        truncate: Literal["head", "tail", "center"] = "head",
        uppercase: bool = True,
        cls_token: bool = True,
        width: Literal["train", "max_len"] = "train",
    ) -> None:
        self.options = SequenceOptions(
            column=column,
            alphabet=alphabet,
            kmer=kmer,
            overlap=overlap,
            max_len=max_len,
            truncate=truncate,
            uppercase=uppercase,
            cls_token=cls_token,
            width=width,
        )
        self.coder = _Coder(alphabet_letters(alphabet, uppercase), kmer, overlap, uppercase)
        self.vocab: list[str] | None = None
        self._codes = np.zeros(0, dtype=np.int64)
        self._lut: np.ndarray | None = None
        self.length = 0

    def __repr__(self) -> str:
        o = self.options
        fitted = f", vocab={self.vocab_size}, L={self.length}" if self.vocab is not None else ""
        return f"SequenceTransform(alphabet={o.alphabet!r}, kmer={o.kmer}{fitted})"

    @property
    def vocab_size(self) -> int:
        """Number of ids, specials included."""
        return _FIRST + len(self._fitted())

    @property
    def report(self) -> dict[str, int]:
        """What fit learned, for the run's summary."""
        return {"vocab": self.vocab_size, "length": self.length} if self.vocab is not None else {}

    def fit(
        self, mod: Any, y: np.ndarray | None = None, task: Task | None = None
    ) -> SequenceTransform:
        """Learn the vocabulary and the width ``L`` from the present training records."""
        records, _ = _records(mod)
        if not records:
            raise BiozooError(f"no training sample has a sequence in {mod.source or mod.name}.")
        lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
        if self.options.kmer == 1:  # the alphabet itself, whatever the training letters
            self._set_vocab(np.arange(1, len(self.coder.letters) + 1, dtype=np.int64))
        else:
            self._set_vocab(self._seen_codes(records))
        longest = int(self.coder.count(lengths).max()) + int(self.options.cls_token)
        fixed = self.options.width == "max_len"
        self.length = self.options.max_len if fixed else min(self.options.max_len, longest)
        log.info("sequence vocabulary: %d tokens, width %d", len(self.vocab), self.length)
        return self

    def _seen_codes(self, records: list[str]) -> np.ndarray:
        """Sorted codes of the k-mers of ``records`` made of alphabet letters only."""
        space = self.coder.base**self.options.kmer
        seen = np.zeros(space if space <= _DENSE else 0, dtype=bool)
        found = []
        for start in range(0, len(records), _CHUNK):
            codes, _, clean = self.coder.encode(records[start : start + _CHUNK])
            if len(seen):
                seen[codes[clean]] = True
            else:
                found.append(np.unique(codes[clean]))
        return np.flatnonzero(seen) if len(seen) else np.unique(np.concatenate(found))

    def _ids(self, records: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vocabulary ids of every token (1 where unknown) and tokens per record."""
        codes, n_tok, clean = self.coder.encode(records)
        if self._lut is not None:  # small code space: one gather (unknown letters miss it)
            return self._lut[codes], n_tok
        pos = np.searchsorted(self._codes, codes)
        hit = clean & (pos < len(self._codes))
        hit[hit] = self._codes[pos[hit]] == codes[hit]
        return np.where(hit, pos + _FIRST, SPECIALS["unk"]), n_tok

    def _set_vocab(self, codes: np.ndarray) -> None:
        """Vocabulary from sorted k-mer codes; a dense code -> id table when codes are few."""
        self._codes = codes
        self.vocab = [self.coder.decode(c) for c in codes]
        self._lut = None
        if self.coder.base**self.options.kmer <= _DENSE:
            self._lut = np.full(self.coder.base**self.options.kmer, SPECIALS["unk"], np.int64)
            self._lut[codes] = np.arange(_FIRST, _FIRST + len(codes))

    def transform(self, mod: Any) -> dict[str, torch.Tensor]:
        """Token ids and mask of every sample (absent ones all padding)."""
        self._fitted()
        n, L, cls = len(mod.present), self.length, int(self.options.cls_token)
        tokens = np.zeros((n, L), dtype=np.int64)
        records, rows = _records(mod)
        for start in range(0, len(records), _CHUNK):
            ids, n_tok = self._ids(records[start : start + _CHUNK])
            r = rows[start : start + _CHUNK]
            first = _window(n_tok, L - cls, self.options.truncate)
            # the kept tokens of a record are contiguous in ids: gather a [chunk, L - cls] window
            at = (np.cumsum(n_tok) - n_tok + first)[:, None] + np.arange(L - cls)
            valid = np.arange(L - cls) < np.minimum(n_tok, L - cls)[:, None]
            tokens[r, cls:] = np.where(valid, ids[np.minimum(at, len(ids) - 1)], 0)
            if cls:
                tokens[r, 0] = SPECIALS["cls"]
        tokens_t = torch.from_numpy(tokens)
        return {"tokens": tokens_t, "mask": tokens_t != SPECIALS["pad"]}

    def flat(self, mod: Any) -> np.ndarray:
        """k-mer composition over the fitted vocabulary (whole record, no truncation).

        Each row holds the count of each vocabulary k-mer divided by the record's number of
        tokens (for protein and ``k = 1``: the amino-acid composition); unknown k-mers count in
        the denominator only. Absent samples are zero rows.
        """
        V = len(self._fitted())
        out = np.zeros((len(mod.present), V), dtype=np.float32)
        records, rows = _records(mod)
        for start in range(0, len(records), _CHUNK):
            ids, n_tok = self._ids(records[start : start + _CHUNK])
            rec = np.repeat(np.arange(len(n_tok)), n_tok)
            known = ids >= _FIRST
            counts = np.bincount(rec[known] * V + ids[known] - _FIRST, minlength=len(n_tok) * V)
            block = counts.reshape(len(n_tok), V) / n_tok[:, None]
            out[rows[start : start + _CHUNK]] = block
        return out

    def tokens_of(self, mod: Any) -> list[list[str]]:
        """The token strings of each sample, aligned with the positions of :meth:`transform`.

        ``[CLS]`` first when used; a k-mer outside the vocabulary keeps its own text (its id is
        ``[UNK]``); an absent sample gives an empty list.
        """
        self._fitted()
        out: list[list[str]] = [[] for _ in range(len(mod.present))]
        cls = ["[CLS]"] if self.options.cls_token else []
        keep = self.length - len(cls)
        records, rows = _records(mod)
        for record, row in zip(records, rows, strict=True):
            toks = self.coder.split(record)
            first = int(_window(np.array([len(toks)]), keep, self.options.truncate)[0])
            out[row] = cls + toks[first : first + keep]
        return out

    def decode(self, ids: np.ndarray | torch.Tensor) -> str:
        """The letters behind one row of token ids (padding and ``[CLS]`` skipped).

        Lossless for a record that was not truncated and has no unknown k-mer; an ``[UNK]``
        decodes as ``?`` letters.
        """
        vocab, k = self._fitted(), self.options.kmer
        kept = [int(i) for i in np.asarray(ids).ravel() if i not in (0, SPECIALS["cls"])]
        toks = [vocab[i - _FIRST] if i >= _FIRST else "?" * k for i in kept]
        if not toks:
            return ""
        if not self.options.overlap:
            return "".join(toks)
        return toks[0] + "".join(t[-1] for t in toks[1:])

    @property
    def input(self) -> TokensInput:
        """A ``tokens`` input: the vocabulary (specials included) and the length."""
        return TokensInput(vocab=self.vocab_size, max_len=self.length)

    def feature_names(self) -> list[str] | None:
        """None: the encoder's input is not a matrix of named features."""
        return None

    def token_names(self) -> list[str] | None:
        """Token names by id: the special tokens, then the vocabulary."""
        if self.vocab is None:
            return None
        return ["[PAD]", "[UNK]", "[CLS]", *map(str, self.vocab)]

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """No arrays; the options, the vocabulary (as text) and ``L`` in the meta dict."""
        meta = {
            "kind": "SequenceTransform",
            "options": self.options.model_dump(),
            "vocab": list(self._fitted()),
            "length": self.length,
        }
        return {}, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> SequenceTransform:
        """Rebuild from :meth:`state`'s output."""
        if meta.get("kind") != "SequenceTransform":
            raise ValueError("not the saved state of a SequenceTransform")
        st = cls(**meta["options"])
        st._set_vocab(np.array([st.coder.code_of(str(t)) for t in meta["vocab"]], np.int64))
        st.length = int(meta["length"])
        return st

    def _fitted(self) -> list[str]:
        if self.vocab is None:
            raise RuntimeError("SequenceTransform is not fitted; call fit() first")
        return self.vocab
