"""Table transforms fitted on the training part of one fold: filter, impute, select, scale.

:class:`TableTransform` learns everything from the rows it is given in :meth:`~TableTransform.fit`
(the caller passes only the training rows of a fold) and :meth:`~TableTransform.transform` uses
only that fitted state, so nothing from validation or test rows can leak into a model.

Per-feature statistics are computed over column chunks in float64 and never build a
``p x p`` matrix, so a 300 x 450,000 methylation table fits in seconds with bounded memory.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from biozoo.errors import BiozooError
from biozoo.tasks import RankingTarget, Task

__all__ = ["TableTransform", "feature_positions"]

log = logging.getLogger(__name__)

_CHUNK = 4096  # columns per chunk for per-feature statistics
_SCAN_CHUNK = 1024  # candidates per chunk in the redundancy scan
_KEPT_BLOCK = 8192  # kept features per block when comparing a chunk with the kept set
_IMPUTE = ("median", "mean", "zero")
_STATE_ARRAYS = ("index", "fill", "mean", "sd")
_ROBUST = "robust_clip"
_CLIP = 3.0  # the smooth clip's scale


class TableTransform:
    """Missing-value filter, log1p, imputation, variance filter, selection and scaling.

    :meth:`fit` runs these steps in order, with every statistic taken from the rows it is given:

    1. drop features missing in more than ``max_missing`` of the rows (all-missing ones always);
    2. ``log1p`` of the values when asked (values must be greater than -1);
    3. an imputation value per feature (``median``, ``mean`` or ``zero``);
    4. drop features whose variance after imputation is ``<= min_variance``;
    5. when ``top_k`` is set, rank features by association with the target: ANOVA F statistic
       for classification, ``|Pearson r|`` for regression; ties keep the original column order;
    6. when ``max_corr`` is set, scan the features in rank order (original order without
       ``top_k``) and keep one only if its ``|Pearson r|`` with every kept feature is
       ``<= max_corr``, so the most target-associated feature of a correlated group is kept;
       the scan stops once ``top_k`` are kept. It compares chunks of candidates with the kept
       set by matrix products: cost ``O(n * scanned * kept)``. Without ``top_k`` it scans every
       feature and keeps an ``[n, kept]`` float32 buffer, which on a large, weakly correlated
       table can be slow and big; set ``top_k`` for such tables. Without ``max_corr`` the
       ``top_k`` best-ranked features are kept; ``max_corr=1`` keeps every feature;
    7. standardize with the training mean and standard deviation when ``scale`` is true;
       with ``scale="robust_clip"`` (RealMLP's preprocessing, Holzmüller et al. 2024,
       https://arxiv.org/abs/2407.04491) centre on the training median, divide by the
       interquartile range (half the range when the quartiles coincide, as for a mostly-zero
       gene), then clip smoothly: ``x / sqrt(1 + (x / 3)^2)``, which keeps ``|x| < 3``.

    Output columns keep the order of the input features (not the rank order).

    Args:
        impute: ``median``, ``mean`` or ``zero``.
        min_variance: features with variance ``<=`` this after imputation are dropped.
        max_missing: the largest fraction of missing values a feature may have.
        top_k: keep at most this many features, the most associated with the target.
        max_corr: the largest ``|Pearson r|`` allowed between two kept features.
        scale: standardize each kept feature (``True``), leave it (``False``), or scale it
            robustly and clip smoothly (``"robust_clip"``).
        log1p: apply ``log(1 + x)`` first (for counts).

    Attributes:
        report: how many features each step removed, plus ``input`` and ``kept``.
    """

    def __init__(
        self,
        *,
        impute: str = "median",
        min_variance: float = 1e-8,
        max_missing: float = 0.5,
        top_k: int | None = None,
        max_corr: float | None = None,
        scale: bool | str = True,
        log1p: bool = False,
    ) -> None:
        if impute not in _IMPUTE:
            raise ValueError(f"impute must be one of {_IMPUTE}, got {impute!r}")
        if isinstance(scale, str) and scale != _ROBUST:
            raise ValueError(f"scale must be true, false or {_ROBUST!r}, got {scale!r}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be positive, got {top_k}")
        self.impute = impute
        self.min_variance = float(min_variance)
        self.max_missing = float(max_missing)
        self.top_k = None if top_k is None else int(top_k)
        self.max_corr = None if max_corr is None else float(max_corr)
        self.scale = scale if isinstance(scale, str) else bool(scale)
        self.log1p = bool(log1p)
        self.input_features: list[str] = []
        self.report: dict[str, int] = {}
        self.task: str | None = None
        self._index: np.ndarray | None = None  # kept input columns, ascending
        self._fill = self._mean = self._sd = np.zeros(0)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        fitted = f", {len(self.input_features)} -> {self.n_out}" if self.fitted else ""
        return f"TableTransform({opts}{fitted})"

    @property
    def fitted(self) -> bool:
        return self._index is not None

    @property
    def n_out(self) -> int:
        """Number of output columns."""
        return len(self._fitted_index())

    @property
    def selected_features(self) -> list[str]:
        """Names of the output columns, in input order."""
        return [self.input_features[i] for i in self._fitted_index()]

    def fit(
        self, X: np.ndarray, y: np.ndarray | None, *, task: Task, features: list[str]
    ) -> TableTransform:
        """Learn the transform from the training rows of one fold.

        Args:
            X: training rows, float ``[n, p]``; NaN marks a missing value.
            y: targets of these rows (int class codes or floats); needed only with ``top_k``.
            task: the task of ``y``, which says what ``top_k`` ranks features by.
            features: the ``p`` column names.

        Returns:
            ``self``.

        Raises:
            BiozooError: the data has infinite values, values ``<= -1`` with ``log1p``, fewer
                than two classes for ranking, or no feature survives.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(features):
            raise ValueError(f"X has shape {X.shape} but {len(features)} feature names")
        if self.top_k is not None and (y is None or len(y) != len(X)):
            raise ValueError("top_k ranks features by the target: give y, one value per row")
        names = [str(f) for f in features]
        _check_unique(names, "the feature names given to the transform")
        self._index = None
        self.input_features, self.task = names, task.name
        target = None if self.top_k is None else task.ranking_target(np.asarray(y))

        p = X.shape[1]
        fill, score = np.zeros(p), np.zeros(p)
        code = np.zeros(p, dtype=np.int8)  # 0 ok, 1 too missing, 2 constant
        for start in range(0, p, _CHUNK):  # steps 1-5, chunk by chunk
            cols = slice(start, min(start + _CHUNK, p))
            code[cols], fill[cols], score[cols] = self._column_stats(X, cols, target)

        cand = np.flatnonzero(code == 0)
        if self.top_k is not None:
            cand = cand[np.argsort(-score[cand], kind="stable")]
        limit = len(cand) if self.top_k is None else min(self.top_k, len(cand))
        if self.max_corr is not None and self.max_corr < 1.0:  # step 6
            kept, scanned = self._redundancy_scan(X, cand, limit, fill)
        else:
            kept, scanned = cand[:limit], limit
        self.report = {
            "input": p,
            "too_missing": int(np.sum(code == 1)),
            "constant": int(np.sum(code == 2)),
            "redundant": scanned - len(kept),
            "not_top_k": len(cand) - scanned,
            "kept": len(kept),
        }
        if len(kept) == 0:
            raise BiozooError(f"no feature survived the table transform ({self._summary()}).")
        self._index = np.sort(kept).astype(np.int64)
        self._fill = fill[self._index]
        self._fit_scaling(X)  # step 7
        log.info("table transform: %s", self._summary())
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Apply the fitted transform to any rows.

        Args:
            X: float ``[m, p]``, columns in the order of :attr:`input_features`.

        Returns:
            float32 ``[m, n_out]`` without NaN. Each row depends only on itself.
        """
        index = self._fitted_index()
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.input_features):
            raise ValueError(f"X has shape {X.shape}, expected {len(self.input_features)} columns")
        out = np.empty((X.shape[0], len(index)), dtype=np.float32)
        for start in range(0, len(index), _CHUNK):
            sl = slice(start, start + _CHUNK)
            V = self._impute(X, index[sl], self._fill[sl])
            if not np.isfinite(V).all():
                raise BiozooError("the table given to the transform contains infinite values.")
            V -= self._mean[sl, None]
            V /= self._sd[sl, None]
            if self.scale == _ROBUST:
                V /= np.sqrt(1.0 + (V / _CLIP) ** 2)
            out[:, sl] = V.T
        return out

    def align(self, X: np.ndarray, features: list[str], *, source: str = "") -> np.ndarray:
        """Reorder the columns of new data to :attr:`input_features` by name.

        Only the features the transform keeps must be present (a methylation table scored
        later need not carry the CpGs that selection dropped); the others are left NaN,
        which :meth:`transform` never reads.

        Args:
            X: ``[m, q]`` new data.
            features: the ``q`` column names of ``X``; extra names are ignored.
            source: where the data came from, for the error message.

        Returns:
            ``[m, p]``, ready for :meth:`transform`.

        Raises:
            BiozooError: some selected features are missing from ``features``.
        """
        index = self._fitted_index()
        names = [str(f) for f in features]
        where = source or "the new data"
        _check_unique(names, f"the feature names of {where}")
        pos = feature_positions(names, self.selected_features, where)
        X = np.asarray(X)
        out = np.full((X.shape[0], len(self.input_features)), np.nan, dtype=np.float32)
        source_cols = np.array([pos[self.input_features[i]] for i in index], dtype=np.int64)
        out[:, index] = X[:, source_cols]
        return out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The fitted state: contiguous arrays (for safetensors) and a JSON-serialisable dict."""
        index = self._fitted_index()
        arrays = {"index": index, "fill": self._fill, "mean": self._mean, "sd": self._sd}
        meta = {
            "kind": "TableTransform",
            "options": self._options(),
            "task": self.task,
            "input_features": list(self.input_features),
            "report": dict(self.report),
        }
        return {k: np.ascontiguousarray(v) for k, v in arrays.items()}, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TableTransform:
        """Rebuild a fitted transform from :meth:`state`'s output."""
        if meta.get("kind") != "TableTransform" or set(arrays) != set(_STATE_ARRAYS):
            raise ValueError("not the saved state of a TableTransform")
        tt = cls(**meta["options"])
        tt.input_features = [str(f) for f in meta["input_features"]]
        tt.task, tt.report = meta["task"], {k: int(v) for k, v in meta["report"].items()}
        tt._index = np.asarray(arrays["index"], dtype=np.int64)
        tt._fill, tt._mean, tt._sd = (np.asarray(arrays[k]) for k in ("fill", "mean", "sd"))
        if not all(len(a) == len(tt._index) for a in (tt._fill, tt._mean, tt._sd)):
            raise ValueError("saved TableTransform arrays differ in length")
        return tt

    # -- internals ---------------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        keys = ("impute", "min_variance", "max_missing", "top_k", "max_corr", "scale", "log1p")
        return {k: getattr(self, k) for k in keys}

    def _summary(self) -> str:
        return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in self.report.items())

    def _fitted_index(self) -> np.ndarray:
        if self._index is None:
            raise RuntimeError("TableTransform is not fitted; call fit() first")
        return self._index

    def _fit_scaling(self, X: np.ndarray) -> None:
        k = len(self._fitted_index())
        self._mean, self._sd = np.zeros(k), np.ones(k)
        if not self.scale:
            return
        for start in range(0, k, _CHUNK):
            sl = slice(start, start + _CHUNK)
            V = self._impute(X, self._fitted_index()[sl], self._fill[sl])
            if self.scale == _ROBUST:
                self._mean[sl], self._sd[sl] = _robust_scale(V)
                continue
            sd = V.std(axis=1)
            self._mean[sl], self._sd[sl] = V.mean(axis=1), np.where(sd > 0, sd, 1.0)

    def _column_stats(
        self, X: np.ndarray, cols: slice, target: RankingTarget | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Status code, fill value and target association of one chunk of columns."""
        B = np.ascontiguousarray(X[:, cols].T, dtype=np.float64)  # (c, n)
        nan = np.isnan(B)
        miss = nan.mean(axis=1)
        code = np.where((miss > self.max_missing) | (miss == 1.0), 1, 0).astype(np.int8)
        ok = code == 0
        self._check_values(B, nan, ok, cols.start)
        if self.log1p:
            np.log1p(B, out=B, where=~nan & ok[:, None])  # dropped columns may be <= -1
        fill = np.zeros(len(B))
        if self.impute == "median":
            fill[ok] = _nanmedian_rows(B[ok], nan[ok])
        elif self.impute == "mean":
            cnt = (~nan[ok]).sum(axis=1)
            fill[ok] = np.where(nan[ok], 0.0, B[ok]).sum(axis=1) / cnt
        B[nan] = np.broadcast_to(fill[:, None], B.shape)[nan]
        var = B.var(axis=1)
        code[ok & (var <= self.min_variance)] = 2
        score = np.zeros(len(B))
        if target is not None:
            score = _association(B, var, target)
        return code, fill, score

    def _check_values(self, B: np.ndarray, nan: np.ndarray, ok: np.ndarray, offset: int) -> None:
        bad = ok & np.isinf(B).any(axis=1)
        if bad.any():
            name = self.input_features[offset + int(np.argmax(bad))]
            raise BiozooError(f"feature {name!r} has infinite values in the training rows.")
        if self.log1p:
            low = ok & (B <= -1.0).any(axis=1)  # NaN compares False
            if low.any():
                name = self.input_features[offset + int(np.argmax(low))]
                raise BiozooError(
                    f"log1p needs values greater than -1, but feature {name!r} has smaller "
                    "ones in the training rows."
                )

    def _impute(self, X: np.ndarray, index: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """Columns ``index`` of ``X``, log1p'd and imputed, as float64 ``(len(index), n)``."""
        V = np.ascontiguousarray(np.take(X, index, axis=1).T, dtype=np.float64)
        nan = np.isnan(V)
        if self.log1p:
            if np.any(V <= -1.0):
                raise BiozooError("log1p needs values greater than -1 in the transformed table.")
            np.log1p(V, out=V, where=~nan)
        V[nan] = np.broadcast_to(fill[:, None], V.shape)[nan]
        return V

    def _unit_columns(self, X: np.ndarray, index: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """Centered, unit-norm columns ``index`` as float32 ``(n, len(index))``."""
        V = self._impute(X, index, fill)
        V -= V.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(V, axis=1, keepdims=True)
        V /= np.where(norm > 0, norm, 1.0)
        return np.ascontiguousarray(V.T, dtype=np.float32)

    def _redundancy_scan(
        self, X: np.ndarray, order: np.ndarray, limit: int, fill: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Greedy scan of ``order``; returns the kept columns and how many were scanned."""
        thr = float(self.max_corr)  # type: ignore[arg-type]
        n = X.shape[0]
        K = np.empty((n, min(limit, 4 * _SCAN_CHUNK)), dtype=np.float32)  # kept unit columns
        kept: list[np.ndarray] = []
        nk = scanned = 0
        for start in range(0, len(order), _SCAN_CHUNK):
            if nk >= limit:
                break
            idx = order[start : start + _SCAN_CHUNK]
            Z = self._unit_columns(X, idx, fill[idx])  # (n, c)
            ok = np.ones(len(idx), dtype=bool)
            for b in range(0, nk, _KEPT_BLOCK):  # compare with the kept set, block by block
                C = K[:, b : min(b + _KEPT_BLOCK, nk)].T @ Z  # (kb, c)
                ok &= np.abs(C).max(axis=0) <= thr
            sub = np.flatnonzero(ok)
            if len(sub) > 1:  # candidates of this chunk against each other, in order
                G = np.abs(Z[:, sub].T @ Z[:, sub]) > thr
                sub = sub[_greedy_in_order(np.triu(G, k=1))]
            sub = sub[: limit - nk]
            scanned += len(idx) if len(sub) == 0 or nk + len(sub) < limit else int(sub[-1]) + 1
            if nk + len(sub) > K.shape[1]:
                K = np.concatenate([K, np.empty((n, max(K.shape[1], len(sub))), K.dtype)], axis=1)
            K[:, nk : nk + len(sub)] = Z[:, sub]
            nk += len(sub)
            kept.append(idx[sub])
        return (np.concatenate(kept) if kept else np.zeros(0, np.int64)), scanned


def feature_positions(names: list[str], wanted: list[str], where: str) -> dict[str, int]:
    """Column position of each name in ``names``; every ``wanted`` feature must be there.

    Raises:
        BiozooError: naming how many of the ``wanted`` features ``where`` lacks, and the
            first few of them.
    """
    pos = {f: i for i, f in enumerate(names)}
    missing = [f for f in wanted if f not in pos]
    if missing:
        shown = ", ".join(repr(f) for f in missing[:5])
        more = ", ..." if len(missing) > 5 else ""
        raise BiozooError(
            f"{where} lacks {len(missing)} of the {len(wanted)} features the model uses "
            f"({shown}{more})."
        )
    return pos


def _check_unique(names: list[str], where: str) -> None:
    if len(set(names)) == len(names):
        return
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BiozooError(f"{where} repeat the name {name!r}.")
        seen.add(name)


def _association(B: np.ndarray, var: np.ndarray, target: RankingTarget) -> np.ndarray:
    """ANOVA F (group codes) or |Pearson r| (numbers) of each row of ``B`` ``(c, n)``.

    Row reductions rather than BLAS products, so identical columns get bit-identical scores
    and ties really fall back to column order.
    """
    n = B.shape[1]
    sst = var * n
    with np.errstate(divide="ignore", invalid="ignore"):
        t = target.values
        if not target.grouped:
            r = (B * t).sum(axis=1) / np.sqrt(sst * float(t @ t))
            return np.nan_to_num(np.abs(r), nan=0.0)
        g = int(t.max()) + 1
        mu = B.mean(axis=1)
        ssb = np.zeros(len(B))
        for k in range(g):  # a handful of classes
            members = t == k
            ssb += members.sum() * (B[:, members].mean(axis=1) - mu) ** 2
        ssw = np.maximum(sst - ssb, 0.0)
        f = (ssb / (g - 1)) / (ssw / max(n - g, 1))
        return np.nan_to_num(f, nan=0.0, posinf=np.inf)


def _robust_scale(V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and divisor of each row of ``V [c, n]``: the interquartile range, else half
    the range, else 1."""
    q1, median, q3 = np.quantile(V, [0.25, 0.5, 0.75], axis=1)
    half_range = (V.max(axis=1) - V.min(axis=1)) / 2
    div = np.where(q3 > q1, q3 - q1, np.where(half_range > 0, half_range, 1.0))
    return median, div


def _nanmedian_rows(B: np.ndarray, nan: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN, vectorised (same values as ``np.nanmedian``)."""
    out = np.empty(len(B))
    full = ~nan.any(axis=1)
    if full.any():
        out[full] = np.median(B[full], axis=1)
    part = ~full
    if part.any():
        S = np.sort(B[part], axis=1)  # NaN sorts last
        cnt = (~nan[part]).sum(axis=1)
        lo = np.take_along_axis(S, ((cnt - 1) // 2)[:, None], axis=1)[:, 0]
        hi = np.take_along_axis(S, (cnt // 2)[:, None], axis=1)[:, 0]
        out[part] = (lo + hi) / 2
    return out


def _greedy_in_order(A: np.ndarray) -> np.ndarray:
    """Keep-mask of the greedy in-order scan; ``A[i, j]`` (``i < j``) means i and j conflict.

    Node j is kept when no earlier kept node conflicts with it. Solved in rounds of
    matrix-vector products instead of a Python loop over nodes: each round drops the nodes
    with an earlier kept neighbour and keeps those whose earlier neighbours are all dropped.
    """
    A = A.astype(np.float32)
    undecided = np.ones(len(A), dtype=bool)
    keep = np.zeros(len(A), dtype=bool)
    while undecided.any():
        undecided &= ~((keep.astype(np.float32) @ A) > 0)
        new = undecided & ~((undecided.astype(np.float32) @ A) > 0)
        keep |= new
        undecided &= ~new
    return keep
