"""Simulated life-event histories with known code-specific hazards.

Each patient enters follow-up with an ``ENTRY`` event at an age drawn uniformly in
``entry_ages``, then diseases occur as competing exponentials whose rates are piecewise
constant over years of age:

``log rate_c(age, sex, history) = base_c + age_slope_c * (floor(age) - 50) / 10
+ male_c * male + sum over earlier codes d of effect[d -> c]``

Each disease occurs at most once; ``DEATH`` is terminal; a patient alive at ``max_age`` gets an
``END`` row (end of follow-up, censoring). The planted code-after-code effects
(:data:`EFFECTS`) are what a history model can learn and an age-and-sex incidence model cannot:
diabetes (``E11``) quadruples the rate of myocardial infarction (``I21``) and multiplies that of
chronic kidney disease (``N18``) by 5, hypertension (``I10``) triples stroke (``I63``),
myocardial infarction doubles death.

:func:`true_log_rates` gives the true log-rates for any (age, sex, history), so a fitted model's
rates can be compared with the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "CODES",
    "EFFECTS",
    "END",
    "ENTRY",
    "TERMINAL",
    "SimulatedHistories",
    "simulate_life_events",
    "true_log_rates",
]

ENTRY, END, TERMINAL = "ENTRY", "END", "DEATH"

# code: (base log-rate at 50, change per decade of age, change for males)
_HAZARDS: dict[str, tuple[float, float, float]] = {
    "I10": (math.log(0.030), 0.30, 0.10),  # hypertension
    "E11": (math.log(0.012), 0.25, 0.30),  # type 2 diabetes
    "I21": (math.log(0.004), 0.45, 0.70),  # myocardial infarction
    "I63": (math.log(0.003), 0.55, 0.20),  # stroke
    "N18": (math.log(0.003), 0.50, 0.00),  # chronic kidney disease
    "C50": (math.log(0.004), 0.20, -9.00),  # breast cancer (females)
    "C61": (math.log(0.004), 0.60, 0.00),  # prostate cancer (males; see _MALE_ONLY)
    "F32": (math.log(0.015), -0.10, -0.50),  # depression
    "J44": (math.log(0.004), 0.50, 0.30),  # COPD
    TERMINAL: (math.log(0.004), 0.80, 0.40),
}
_MALE_ONLY = {"C61"}
CODES: tuple[str, ...] = tuple(_HAZARDS)
"""The codes that occur after entry, ``DEATH`` last."""

EFFECTS: dict[tuple[str, str], float] = {
    ("E11", "I21"): math.log(4.0),
    ("E11", "N18"): math.log(5.0),
    ("I10", "I63"): math.log(3.0),
    ("I21", TERMINAL): math.log(2.0),
    ("N18", TERMINAL): math.log(1.5),
    ("J44", TERMINAL): math.log(1.5),
}
"""Planted effects: ``(earlier code, later code) -> added log-rate``."""


@dataclass(frozen=True)
class SimulatedHistories:
    """A simulated cohort.

    Attributes:
        events: long frame ``patient, age, code, sex`` (sex 1 = male), patients in order,
            rows in age order.
        sex: 0/1 per patient (index = patient id).
    """

    events: pd.DataFrame
    sex: pd.Series


_BASE, _SLOPE, _MALE = (np.array([h[k] for h in _HAZARDS.values()]) for k in range(3))
_W = np.zeros((len(CODES), len(CODES)))
for (_d, _c), _w in EFFECTS.items():
    _W[CODES.index(_d), CODES.index(_c)] = _w
_FEMALE_BLOCKED = np.array([c in _MALE_ONLY for c in CODES])


def _log_rates(age: float, male: int, seen: np.ndarray) -> np.ndarray:
    out = _BASE + _SLOPE * ((math.floor(age) - 50) / 10) + _MALE * male + seen @ _W
    out[seen.astype(bool)] = -np.inf
    if not male:
        out[_FEMALE_BLOCKED] = -np.inf
    return out


def true_log_rates(age: float, male: int, history: set[str] | list[str]) -> np.ndarray:
    """True log-rates ``[len(CODES)]`` at ``age`` for a patient with these earlier codes.

    A code already in the history (each disease occurs once) or impossible for the sex has
    rate 0 (``-inf``). Codes outside :data:`CODES` (``ENTRY``) are ignored.
    """
    seen = np.array([float(c in set(history)) for c in CODES])
    return _log_rates(age, male, seen)


def simulate_life_events(
    n: int = 2000,
    *,
    seed: int = 0,
    entry_ages: tuple[float, float] = (30.0, 50.0),
    max_age: float = 85.0,
) -> SimulatedHistories:
    """Simulate ``n`` patients' histories (see the module docstring).

    Args:
        n: number of patients.
        seed: seed of the random generator.
        entry_ages: range of the age at entry (uniform).
        max_age: end of follow-up for those alive.
    """
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, float, str, int]] = []
    sexes = rng.integers(0, 2, size=n)
    for i in range(n):
        pid, male = f"P{i:05d}", int(sexes[i])
        age = float(rng.uniform(*entry_ages))
        rows.append((pid, round(age, 3), ENTRY, male))
        seen = np.zeros(len(CODES))
        while True:
            step_end = min(math.floor(age) + 1.0, max_age)
            rates = np.exp(_log_rates(age, male, seen))
            total = rates.sum()
            wait = rng.exponential(1.0 / total) if total > 0 else math.inf
            if age + wait >= step_end:  # no event in this year of age: move to the next one
                age = step_end
                if age >= max_age:
                    rows.append((pid, round(max_age, 3), END, male))
                    break
                continue
            age += wait
            j = int(np.searchsorted(np.cumsum(rates), rng.uniform(0, total), side="right"))
            code = CODES[min(j, len(CODES) - 1)]
            rows.append((pid, round(age, 3), code, male))
            if code == TERMINAL:
                break
            seen[j] = 1.0
    events = pd.DataFrame(rows, columns=["patient", "age", "code", "sex"])
    sex = events.groupby("patient", sort=False)["sex"].first()
    return SimulatedHistories(events, sex)
