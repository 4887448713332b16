"""Reading a ``series`` modality: visits of a long CSV/TSV file, or an ``.npz``/``.npy`` array.

:class:`SeriesOptions` holds the modality's options (reader and transform); :func:`read_series`
gives one float array ``[T_i, 1 + C]`` per sample, column 0 the time.

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
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from biozoo.data.arrays import read_id_arrays, reason
from biozoo.errors import BiozooError

_NA = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A", "-nan"]
_CHUNK = 4096  # samples transformed at a time


__all__ = ["SeriesOptions", "read_series"]

log = logging.getLogger(__name__)


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
        raise BiozooError(f"series file {where} could not be read: {reason(err)}.") from None
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
        raise BiozooError(f"series file {where} could not be parsed: {reason(err)}.") from None
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
    arrays = read_id_arrays(path, where, "series")
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

