"""Cell2Sentence tokens: each sample as its most expressed genes, in descending order.

Cell2Sentence (Levine et al. 2023, https://doi.org/10.1101/2023.09.11.557287) writes a cell as
the names of its genes sorted by decreasing expression; a language model then reads that
"sentence". :class:`GeneRankTokenizer` keeps the ``top_k`` first words of the sentence as token
ids for a ``tokens`` encoder (Transformer, Mamba, LSTM...). With ``value_bins`` each gene token
also carries its binned expression (scGPT-style, :mod:`biozoo.data.table.value_bins`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from biozoo.data.table.transform import feature_positions
from biozoo.data.table.value_bins import ValueBins
from biozoo.errors import BiozooError
from biozoo.inputs import TokensInput
from biozoo.tasks import Task

__all__ = ["ColumnScaler", "GeneRankTokenizer", "top_genes"]

SPECIALS = {"pad": 0, "unk": 1, "cls": 2}
_FIRST = 3  # id of the first gene token
_ROWS = 2048  # samples ranked at a time: bounds the int64 key matrix
_BLOCK = 1 << 23  # values per float64 block of column statistics (64 MiB)


def top_genes(values: np.ndarray, k: int, min_value: float = 0.0) -> np.ndarray:
    """Columns of the ``k`` largest values of each row, largest first.

    Ties are broken by column order (the earlier column first); values ``<= min_value`` and
    NaN are never chosen. Each row is ranked with an exact integer key (the float's order-
    preserving bits, then the column) by ``argpartition``, and only the ``k`` winners are
    sorted: ``O(p + k log k)`` per row.

    Args:
        values: ``[n, p]`` float.
        k: how many columns per row.
        min_value: only values strictly above it are ranked.

    Returns:
        int64 ``[n, k]`` column indices, ``-1`` after the last chosen column of a row.
    """
    n, p = values.shape
    kk = min(k, p)
    out = np.full((n, k), -1, dtype=np.int64)
    rank = np.arange(p, dtype=np.int64)  # ties: the earlier column first
    for start in range(0, n, _ROWS):
        v = np.asarray(values[start : start + _ROWS], dtype=np.float32)
        ok = v > min_value  # False for NaN
        bits = np.where(ok, v, np.float32(-np.inf)).view(np.int32)
        bits ^= (bits >> 31) & 0x7FFFFFFF  # float order as signed integer order
        key = bits.astype(np.int64)
        np.negative(key, out=key)  # ascending key = descending value
        key <<= 32
        key += rank  # unique per row: no tie left to chance
        part = np.argpartition(key, kk - 1, axis=1)[:, :kk]  # the kk best, any order
        order = np.argsort(np.take_along_axis(key, part, axis=1), axis=1)
        top = np.take_along_axis(part, order, axis=1)
        top[~np.take_along_axis(ok, top, axis=1)] = -1
        out[start : start + len(v), :kk] = top
    return out


def _blocks(n: int, p: int) -> list[slice]:
    """Row slices of about ``_BLOCK`` values each."""
    step = max(1, _BLOCK // max(p, 1))
    return [slice(i, i + step) for i in range(0, n, step)]


def _nan_medians(values: np.ndarray) -> np.ndarray:
    """Median of each column ignoring NaN (NaN where a column has no value).

    Columns are sorted in blocks (float32, NaN last) and the middle of the observed values
    read off: numpy's SIMD sort beats ``np.nanmedian``'s per-column selection several times.
    """
    n, p = values.shape
    out = np.full(p, np.nan)
    step = max(1, _BLOCK // max(n, 1))
    for start in range(0, p, step):
        cols = slice(start, start + step)
        block = np.empty((min(step, p - start), n), dtype=np.float32)  # (c, n)
        for r in range(0, n, 2048):  # tiled transpose: a strided column read is far slower
            block[:, r : r + 2048] = values[r : r + 2048, cols].T
        block.sort(axis=1)
        count = (~np.isnan(block)).sum(axis=1)
        rows = np.flatnonzero(count > 0)
        lo = block[rows, (count[rows] - 1) // 2].astype(np.float64)
        hi = block[rows, count[rows] // 2].astype(np.float64)
        out[start + rows] = (lo + hi) / 2
    return out


def _present_rows(mod: Any) -> np.ndarray | slice:
    present = np.asarray(mod.present, dtype=bool)
    return slice(None) if present.all() else present  # a full mask would copy the table


class ColumnScaler:
    """Per-column fill value and standardisation, fitted on training rows (for ``flat``).

    A missing value becomes the column's training median (``impute="median"``) or mean
    (``"mean"``, i.e. 0 after standardisation); then each column is standardised with its
    training mean and sd after filling (sd 1 where constant; a column with no training value is
    all 0). Means and sds accumulate over blocks of rows in float64; medians sort blocks of
    columns in float32. No float64 copy of the whole table is made.

    Args:
        impute: ``median`` or ``mean``.
    """

    def __init__(self, impute: str = "median") -> None:
        if impute not in ("median", "mean"):
            raise ValueError(f"impute must be 'median' or 'mean', got {impute!r}")
        self.impute = impute
        self.features: list[str] = []
        self.fill = self.mean = self.sd = np.zeros(0)

    def fit(self, values: np.ndarray, features: list[str]) -> ColumnScaler:
        """Learn fill values, means and sds from the training rows ``values`` ``[n, p]``.

        Raises:
            BiozooError: a training value is infinite.
        """
        n, p = values.shape
        self.features = [str(f) for f in features]
        total, count = np.zeros(p), np.zeros(p)
        for rows in _blocks(n, p):
            block = values[rows].astype(np.float64)
            if np.isinf(block).any():
                name = self.features[int(np.isinf(block).any(axis=0).argmax())]
                raise BiozooError(f"feature {name!r} has infinite values in the training rows.")
            seen = ~np.isnan(block)
            total += np.where(seen, block, 0.0).sum(axis=0)
            count += seen.sum(axis=0)
        mean_seen = total / np.maximum(count, 1)
        fill = _nan_medians(values) if self.impute == "median" else mean_seen
        self.fill = np.where(count > 0, fill, 0.0)
        self.mean = (total + (n - count) * self.fill) / max(n, 1)
        squares = (n - count) * (self.fill - self.mean) ** 2  # the filled cells
        for rows in _blocks(n, p):
            centred = values[rows].astype(np.float64) - self.mean
            centred[np.isnan(centred)] = 0.0
            squares += np.einsum("ij,ij->j", centred, centred)
        sd = np.sqrt(squares / max(n, 1))
        self.sd = np.where(sd > 0, sd, 1.0)
        return self

    def transform(self, values: np.ndarray, features: list[str], *, source: str = "") -> np.ndarray:
        """Filled, standardised float32 ``[m, p]``; columns matched to the fitted ones by name.

        Raises:
            BiozooError: ``features`` lacks some fitted feature.
        """
        names = [str(f) for f in features]
        index = None
        if names != self.features:
            pos = feature_positions(names, self.features, source or "the new data")
            index = np.array([pos[f] for f in self.features], dtype=np.int64)
        m, p = len(values), len(self.features)
        out = np.empty((m, p), dtype=np.float32)
        for rows in _blocks(m, p):
            block = values[rows] if index is None else values[rows][:, index]
            block = block.astype(np.float64)
            nan = np.isnan(block)
            block[nan] = np.broadcast_to(self.fill, block.shape)[nan]
            out[rows] = (block - self.mean) / self.sd
        return out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays ``fill``, ``mean``, ``sd``; the options and feature names in meta."""
        arrays = {"fill": self.fill, "mean": self.mean, "sd": self.sd}
        return arrays, {"impute": self.impute, "features": list(self.features)}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> ColumnScaler:
        """Rebuild from :meth:`state`'s output."""
        scaler = cls(meta["impute"])
        scaler.features = [str(f) for f in meta["features"]]
        scaler.fill, scaler.mean, scaler.sd = (
            np.asarray(arrays[k], dtype=np.float64) for k in ("fill", "mean", "sd")
        )
        return scaler


class GeneRankTokenizer:
    """Top-k expressed genes as tokens; vocabulary from the training samples of a fold.

    Each present sample becomes ``[CLS]`` (when ``cls_token``) followed by the ids of its
    ``top_k`` most expressed genes in decreasing order (ties: table order; values
    ``<= min_value`` and missing values never). Ids: 0 pad, 1 ``[UNK]`` (a gene that is in no
    training sample's top-k), 2 ``[CLS]``, 3.. the vocabulary genes in table order.

    Args:
        top_k: genes per sample.
        cls_token: put ``[CLS]`` at position 0.
        min_value: only genes expressed above this are tokens (0: zeros never are).
        value_bins: 0 (tokens only), or the number of expression bins: each gene token then
            also carries the bin of its value among that gene's values in the training
            samples (:class:`~biozoo.data.table.value_bins.ValueBins`, fitted with the
            vocabulary).

    Shape:
        - transform: ``tokens`` Long ``[n, L]``, ``mask`` Bool ``[n, L]``, ``L = top_k + 1``
          with ``[CLS]`` (else ``top_k``); samples with fewer expressed genes are padded.
          With ``value_bins``: ``values`` Long ``[n, L]``, ``VALUE_FIRST + bin`` per gene
          token, 0 for ``[CLS]`` and padding.
        - flat: float32 ``[n, p]``: the table with missing values replaced by training
          medians, standardised with training mean and sd (:class:`ColumnScaler`), for the
          classical baselines.
    """

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        top_k: int = Field(64, ge=1)
        cls_token: bool = True
        min_value: float = 0.0
        value_bins: int = Field(0, ge=0)

        @field_validator("value_bins")
        @classmethod
        def _bins(cls, v: int) -> int:
            if v == 1:
                raise ValueError("value_bins must be 0 (no values) or at least 2")
            return v

    type: ClassVar[str] = "table/gene_rank"

    def __init__(
        self,
        *,
        top_k: int = 64,
        cls_token: bool = True,
        min_value: float = 0.0,
        value_bins: int = 0,
    ) -> None:
        self.options = self.Config(
            top_k=top_k, cls_token=cls_token, min_value=min_value, value_bins=value_bins
        )
        self.features: list[str] = []
        self.genes: list[str] | None = None
        self.table = ColumnScaler("median")
        self.bins = ValueBins(value_bins, min_value) if value_bins else None

    def __repr__(self) -> str:
        fitted = f", vocab={self.vocab_size}" if self.genes is not None else ""
        return f"GeneRankTokenizer(top_k={self.options.top_k}{fitted})"

    @property
    def vocab_size(self) -> int:
        return _FIRST + len(self._fitted())

    @property
    def report(self) -> dict[str, int]:
        """What fit learned, for the run's summary."""
        return {"genes": len(self.genes), "features": len(self.features)} if self.genes else {}

    @property
    def length(self) -> int:
        return self.options.top_k + int(self.options.cls_token)

    def fit(
        self, mod: Any, y: np.ndarray | None = None, task: Task | None = None
    ) -> GeneRankTokenizer:
        """Vocabulary = genes in the top-k of at least one present training sample."""
        rows = _present_rows(mod)
        values = np.asarray(mod.values)[rows]
        if len(values) == 0:
            raise BiozooError(f"no training sample has table {mod.source or mod.name}.")
        top = top_genes(values, self.options.top_k, self.options.min_value)
        seen = np.zeros(values.shape[1], dtype=bool)
        seen[top[top >= 0]] = True
        if not seen.any():
            raise BiozooError(
                f"no training sample of {mod.source or mod.name} has a gene above "
                f"{self.options.min_value:g}, so gene_rank has no token."
            )
        self.features = [str(f) for f in mod.features]
        self.genes = [self.features[j] for j in np.flatnonzero(seen)]
        self.table.fit(values, self.features)
        if self.bins is not None:
            self.bins.fit(values)
        return self

    def _ranked(self, mod: Any) -> tuple[np.ndarray, np.ndarray]:
        """Top-k columns of the present samples, and their row positions."""
        top, rows, _ = self._ranked_values(mod)
        return top, rows

    def _ranked_values(self, mod: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k columns of the present samples, their row positions and their values."""
        present = np.asarray(mod.present, dtype=bool)
        rows = np.flatnonzero(present)
        values = np.asarray(mod.values)
        values = values if present.all() else values[rows]
        return top_genes(values, self.options.top_k, self.options.min_value), rows, values

    def transform(self, mod: Any) -> dict[str, torch.Tensor]:
        """Token ids and mask of every sample (absent ones all padding)."""
        vocab = {g: _FIRST + i for i, g in enumerate(self._fitted())}
        lut = np.array([vocab.get(str(f), SPECIALS["unk"]) for f in mod.features] + [0])
        top, rows, values = self._ranked_values(mod)
        cls = int(self.options.cls_token)
        tokens = np.zeros((len(mod.present), self.length), dtype=np.int64)
        tokens[rows, cls:] = lut[top]  # -1 picks the trailing 0: padding
        if cls:
            tokens[rows, 0] = SPECIALS["cls"]
        tokens_t = torch.from_numpy(tokens)
        out = {"tokens": tokens_t, "mask": tokens_t != SPECIALS["pad"]}
        if self.bins is not None:
            names = [str(f) for f in mod.features]
            bins = self.bins
            if names != self.features:  # the fitted edges of each column, by name
                fitted = {f: i for i, f in enumerate(self.features)}
                bins = bins.reordered([fitted.get(f, -1) for f in names])
            ids = np.zeros_like(tokens)
            ids[rows, cls:] = bins.transform(values, top)
            out["values"] = torch.from_numpy(ids)
        return out

    def tokens_of(self, mod: Any) -> list[list[str]]:
        """Gene names per sample aligned with the token positions (``[CLS]`` first).

        A gene outside the vocabulary keeps its name (its id is ``[UNK]``); absent samples
        give an empty list.
        """
        self._fitted()
        names = [str(f) for f in mod.features]
        head = ["[CLS]"] if self.options.cls_token else []
        out: list[list[str]] = [[] for _ in range(len(mod.present))]
        top, rows = self._ranked(mod)
        for row, cols in zip(rows, top, strict=True):
            out[row] = head + [names[j] for j in cols if j >= 0]
        return out

    def flat(self, mod: Any) -> np.ndarray:
        """The imputed, standardised table (zero rows for absent samples)."""
        self._fitted()
        x = self.table.transform(np.asarray(mod.values), list(mod.features), source=mod.source)
        x[~np.asarray(mod.present, dtype=bool)] = 0.0
        return x

    @property
    def input(self) -> TokensInput:
        """A ``tokens`` input: the vocabulary (specials included) and the length."""
        values = 0 if self.bins is None else self.bins.n_ids
        return TokensInput(vocab=self.vocab_size, max_len=self.length, values=values)

    def feature_names(self) -> list[str] | None:
        """None: the encoder's input is not a matrix of named features."""
        return None

    def token_names(self) -> list[str] | None:
        """Token names by id: the special tokens, then the vocabulary."""
        if getattr(self, "genes", None) is None:
            return None
        return ["[PAD]", "[UNK]", "[CLS]", *map(str, getattr(self, "genes", None))]

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The scaler's arrays (prefixed ``table.``); vocabulary and options in meta."""
        arrays, table_meta = self.table.state()
        meta = {
            "kind": "GeneRankTokenizer",
            "options": self.options.model_dump(),
            "genes": list(self._fitted()),
            "table": table_meta,
        }
        arrays = {f"table.{k}": v for k, v in arrays.items()}
        if self.bins is not None:
            arrays["value_edges"] = self.bins.edges
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> GeneRankTokenizer:
        """Rebuild from :meth:`state`'s output."""
        if meta.get("kind") != "GeneRankTokenizer":
            raise ValueError("not the saved state of a GeneRankTokenizer")
        tok = cls(**meta["options"])
        tok.genes = [str(g) for g in meta["genes"]]
        table = {k.removeprefix("table."): v for k, v in arrays.items() if k != "value_edges"}
        tok.table = ColumnScaler.from_state(table, meta["table"])
        tok.features = list(tok.table.features)
        if tok.bins is not None:
            tok.bins.edges = np.asarray(arrays["value_edges"], dtype=np.float64)
        return tok

    def _fitted(self) -> list[str]:
        if self.genes is None:
            raise RuntimeError("GeneRankTokenizer is not fitted; call fit() first")
        return self.genes
