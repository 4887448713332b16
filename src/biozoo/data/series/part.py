"""Longitudinal numeric series: the fold transform (reading: :mod:`biozoo.data.series.read`).

A series record is a float array ``[T_i, 1 + C]`` sorted by time: column 0 is the time of each
visit, columns 1.. the ``C`` channels, NaN where a channel was not measured at that visit.

:class:`SeriesTransform` standardises each channel with the training visits' mean and sd,
forward-fills missing values within a sample, adds the time since the first visit as a
channel, and pads every sample to one length (``series`` input kind), as for the LSTM of
Tomašev et al. 2019 (https://doi.org/10.1038/s41586-019-1390-1) on irregular EHR visits.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel

from biozoo.data.series.read import SeriesOptions
from biozoo.errors import BiozooError
from biozoo.inputs import SeriesInput
from biozoo.tasks import Task

_NA = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A", "-nan"]
_CHUNK = 4096  # samples transformed at a time


__all__ = ["SeriesTransform"]

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- fold transform


class _Rows:
    """The visits of a batch of samples stacked as rows, with per-row bookkeeping."""

    def __init__(self, records: list[np.ndarray], n_channels: int, where: str) -> None:
        for r in records:
            if r.ndim != 2 or r.shape[1] != n_channels + 1:
                raise BiozooError(
                    f"a series of {where} has shape {r.shape}, expected [T, {n_channels + 1}] "
                    f"(time then {n_channels} channels)."
                )
        self.lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
        stacked = np.concatenate(records).astype(np.float64, copy=False)
        self.sample = np.repeat(np.arange(len(records)), self.lengths)
        self.starts = np.cumsum(self.lengths) - self.lengths
        t = stacked[:, 0]
        if ((np.diff(t) < 0) & (self.sample[1:] == self.sample[:-1])).any():
            stacked = stacked[np.lexsort((t, self.sample))]
        self.time = stacked[:, 0]
        self.values = stacked[:, 1:]
        self.pos = np.arange(len(stacked)) - self.starts[self.sample]

    def since_first(self) -> np.ndarray:
        return self.time - self.time[self.starts][self.sample]

    def _last_seen_row(self) -> np.ndarray:
        """Per row and channel: the row of the sample's latest observation so far, or -1."""
        seen = ~np.isnan(self.values)
        last = np.where(seen, np.arange(len(seen))[:, None], -1)
        np.maximum.accumulate(last, axis=0, out=last)
        last[last < self.starts[self.sample][:, None]] = -1  # carried from the previous sample
        return last

    def ffill(self) -> np.ndarray:
        """Last observation carried forward within each sample (NaN before the first)."""
        last = self._last_seen_row()
        out = np.take_along_axis(self.values, np.maximum(last, 0), axis=0)
        out[last < 0] = np.nan
        return out

    def last_values(self) -> np.ndarray:
        """Per sample, each channel's latest observed value (NaN if never observed)."""
        last = self._last_seen_row()[self.starts + self.lengths - 1]  # (n, C)
        out = self.values[np.maximum(last, 0), np.arange(last.shape[1])]
        out[last < 0] = np.nan
        return out


def _present(mod: Any) -> tuple[list[np.ndarray], np.ndarray]:
    records = np.asarray(mod.records, dtype=object)
    filled = np.fromiter((r is not None and len(r) > 0 for r in records), bool, len(records))
    has = np.asarray(mod.present, dtype=bool) & filled  # an empty record counts as absent
    rows = np.flatnonzero(has)
    return [np.asarray(records[i], dtype=np.float64) for i in rows], rows


def _nan_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and sd ignoring NaN; 0 / 1 where a column has no value or no spread."""
    seen = ~np.isnan(x)
    count = np.maximum(seen.sum(axis=0), 1)
    mean = np.where(seen, x, 0.0).sum(axis=0) / count
    centred = np.where(seen, x - mean, 0.0)
    sd = np.sqrt(np.einsum("ij,ij->j", centred, centred) / count)
    return mean, np.where(sd > 0, sd, 1.0)


class SeriesTransform:
    """Standardised, imputed, padded series, statistics from the training visits of a fold.

    Channels out, in order: the ``C`` standardised channels, then (``missing_indicator``) ``C``
    indicators, then (``time_channel``) the time since the sample's first visit (before
    truncation) divided by the sd of that quantity over the training visits. Visits are laid
    out from position 0 (left-aligned), oldest first; padding has mask False.

    Args:
        format, sample_column, time_column, channels: the reader's options (ignored here).
        max_len, truncate, time_channel, impute, missing_indicator: see :class:`SeriesOptions`.

    Shape:
        - transform: ``values`` float32 ``[n, T, C']`` and ``mask`` bool ``[n, T]`` with
          ``T = min(max_len, longest training series)``, fixed at fit; absent samples all zero.
        - flat: float32 ``[n, 2C + 2]``: last observed value and mean over visits of each
          channel, number of visits, follow-up length (last minus first visit time), each
          column standardised with training statistics (0 where missing). Computed on the whole
          series, not only the kept visits.
    """

    Config: ClassVar[type[BaseModel]] = SeriesOptions
    type: ClassVar[str] = "series/visits"

    def __init__(
        self,
        *,
        format: Literal["long", "npy"] = "long",
        sample_column: str | None = None,
        time_column: str | None = None,
        channels: list[str] | None = None,
        max_len: int = 256,
        truncate: Literal["head", "tail"] = "tail",
        time_channel: bool = True,
        impute: Literal["ffill", "zero"] = "ffill",
        missing_indicator: bool = False,
    ) -> None:
        self.options = SeriesOptions(
            format=format,
            sample_column=sample_column,
            time_column=time_column,
            channels=channels,
            max_len=max_len,
            truncate=truncate,
            time_channel=time_channel,
            impute=impute,
            missing_indicator=missing_indicator,
        )
        self.channels: list[str] | None = None
        self.length = 0
        self._arrays: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        fitted = f", channels={self.channels}, T={self.length}" if self.channels else ""
        return f"SeriesTransform(impute={self.options.impute!r}{fitted})"

    @property
    def report(self) -> dict[str, int]:
        """What fit learned, for the run's summary."""
        return {"channels": len(self.channels_out), "length": self.length} if self.channels else {}

    @property
    def channels_out(self) -> list[str]:
        """Names of the ``C'`` output channels."""
        names = list(self._fitted())
        if self.options.missing_indicator:
            names += [f"{c}_observed" for c in self.channels or []]
        return names + (["time_since_first"] if self.options.time_channel else [])

    def fit(
        self, mod: Any, y: np.ndarray | None = None, task: Task | None = None
    ) -> SeriesTransform:
        """Learn channel statistics, time scale and flat statistics from the training visits."""
        records, _ = _present(mod)
        if not records:
            raise BiozooError(f"no training sample has a series in {mod.source or mod.name}.")
        meta = getattr(mod, "meta", None) or {}
        C = records[0].shape[1] - 1
        names = [str(c) for c in meta.get("channels", [f"c{j}" for j in range(C)])]
        rows = _Rows(records, len(names), mod.source or mod.name)
        mean, sd = _nan_stats(rows.values)
        scale = float(rows.since_first().std()) or 1.0
        self.channels = names
        self._arrays = {"mean": mean, "sd": sd, "time_scale": np.array([scale])}
        flat_mean, flat_sd = _nan_stats(self._flat_raw(rows))
        self._arrays.update(flat_mean=flat_mean, flat_sd=flat_sd)
        self.length = min(self.options.max_len, int(rows.lengths.max()))
        seen = (~np.isnan(rows.values)).any(axis=0)
        empty = [name for name, s in zip(names, seen, strict=True) if not s]
        if empty:
            log.warning("series channels never measured in the training visits: %s", empty)
        return self

    def _features(self, rows: _Rows) -> np.ndarray:
        """Per-visit output channels ``[N, C']`` (float32)."""
        a = self._arrays
        raw = rows.ffill() if self.options.impute == "ffill" else rows.values
        cols = [np.nan_to_num((raw - a["mean"]) / a["sd"], nan=0.0)]
        if self.options.missing_indicator:
            cols.append((~np.isnan(rows.values)).astype(np.float64))
        if self.options.time_channel:
            cols.append((rows.since_first() / a["time_scale"][0])[:, None])
        return np.concatenate(cols, axis=1).astype(np.float32)

    def transform(self, mod: Any) -> dict[str, torch.Tensor]:
        """Padded values and visit mask of every sample (absent ones all zero / False)."""
        names = self._fitted()
        n, T = len(mod.present), self.length
        values = np.zeros((n, T, len(self.channels_out)), dtype=np.float32)
        mask = np.zeros((n, T), dtype=bool)
        records, rows = _present(mod)
        for start in range(0, len(records), _CHUNK):
            r = _Rows(records[start : start + _CHUNK], len(names), mod.source or mod.name)
            tail = self.options.truncate == "tail"
            skip = np.maximum(r.lengths - T, 0) if tail else np.zeros_like(r.lengths)
            col = r.pos - skip[r.sample]  # position in the kept window
            keep = (col >= 0) & (col < T)
            target = rows[start : start + _CHUNK][r.sample[keep]]
            values[target, col[keep]] = self._features(r)[keep]
            mask[target, col[keep]] = True
        return {"values": torch.from_numpy(values), "mask": torch.from_numpy(mask)}

    def _flat_raw(self, rows: _Rows) -> np.ndarray:
        a = self._arrays
        last = rows.last_values()
        seen = ~np.isnan(rows.values)
        total = np.add.reduceat(np.where(seen, rows.values, 0.0), rows.starts, axis=0)
        count = np.add.reduceat(seen.astype(np.float64), rows.starts, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
        follow = rows.since_first()[rows.starts + rows.lengths - 1]
        return np.column_stack(
            [(last - a["mean"]) / a["sd"], (mean - a["mean"]) / a["sd"], rows.lengths, follow]
        )

    def flat(self, mod: Any) -> np.ndarray:
        """Last visit, mean visit, visit count and follow-up per sample (the classical baseline)."""
        names = self._fitted()
        a = self._arrays
        out = np.zeros((len(mod.present), 2 * len(names) + 2), dtype=np.float32)
        records, rows = _present(mod)
        for start in range(0, len(records), _CHUNK):
            r = _Rows(records[start : start + _CHUNK], len(names), mod.source or mod.name)
            z = (self._flat_raw(r) - a["flat_mean"]) / a["flat_sd"]
            out[rows[start : start + _CHUNK]] = np.nan_to_num(z, nan=0.0)
        return out

    @property
    def input(self) -> SeriesInput:
        """A ``series`` input: the channels fed to the encoder and the length."""
        return SeriesInput(channels=len(self.channels_out), max_len=self.length)

    def feature_names(self) -> list[str] | None:
        """None: the encoder's input is not a matrix of named features."""
        return None

    def token_names(self) -> list[str] | None:
        """None: a series' tokens are its visits, named by position."""
        return None

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays ``mean``, ``sd``, ``time_scale``, ``flat_mean``, ``flat_sd``; options in meta."""
        names = self._fitted()
        meta = {
            "kind": "SeriesTransform",
            "options": self.options.model_dump(),
            "channels": list(names),
            "length": self.length,
        }
        return {k: np.ascontiguousarray(v) for k, v in self._arrays.items()}, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> SeriesTransform:
        """Rebuild from :meth:`state`'s output."""
        keys = {"mean", "sd", "time_scale", "flat_mean", "flat_sd"}
        if meta.get("kind") != "SeriesTransform" or set(arrays) != keys:
            raise ValueError("not the saved state of a SeriesTransform")
        st = cls(**meta["options"])
        st.channels = [str(c) for c in meta["channels"]]
        st.length = int(meta["length"])
        st._arrays = {k: np.asarray(arrays[k], dtype=np.float64) for k in keys}
        return st

    def _fitted(self) -> list[str]:
        if self.channels is None:
            raise RuntimeError("SeriesTransform is not fitted; call fit() first")
        return self.channels
