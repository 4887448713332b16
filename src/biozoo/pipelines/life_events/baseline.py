"""The age-and-sex incidence baseline: one rate per code, age band and sex, from training
patients only.

The rate of code ``c`` in age band ``b`` for sex ``s`` is the number of training transitions
into ``c`` at an age in ``b`` divided by the person-years the training patients spent in ``b``
(every interval between consecutive events, censored ones included, split across the bands
it spans), shrunk towards the code's overall rate by ``prior_years`` person-years. It knows
age and sex and nothing of the history: what a history model adds is measured against it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["AgeSexIncidence"]

_FLOOR = 1e-6  # per year


class AgeSexIncidence:
    """Piecewise-constant incidence rates by age band and sex.

    Args:
        vocab: number of token ids.
        never: token ids that never occur (log-rate ``-inf``).
        band_years: width of the age bands.
        prior_years: person-years of the overall rate mixed into each band's rate.
    """

    def __init__(
        self, vocab: int, never: list[int], *, band_years: float = 5.0, prior_years: float = 1.0
    ) -> None:
        self.vocab, self.never = vocab, sorted(set(never))
        self.band_years, self.prior_years = band_years, prior_years
        self.rates: np.ndarray | None = None  # (sexes, bands, vocab)

    def fit(
        self,
        start: np.ndarray,
        dt: np.ndarray,
        code: np.ndarray,
        observed: np.ndarray,
        sex: np.ndarray,
    ) -> AgeSexIncidence:
        """Fit on training transitions: start age, waiting time, next code, whether it was an
        event (not censoring), and the patient's sex (0/1; all 0 without a sex covariate)."""
        end = start + dt
        n_bands = int(np.floor(end.max() / self.band_years)) + 2
        lo = np.arange(n_bands) * self.band_years
        overlap = np.clip(
            np.minimum(end[:, None], lo + self.band_years) - np.maximum(start[:, None], lo), 0, None
        )  # (m, bands) person-years
        sexes = np.asarray(sex, dtype=np.int64)
        exposure = np.zeros((2, n_bands))
        counts = np.zeros((2, n_bands, self.vocab))
        np.add.at(exposure, sexes, overlap)
        band = np.minimum((end / self.band_years).astype(np.int64), n_bands - 1)
        ev = np.asarray(observed, dtype=bool)
        np.add.at(counts, (sexes[ev], band[ev], code[ev]), 1.0)
        overall = counts.sum(axis=(0, 1)) / max(exposure.sum(), 1e-12)
        rates = (counts + self.prior_years * overall) / (exposure[..., None] + self.prior_years)
        rates = np.maximum(rates, _FLOOR)  # a code unseen in training is rare, not impossible
        rates[..., self.never] = 0.0
        self.rates = rates
        return self

    def log_rates(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        """Log-rates ``[m, vocab]`` at these ages for these sexes."""
        if self.rates is None:
            raise RuntimeError("AgeSexIncidence is not fitted; call fit() first")
        band = np.clip((np.asarray(age) / self.band_years).astype(np.int64), 0, None)
        band = np.minimum(band, self.rates.shape[1] - 1)
        with np.errstate(divide="ignore"):
            return np.log(self.rates[np.asarray(sex, dtype=np.int64), band])
