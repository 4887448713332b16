"""Empirical cumulative incidence of each code by age: the Aalen–Johansen estimator.

For a code ``c``, each patient is followed on the age scale (or time since start) from their
first event (delayed entry: left truncation) to the first of: ``c`` (the event of interest),
a terminal code before ``c`` (the competing risk: after death ``c`` can no longer happen), or
the end of their follow-up (the last event, e.g. ``END``: censoring). A patient whose first
event is ``c`` already has it and is not at risk. With ``n_j`` patients at risk just before
age ``t_j`` (entered before ``t_j``, not yet out), ``d1_j`` of them getting ``c`` and ``d2_j``
dying first at ``t_j``:

``S(t) = prod_{t_j <= t} (1 - (d1_j + d2_j) / n_j)``,
``F_c(t) = sum_{t_j <= t} S(t_j-) d1_j / n_j``

(Aalen & Johansen 1978, https://www.jstor.org/stable/4615704; the two-cause case of the
multi-state estimator). Other non-terminal codes do not compete with ``c``: a patient with
hypertension can still get diabetes. :class:`AalenJohansenIncidence` holds ``F_c`` fitted on
training patients; the same estimator on held-out patients is the observed incidence, and on
sampled trajectories the model's (see :func:`incidence_table`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from biozoo.data.events import History

__all__ = ["AalenJohansenIncidence", "cumulative_incidence", "incidence_table"]


def cumulative_incidence(
    entry: np.ndarray, exit: np.ndarray, cause: np.ndarray, ages: np.ndarray
) -> np.ndarray:
    """Aalen–Johansen cumulative incidence of cause 1 (cause 2 competing) at ``ages``.

    Args:
        entry: ``[n]`` age at entry (at risk on ``(entry, exit]``).
        exit: ``[n]`` age leaving the risk set.
        cause: ``[n]`` 0 censored, 1 the event of interest, 2 the competing event, at ``exit``.
        ages: where to read the curve.

    Returns:
        ``[len(ages)]``, non-decreasing in age; 0 before the first event.
    """
    entry, exit = np.asarray(entry, float), np.asarray(exit, float)
    cause, ages = np.asarray(cause), np.asarray(ages, float)
    times = np.unique(exit[cause > 0])
    if not len(times):
        return np.zeros(len(ages))
    at_risk = np.searchsorted(np.sort(entry), times, side="left") - np.searchsorted(
        np.sort(exit), times, side="left"
    )  # entered strictly before t, not out before t
    d1 = np.bincount(np.searchsorted(times, exit[cause == 1]), minlength=len(times))
    d2 = np.bincount(np.searchsorted(times, exit[cause == 2]), minlength=len(times))
    n = np.maximum(at_risk, 1)
    survival = np.cumprod(1.0 - (d1 + d2) / n)
    before = np.concatenate([[1.0], survival[:-1]])
    curve = np.cumsum(before * d1 / n)
    idx = np.searchsorted(times, ages, side="right") - 1
    return np.where(idx >= 0, curve[np.maximum(idx, 0)], 0.0)


def _follow_up(
    histories: list[History], code: str, terminal: set[str], ends: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per history: entry, exit and cause for ``code`` (see the module docstring)."""
    competing = terminal - {code}
    n = len(histories)
    entry, exit, cause = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    for i, h in enumerate(histories):
        entry[i] = h.ages[0]
        end = float(h.ages[-1]) if ends is None else float(ends[i])
        exit[i], cause[i] = end, 0
        if h.codes[0] == code:  # already has it: not at risk
            exit[i] = entry[i]
            continue
        for a, c in zip(h.ages[1:], h.codes[1:], strict=True):
            if a > end:
                break
            if c == code or c in competing:
                exit[i], cause[i] = a, 1 if c == code else 2
                break
    return entry, exit, cause


def incidence_table(
    histories: list[History],
    codes: list[str],
    terminal: list[str],
    ages: list[float],
    *,
    ends: np.ndarray | None = None,
) -> pd.DataFrame:
    """The Aalen–Johansen incidence of each code at each age.

    Args:
        histories: one per patient (raw events, no no-event tokens).
        codes: the codes to estimate.
        terminal: codes after which nothing happens (competing risks of the others).
        ages: where to read the curves.
        ends: per history, the end of follow-up (default: its last event's age); events after
            it are not seen.

    Returns:
        Columns ``code, age, incidence``.
    """
    rows = []
    grid = np.asarray(ages, dtype=float)
    for c in codes:
        entry, exit, cause = _follow_up(histories, c, set(terminal), ends)
        for a, f in zip(grid, cumulative_incidence(entry, exit, cause, grid), strict=True):
            rows.append((c, float(a), float(f)))
    return pd.DataFrame(rows, columns=["code", "age", "incidence"])


class AalenJohansenIncidence:
    """Cumulative incidence of each code by age, fitted on training patients.

    Args:
        codes: the codes to estimate.
        terminal: the competing (terminal) codes.
    """

    def __init__(self, codes: list[str], terminal: list[str]) -> None:
        self.codes, self.terminal = list(codes), list(terminal)
        self.histories: list[History] = []

    def fit(self, histories: list[History]) -> AalenJohansenIncidence:
        """Keep the training histories (the estimator is read off them at any age)."""
        self.histories = list(histories)
        return self

    def incidence(self, ages: list[float]) -> pd.DataFrame:
        """Columns ``code, age, incidence`` (:func:`incidence_table` on the training patients)."""
        if not self.histories:
            raise RuntimeError("AalenJohansenIncidence is not fitted; call fit() first")
        return incidence_table(self.histories, self.codes, self.terminal, ages)
