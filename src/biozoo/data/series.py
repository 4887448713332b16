"""Longitudinal numeric series: a reader (long CSV or a 3-D array) and the fold transform.

A series record is a float array ``[T_i, 1 + C]`` sorted by time: column 0 is the time of each
visit, columns 1.. the ``C`` channels, NaN where a channel was not measured at that visit.

:func:`read_series` reads

- ``format: long`` — a CSV/TSV with one row per (sample, time) and one column per channel (the
  layout of R's ``pbcseq`` or of an EHR extract). Times are numbers, or ISO dates turned into
  days since 1970-01-01. Samples come out in the order they first appear;
- ``format: npy`` — a regular 3-D array: ``.npz`` holding ``values`` ``[n, T, C]`` and ``ids``
  ``[n]`` (str), optionally ``lengths`` ``[n]`` (valid leading steps per sample; default T),
  ``times`` ``[n, T]`` (default 0, 1, 2...) and ``channels`` ``[C]`` (str); or a ``.npy`` of
  ``values`` with the ids one per line in a sibling ``<name>.ids.txt`` (``ecg.npy`` ->
  ``ecg.ids.txt``). Channel names: ``channels`` of the options, of the ``.npz``, else
  ``c0, c1...``.

:class:`SeriesTransform` standardises each channel with the training visits' mean and sd,
forward-fills missing values within a sample, adds the time since the first visit as a
channel, and pads every sample to one length (``series`` input kind), as for the LSTM of
Tomašev et al. 2019 (https://doi.org/10.1038/s41586-019-1390-1) on irregular EHR visits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field

from biozoo.errors import BiozooError
from biozoo.tasks import Task

__all__ = ["SeriesOptions", "SeriesTransform", "read_series"]

log = logging.getLogger(__name__)

_NA = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A", "-nan"]
_CHUNK = 4096  # samples transformed at a time


class SeriesOptions(BaseModel):
    """Options of a ``series`` modality (reader and transform); ``SeriesTransform.Config``.

    Attributes:
        format: ``long`` (CSV/TSV, one row per visit) or ``npy`` (``.npz`` / ``.npy`` array).
        sample_column: the long file's sample-id column (default: its first column).
        time_column: the long file's time column (default: its second column).
        channels: the channels to read, in order (default: every column but the id and time
            columns, skipping text columns where no value is a number, such as ``sex``; for
            ``npy``: the channel names, one per array channel).
        max_len: most visits per sample fed to the encoder.
        truncate: the visits KEPT of a longer series: ``tail`` (the most recent) or ``head``.
        time_channel: add the time since the sample's first visit (scaled) as a channel.
        impute: ``ffill`` (last observation carried forward within the sample; before the
            first one, the training mean) or ``zero`` (every missing value -> training mean);
            0 after standardisation either way.
        missing_indicator: add one channel per channel, 1 where it was measured at the visit.
    """

    model_config = ConfigDict(extra="forbid")
    format: Literal["long", "npy"] = "long"
    sample_column: str | None = None
    time_column: str | None = None
    channels: list[str] | None = None
    max_len: int = Field(256, ge=1)
    truncate: Literal["head", "tail"] = "tail"
    time_channel: bool = True
    impute: Literal["ffill", "zero"] = "ffill"
    missing_indicator: bool = False


# ---------------------------------------------------------------- reader


def read_series(
    path: Path, *, options: SeriesOptions | None = None, source: str | None = None
) -> tuple[pd.Series, list[str]]:
    """Read one ``[T_i, 1 + C]`` float64 array per sample, sorted by time.

    Args:
        path: a long ``.csv``/``.tsv`` (optionally ``.gz``), or a ``.npz``/``.npy`` array.
        options: the modality's options (``format``, columns, ``channels``).
        source: how to name the file in messages (default: the path).

    Returns:
        The records (object Series, index = str sample ids named ``sample_id``) and the ``C``
        channel names.

    Raises:
        BiozooError: the file or a column is missing, a value is not a number (naming the
            column and line), a (sample, time) pair repeats, a time or id is missing.
    """
    path, options = Path(path), options or SeriesOptions()
    where = source or str(path)
    if not path.is_file():
        raise BiozooError(f"series file {where} does not exist.")
    if options.format == "npy":
        return _read_array(path, where, options.channels)
    return _read_long(path, where, options)


def _read_long(path: Path, where: str, options: SeriesOptions) -> tuple[pd.Series, list[str]]:
    names = [s.lower() for s in path.suffixes]
    sep = "\t" if any(s in (".tsv", ".tab", ".txt") for s in names) else ","
    try:
        header = [str(c) for c in pd.read_csv(path, sep=sep, nrows=0).columns]
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as err:
        raise BiozooError(f"series file {where} could not be read: {_why(err)}.") from None
    shown = ", ".join(repr(c) for c in header[:8]) + (", ..." if len(header) > 8 else "")
    if len(header) < 3:
        raise BiozooError(
            f"long series file {where} needs a sample column, a time column and at least one "
            f"channel, but has {len(header)} columns ({shown})."
        )
    sid = options.sample_column or header[0]
    tcol = options.time_column or header[1]
    roles = [("sample", sid), ("time", tcol)] + [("channel", c) for c in options.channels or []]
    for role, col in roles:
        if col not in header:
            raise BiozooError(f"{role} column {col!r} is not in {where} (columns: {shown}).")
    na = {c: _NA for c in header if c != sid}
    try:
        frame = pd.read_csv(
            path, sep=sep, dtype={sid: str}, keep_default_na=False, na_values=na, low_memory=False
        )
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as err:
        raise BiozooError(f"series file {where} could not be parsed: {_why(err)}.") from None
    if options.channels is None:
        # a text column (no value reads as a number, e.g. sex) is not a channel; a number
        # column with a stray word is an error, raised by _numbers below
        channels = [c for c in frame.columns if c not in (sid, tcol) and not _is_text(frame[c])]
        skipped = [c for c in frame.columns if c not in (sid, tcol, *channels)]
        if skipped:
            log.info("series %s: non-numeric columns %s are not channels", where, skipped)
        if not channels:
            raise BiozooError(f"series file {where} has no numeric channel column ({shown}).")
    else:
        channels = list(options.channels)
    ids = frame[sid].to_numpy(dtype=object)
    missing = pd.isna(ids) | (ids == "")
    if missing.any():
        line = int(np.flatnonzero(missing)[0]) + 2
        raise BiozooError(f"line {line} of {where} has no sample id in column {sid!r}.")
    time = _times(frame[tcol], where)
    values = np.column_stack([time] + [_numbers(frame[c], where) for c in channels])
    if np.isinf(values).any():
        row, col = (int(v[0]) for v in np.nonzero(np.isinf(values)))
        name = ([tcol] + channels)[col]
        raise BiozooError(f"column {name!r} of {where} has an infinite value on line {row + 2}.")
    return _group(ids, values, where), channels


def _numbers(column: pd.Series, where: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    parsed = pd.to_numeric(column, errors="coerce")
    bad = (parsed.isna() & column.notna()).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BiozooError(
            f"column {column.name!r} of {where} holds a non-numeric value ({column.iloc[i]!r}) "
            f"on line {i + 2}; channels must be numbers, with empty cells or NA when missing."
        )
    return parsed.to_numpy(dtype=np.float64, na_value=np.nan)


def _is_text(column: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    return bool(pd.to_numeric(column, errors="coerce").isna().all())


def _times(column: pd.Series, where: str) -> np.ndarray:
    """Numbers as given, or ISO dates as days since 1970-01-01."""
    if pd.api.types.is_numeric_dtype(column):
        time = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        numbers = pd.to_numeric(column, errors="coerce")
        dates = pd.to_datetime(column, errors="coerce", format="ISO8601")
        bad_n = (numbers.isna() & column.notna()).to_numpy()
        bad_d = (dates.isna() & column.notna()).to_numpy()
        bad = bad_n if bad_n.sum() <= bad_d.sum() else bad_d  # name a value of the minority
        if bad_n.any() and bad_d.any():
            i = int(np.flatnonzero(bad)[0])
            raise BiozooError(
                f"time column {column.name!r} of {where} holds {column.iloc[i]!r} on line "
                f"{i + 2}, neither a number nor an ISO date."
            )
        if not bad_n.any():
            time = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            epoch = pd.Timestamp("1970-01-01", tz=dates.dt.tz)
            days = (dates - epoch) / pd.Timedelta(days=1)
            time = days.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(time).any():
        line = int(np.flatnonzero(np.isnan(time))[0]) + 2
        raise BiozooError(f"line {line} of {where} has no time in column {column.name!r}.")
    return time


def _group(ids: np.ndarray, values: np.ndarray, where: str) -> pd.Series:
    """One time-sorted array per sample, samples in order of first appearance."""
    codes, uniques = pd.factorize(ids)
    order = np.lexsort((values[:, 0], codes))
    c, t = codes[order], values[order, 0]
    dup = np.flatnonzero((c[1:] == c[:-1]) & (t[1:] == t[:-1]))
    if len(dup):
        a, b = sorted((int(order[dup[0]]) + 2, int(order[dup[0] + 1]) + 2))
        raise BiozooError(
            f"sample {uniques[c[dup[0]]]!r} has two rows at time {t[dup[0]]:g} in {where} "
            f"(lines {a} and {b}); each (sample, time) must appear once."
        )
    bounds = np.flatnonzero(np.diff(c)) + 1
    records = np.split(values[order], bounds)
    index = pd.Index([str(u) for u in uniques], dtype=object, name="sample_id")
    return pd.Series(records, index=index, dtype=object, name="series")


def _read_array(path: Path, where: str, channels: list[str] | None) -> tuple[pd.Series, list[str]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "values" not in z or "ids" not in z:
                    raise BiozooError(
                        f"series file {where} must hold arrays 'values' and 'ids' "
                        f"(it has {', '.join(z.files) or 'none'})."
                    )
                arrays = {k: z[k] for k in z.files}
        elif suffix == ".npy":
            ids_file = path.with_suffix(".ids.txt")
            if not ids_file.is_file():
                raise BiozooError(f"series array {where} needs its sample ids in {ids_file}.")
            lines = [x.strip() for x in ids_file.read_text().splitlines()]
            arrays = {"values": np.load(path, allow_pickle=False), "ids": [x for x in lines if x]}
        else:
            raise BiozooError(f"series format npy reads .npz or .npy files, not {where}.")
    except (OSError, ValueError) as err:
        raise BiozooError(f"series file {where} could not be read: {_why(err)}.") from None
    values = np.asarray(arrays["values"], dtype=np.float64)
    ids = [str(i) for i in np.asarray(arrays["ids"]).ravel()]
    if values.ndim != 3 or len(ids) != len(values):
        raise BiozooError(
            f"series array {where} must be [n, T, C] with one id per sample, but values have "
            f"shape {values.shape} and there are {len(ids)} ids."
        )
    n, T, C = values.shape
    lengths = np.asarray(arrays.get("lengths", np.full(n, T)), dtype=np.int64).ravel()
    times = np.asarray(arrays.get("times", np.broadcast_to(np.arange(T, dtype=float), (n, T))))
    if len(lengths) != n or (lengths < 1).any() or (lengths > T).any() or times.shape != (n, T):
        raise BiozooError(
            f"series array {where}: 'lengths' must be [n] in 1..{T} and 'times' [n, {T}]."
        )
    names = channels or [str(c) for c in arrays.get("channels", [f"c{j}" for j in range(C)])]
    if len(names) != C:
        raise BiozooError(f"series array {where} has {C} channels but {len(names)} names.")
    if np.isinf(values).any() or np.isnan(times).any():
        raise BiozooError(f"series array {where} has infinite values or missing times.")
    records = [np.column_stack([times[i, : lengths[i]], values[i, : lengths[i]]]) for i in range(n)]
    for i, r in enumerate(records):
        if (np.diff(r[:, 0]) <= 0).any():
            raise BiozooError(f"sample {ids[i]!r} of {where} has times that do not increase.")
    index = pd.Index(ids, dtype=object, name="sample_id")
    if index.duplicated().any():
        raise BiozooError(f"sample id {index[index.duplicated()][0]!r} repeats in {where}.")
    return pd.Series(records, index=index, dtype=object, name="series"), names


def _why(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text.rstrip(".")


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
    type: ClassVar[str] = "series"

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
    def input_info(self) -> dict[str, Any]:
        """The ``in_dim`` of a ``series`` encoder."""
        return {"kind": "series", "channels": len(self.channels_out), "max_len": self.length}

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
