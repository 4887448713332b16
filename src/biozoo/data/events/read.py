"""Reading an ``events`` modality: life-event histories from a long CSV/TSV file.

One row per event: a patient id, the age at the event (years) and the event's code, plus
optional covariate columns (``sex``, ...) that are constant within a patient (the first
row's value is kept). A row whose code is empty records the patient without an event (a
registration row carrying the covariates). Rows of one patient are in age order.

:class:`EventsOptions` holds the modality's options (reader and view); :func:`read_events`
gives one :class:`History` per patient, in the order patients first appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from biozoo.errors import BiozooError

__all__ = ["EventsOptions", "History", "histories_from_frame", "read_events"]

_NA = {"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A"}


class EventsOptions(BaseModel):
    """Options of an ``events`` modality (reader and view); ``EventTokens.Config``.

    Attributes:
        patient_column, age_column, code_column: the long file's columns.
        covariates: numeric per-patient columns fed beside the events (e.g. ``sex`` as 0/1).
        max_len: most events per patient fed to the encoder.
        truncate: the events KEPT of a longer history: ``tail`` (the latest) or ``head``.
        min_patients: a code becomes a token when at least this many training patients have
            it; rarer codes read as ``[UNK]``.
    """

    model_config = ConfigDict(extra="forbid")
    patient_column: str = "patient"
    age_column: str = "age"
    code_column: str = "code"
    covariates: list[str] = Field(default_factory=list)
    max_len: int = Field(256, ge=1)
    truncate: Literal["head", "tail"] = "tail"
    min_patients: int = Field(1, ge=1)


@dataclass(frozen=True, eq=False)
class History:
    """One patient's events.

    Attributes:
        ages: float64 ``[T]``, non-decreasing, in years.
        codes: str ``[T]`` (object array), the event codes.
        covariates: float64 ``[c]``, the options' covariates in order.
    """

    ages: np.ndarray
    codes: np.ndarray
    covariates: np.ndarray

    def __len__(self) -> int:
        return len(self.ages)

    def until(self, age: float) -> History:
        """The events at or before ``age``."""
        keep = self.ages <= age
        return History(self.ages[keep], self.codes[keep], self.covariates)


def read_events(
    path: Path, *, options: EventsOptions | None = None, source: str | None = None
) -> pd.Series:
    """Read one :class:`History` per patient from a long CSV/TSV (``.gz`` allowed).

    Raises:
        BiozooError: the file or a column is missing, an age is not a non-negative number,
            a covariate is not a number, ages decrease within a patient (each naming the
            line), or a patient has no event.
    """
    path, options = Path(path), options or EventsOptions()
    where = source or str(path)
    if not path.is_file():
        raise BiozooError(f"events file {where} does not exist.")
    sep = "\t" if any(s.lower() in (".tsv", ".tab", ".txt") for s in path.suffixes) else ","
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as err:
        reason = str(err).splitlines()[0].rstrip(".") if str(err) else type(err).__name__
        raise BiozooError(f"events file {where} could not be read: {reason}.") from None
    return histories_from_frame(frame, options, where)


def histories_from_frame(frame: pd.DataFrame, options: EventsOptions, where: str) -> pd.Series:
    """One :class:`History` per patient of a long frame (see :func:`read_events`).

    Line numbers in messages count the header as line 1.
    """
    pid, age, code = options.patient_column, options.age_column, options.code_column
    header = [str(c) for c in frame.columns]
    shown = ", ".join(repr(c) for c in header[:8]) + (", ..." if len(header) > 8 else "")
    roles = [("patient", pid), ("age", age), ("code", code)]
    for role, col in roles + [("covariate", c) for c in options.covariates]:
        if col not in header:
            raise BiozooError(f"{role} column {col!r} is not in {where} (columns: {shown}).")
    if frame.empty:
        raise BiozooError(f"events file {where} has no rows.")
    text = frame[[pid, age, code, *options.covariates]].astype(str).apply(lambda s: s.str.strip())
    line = np.arange(len(text)) + 2
    patients = text[pid].to_numpy()
    _no_missing(patients, "patient id", where, line)
    ages = _numbers(text[age], "age", where, line)
    _no_missing(ages, "age", where, line)
    if (ages < 0).any():
        i = int(np.flatnonzero(ages < 0)[0])
        raise BiozooError(f"age {ages[i]:g} on line {line[i]} of {where} is negative.")
    covs = [_numbers(text[c], f"covariate {c!r}", where, line) for c in options.covariates]
    codes = text[code].to_numpy(dtype=object)
    has_code = ~np.isin(codes, list(_NA))
    order = pd.factorize(patients)[0]
    rows = np.argsort(order, kind="stable")
    sorted_pat, sorted_age = order[rows], ages[rows]
    back = (np.diff(sorted_age) < 0) & (sorted_pat[1:] == sorted_pat[:-1])
    if back.any():
        i = rows[int(np.flatnonzero(back)[0]) + 1]
        raise BiozooError(
            f"age {ages[i]:g} on line {line[i]} of {where} is before the previous event of "
            f"patient {patients[i]!r}: rows of a patient must be in age order."
        )
    ids, starts = np.unique(sorted_pat, return_index=True)
    names = pd.unique(patients)
    cov = np.column_stack(covs) if covs else np.zeros((len(text), 0))
    records = []
    for p, start, stop in zip(ids, starts, [*starts[1:], len(rows)], strict=True):
        r = rows[start:stop]
        r_ev = r[has_code[r]]
        if len(r_ev) == 0:
            raise BiozooError(
                f"patient {names[p]!r} on line {line[r[0]]} of {where} has no events: "
                "every row of the patient has an empty code."
            )
        first = cov[r[0]]
        if np.isnan(first).any():
            j = int(np.flatnonzero(np.isnan(first))[0])
            raise BiozooError(
                f"covariate {options.covariates[j]!r} of patient {names[p]!r} is missing on "
                f"line {line[r[0]]} of {where}."
            )
        records.append(History(ages[r_ev], codes[r_ev].astype(str).astype(object), first))
    out = pd.Series(records, index=pd.Index(names, name="sample_id"), dtype=object)
    return out


def _numbers(col: pd.Series, what: str, where: str, line: np.ndarray) -> np.ndarray:
    raw = col.to_numpy(dtype=object)
    missing = np.isin(raw, list(_NA))
    values = pd.to_numeric(pd.Series(np.where(missing, None, raw)), errors="coerce").to_numpy(
        dtype=np.float64
    )
    bad = np.isnan(values) & ~missing | np.isinf(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BiozooError(f"{what} {raw[i]!r} on line {line[i]} of {where} is not a number.")
    return values


def _no_missing(values: np.ndarray, what: str, where: str, line: np.ndarray) -> None:
    missing = (
        np.isnan(values) if values.dtype.kind == "f" else np.isin(values.astype(str), list(_NA))
    )
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise BiozooError(f"{what} is missing on line {line[i]} of {where}.")
