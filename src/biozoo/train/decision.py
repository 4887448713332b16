"""Decision rules: how an ensemble's class probabilities become a predicted class.

``argmax`` takes the most probable class. On imbalanced classes that favours the large ones,
and macro-F1, which weighs every class alike, pays for it. The other rules reweigh the
probabilities, ``p'_c = w_c p_c / sum_k w_k p_k``, with weights fitted on the ensemble's inner
validation part (the rows that stopped its training, never a test row) to maximise macro-F1
there:

- ``prior_correction``: ``w_c = pi_c ** -alpha``, with ``pi`` the class frequencies of the
  fitted labels and ``alpha`` in ``[0, 1]`` the grid value with the best validation macro-F1
  (ties: the smallest). ``alpha = 1`` divides by the training prior, the Bayes correction to
  a uniform prior; one number, so little to overfit.
- ``thresholds``: one weight per class (a per-class threshold ``1 / w_c`` on ``p_c``),
  found by coordinate ascent on a log grid from ``w = 1``; ``C`` numbers, so it can overfit
  a small validation part.

The reweighed probabilities are the prediction: ``y_pred`` is their argmax, and every metric
reads them (for two classes ROC AUC is unchanged, the reweighting being monotone). A rule is
saved with the ensemble (:meth:`DecisionRule.state`) so ``biozoo predict`` applies it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from biozoo.registry import Registry

__all__ = [
    "DECISIONS",
    "Argmax",
    "DecisionRule",
    "PriorCorrection",
    "Thresholds",
    "decided",
    "macro_f1",
    "rule_from_state",
]

DECISIONS: Registry[type[DecisionRule]] = Registry("decision rule")

_ALPHAS = np.linspace(0.0, 1.0, 11)
_LOG_WEIGHTS = np.linspace(-2.0, 2.0, 17)  # natural log of a class's weight
_ROUNDS = 3


def macro_f1(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Macro-averaged F1 over ``n_classes`` classes (a class absent from both counts 0)."""
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    tp = np.bincount(y[y == pred], minlength=n_classes)[:n_classes]
    true = np.bincount(y, minlength=n_classes)[:n_classes]
    called = np.bincount(pred, minlength=n_classes)[:n_classes]
    denom = true + called
    f1 = np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), 0.0)
    return float(f1.mean())


class DecisionRule:
    """Class weights applied to probabilities ``[n, C]``; :meth:`fit` sets them.

    Attributes:
        weights: ``[C]`` positive weights (all ones: argmax).
    """

    name: ClassVar[str] = ""

    def __init__(self, weights: np.ndarray | None = None) -> None:
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)

    def __repr__(self) -> str:
        w = None if self.weights is None else np.round(self.weights, 3).tolist()
        return f"{type(self).__name__}(weights={w})"

    def fit(self, y_val: np.ndarray, p_val: np.ndarray, y_fit: np.ndarray) -> DecisionRule:
        """Fit the weights.

        Args:
            y_val: ``[n]`` class codes of the inner validation rows.
            p_val: ``[n, C]`` the ensemble's mean probabilities for them.
            y_fit: class codes of the rows the ensemble was fitted on (the prior).

        Returns:
            ``self``.
        """
        raise NotImplementedError

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Reweighed, renormalised probabilities ``[..., n, C]`` (unchanged for argmax)."""
        if self.weights is None:
            return proba
        q = np.asarray(proba) * self.weights
        return q / np.maximum(q.sum(axis=-1, keepdims=True), np.finfo(np.float64).tiny)

    def state(self) -> dict[str, Any]:
        """A JSON-able dict for :func:`rule_from_state`."""
        w = None if self.weights is None else [float(v) for v in self.weights]
        return {"name": self.name, "weights": w}


@DECISIONS.register("argmax")
class Argmax(DecisionRule):
    """The most probable class: nothing to fit."""

    name = "argmax"

    def fit(self, y_val: np.ndarray, p_val: np.ndarray, y_fit: np.ndarray) -> Argmax:
        self.weights = None
        return self


@DECISIONS.register("prior_correction")
class PriorCorrection(DecisionRule):
    """``w_c = pi_c ** -alpha`` with the validation macro-F1's best ``alpha`` in ``[0, 1]``.

    Attributes:
        alpha: the chosen exponent.
    """

    name = "prior_correction"

    def fit(self, y_val: np.ndarray, p_val: np.ndarray, y_fit: np.ndarray) -> PriorCorrection:
        c = p_val.shape[1]
        counts = np.bincount(np.asarray(y_fit, dtype=np.int64), minlength=c)[:c]
        prior = np.maximum(counts, 1) / max(1, counts.sum())
        best, self.alpha = -1.0, 0.0
        for alpha in _ALPHAS:
            score = macro_f1(y_val, (p_val * prior**-alpha).argmax(axis=1), c)
            if score > best + 1e-12:
                best, self.alpha = score, float(alpha)
        self.weights = prior**-self.alpha
        self.weights /= self.weights.max()
        return self


@DECISIONS.register("thresholds")
class Thresholds(DecisionRule):
    """One weight per class, by coordinate ascent of the validation macro-F1.

    Each round visits the classes in order and sets the class's log weight to the grid value
    (``[-2, 2]`` in 17 steps) with the best score, keeping the current one on ties; three
    rounds, or fewer when a round changes nothing.
    """

    name = "thresholds"

    def fit(self, y_val: np.ndarray, p_val: np.ndarray, y_fit: np.ndarray) -> Thresholds:
        c = p_val.shape[1]
        log_w = np.zeros(c)
        best = macro_f1(y_val, p_val.argmax(axis=1), c)
        for _ in range(_ROUNDS):
            changed = False
            for k in range(c):
                for value in _LOG_WEIGHTS:
                    trial = log_w.copy()
                    trial[k] = value
                    score = macro_f1(y_val, (p_val * np.exp(trial)).argmax(axis=1), c)
                    if score > best + 1e-12:
                        best, log_w, changed = score, trial, True
            if not changed:
                break
        self.weights = np.exp(log_w - log_w.max())
        return self


def rule_from_state(state: dict[str, Any] | None) -> DecisionRule:
    """The rule saved by :meth:`DecisionRule.state` (argmax when there is none)."""
    if not state:
        return Argmax()
    rule = DECISIONS.get(str(state["name"]))()
    weights = state.get("weights")
    rule.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
    return rule


def decided(meta: Mapping[str, object], prediction: np.ndarray) -> np.ndarray:
    """``prediction`` after the decision rule saved in an ensemble's ``meta`` (under
    ``decision``); unchanged when it has none."""
    if "decision" not in meta:
        return prediction
    return rule_from_state(meta["decision"]).apply(prediction)  # type: ignore[arg-type]
