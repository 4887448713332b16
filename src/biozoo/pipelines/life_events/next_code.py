"""The per-code logistic baseline: the next event's code from counts of earlier codes and age.

At every transition (from an event, or a no-event token, to the next event) the features are
the counts of each code among the events so far (the current one included; ``[UNK]``
counted, padding and silent tokens not), the age and its square, and the standardised
covariates (e.g. sex). For each code ``c`` one binary logistic regression (scikit-learn,
L2, ``C``) is fitted on the training patients' observed transitions with label "the next
event is ``c``"; its probability is the code's score. It sees the history, as the transformer
does, but only as counts (no order, no time since each event) and only for the next code: it
gives no rate, so neither a likelihood nor a waiting time.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from biozoo.pipelines.life_events.model import transitions

__all__ = ["NextCodeLogistic", "transition_features"]


def transition_features(x: dict[str, torch.Tensor], silent: list[int], vocab: int) -> np.ndarray:
    """Features ``[m, vocab + 2 + c]`` of every valid transition of encoded histories, in the
    row-major order of ``transitions(x, silent).valid``: counts of each token id so far
    (columns of padding and silent tokens zero), age, age squared, covariates."""
    codes, ages = x["codes"][:, :-1].numpy(), x["ages"][:, :-1].numpy().astype(np.float64)
    valid = transitions(x, silent).valid.numpy()
    n, steps = codes.shape
    onehot = np.zeros((n, steps, vocab), dtype=np.float64)
    np.put_along_axis(onehot, codes[..., None], 1.0, axis=2)
    onehot[..., [0, *silent]] = 0.0  # padding and silent tokens are not codes
    counts = np.cumsum(onehot, axis=1)[valid]
    age = ages[valid]
    cov = np.broadcast_to(
        x["covariates"].numpy().astype(np.float64)[:, None, :], (n, steps, x["covariates"].shape[1])
    )[valid]
    return np.column_stack([counts, age, age**2, cov])


class NextCodeLogistic:
    """One logistic regression per code on counts of earlier codes, age and covariates.

    Args:
        vocab: number of token ids.
        codes: the token ids to model (the others score 0).
        C: inverse L2 strength of scikit-learn's ``LogisticRegression``.
        max_iter: most L-BFGS iterations.
    """

    def __init__(
        self, vocab: int, codes: list[int], *, C: float = 1.0, max_iter: int = 500
    ) -> None:
        self.vocab, self.codes, self.C, self.max_iter = vocab, list(codes), C, max_iter
        self.scaler: StandardScaler | None = None
        self.models: dict[int, LogisticRegression | float] = {}

    def fit(self, features: np.ndarray, code: np.ndarray) -> NextCodeLogistic:
        """Fit on the observed training transitions' features and next token ids."""
        self.scaler = StandardScaler().fit(features)
        z = self.scaler.transform(features)
        for c in self.codes:
            label = code == c
            if label.all() or not label.any():  # nothing to separate: the training frequency
                self.models[c] = float(label.mean())
                continue
            lr = LogisticRegression(C=self.C, max_iter=self.max_iter)
            self.models[c] = lr.fit(z, label)
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Probability ``[m, vocab]`` that the next event is each code (each code's own model;
        the rows need not sum to 1)."""
        if self.scaler is None:
            raise RuntimeError("NextCodeLogistic is not fitted; call fit() first")
        z = self.scaler.transform(features)
        out = np.zeros((len(features), self.vocab))
        for c, m in self.models.items():
            out[:, c] = m if isinstance(m, float) else m.predict_proba(z)[:, 1]
        return out
