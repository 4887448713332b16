"""Symbolic formulas from a trained KAN: fit each edge's function from a small library.

Liu et al. 2024, *KAN: Kolmogorov-Arnold Networks*, https://arxiv.org/abs/2404.19756, §2.5.1.
Each edge ``phi_{o,i}`` of a trained :class:`~biozoo.layers.kan.KAN` is a univariate function;
sampled on the range its input took on the data, it is matched against candidates
``a * f(b * x + c) + d`` (``f`` from :data:`LIBRARY`): a grid search over ``(b, c)`` with the
best ``(a, d)`` in closed form (least squares), refined by nonlinear least squares. The best
candidate by R^2 (the simpler one on near-ties) replaces the edge, and the network's formula is
composed with sympy. The edges are sampled where the KAN's weights are (the data is moved to
its device) and fitted on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sympy as sp
import torch
from scipy.optimize import least_squares
from torch import nn

from biozoo.errors import BiozooError
from biozoo.layers.kan import KANLinear
from biozoo.train.device import module_device

__all__ = ["LIBRARY", "EdgeFit", "SymbolicKAN", "fit_edge", "symbolic_formula"]


@dataclass(frozen=True)
class _Candidate:
    numpy: Callable[[np.ndarray], np.ndarray]
    sympy: Callable[[sp.Expr], sp.Expr]
    complexity: int


LIBRARY: dict[str, _Candidate] = {
    "x": _Candidate(lambda z: z, lambda z: z, 1),
    "x^2": _Candidate(np.square, lambda z: z**2, 2),
    "x^3": _Candidate(lambda z: z**3, lambda z: z**3, 3),
    "exp": _Candidate(np.exp, sp.exp, 2),
    "log": _Candidate(lambda z: np.where(z > 0, np.log(np.abs(z) + 1e-300), np.nan), sp.log, 2),
    "sqrt": _Candidate(lambda z: np.where(z >= 0, np.sqrt(np.abs(z)), np.nan), sp.sqrt, 2),
    "1/x": _Candidate(lambda z: np.where(np.abs(z) > 1e-3, 1.0 / z, np.nan), lambda z: 1 / z, 2),
    "sin": _Candidate(np.sin, sp.sin, 3),
    "tanh": _Candidate(np.tanh, sp.tanh, 3),
    "abs": _Candidate(np.abs, sp.Abs, 3),
}
"""Candidate functions: name -> numpy and sympy forms and a complexity (for near-ties)."""

_B_GRID = np.concatenate([-np.geomspace(0.2, 8.0, 16)[::-1], np.geomspace(0.2, 8.0, 16)])
_C_GRID = np.linspace(-4.0, 4.0, 33)


@dataclass(frozen=True)
class EdgeFit:
    """One edge's symbolic replacement ``a * f(b * x + c) + d`` and its R^2 on the samples.

    ``layer``, ``inp`` and ``out`` locate the edge; ``name`` is a :data:`LIBRARY` key, or
    ``"0"`` for an edge too small to matter (a constant ``d``).
    """

    layer: int
    inp: int
    out: int
    name: str
    a: float
    b: float
    c: float
    d: float
    r2: float

    def expression(self, z: sp.Expr, digits: int = 4) -> sp.Expr:
        if self.name == "0":
            return sp.Float(self.d, digits)
        f = LIBRARY[self.name].sympy
        a, b, c, d = (sp.Float(v, digits) for v in (self.a, self.b, self.c, self.d))
        inner = b * z + c if self.name != "x" else z
        return a * f(inner) + d


def _r2(pred: np.ndarray, y: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / ss if ss > 0 else 1.0


def _grid_fit(name: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Grid search over ``(b, c)`` with ``(a, d)`` by least squares, on ``x`` in ``[-1, 1]``.

    For fixed ``(b, c)`` the best affine ``a * f + d`` has ``R^2 = corr(f, y)^2``, so the whole
    grid is scored in one vectorised pass.
    """
    f = LIBRARY[name].numpy
    if name == "x":
        a, d = np.polyfit(x, y, 1)
        return np.array([a, 1.0, 0.0, d]), _r2(a * x + d, y)
    b, c = np.meshgrid(_B_GRID, _C_GRID, indexing="ij")
    with np.errstate(all="ignore"):
        vals = f(b.reshape(-1, 1) * x + c.reshape(-1, 1))  # (grid, n)
        vc = vals - vals.mean(1, keepdims=True)
        norm = np.sqrt((vc**2).sum(1))
        yc = y - y.mean()
        corr = vc @ yc / (norm * np.sqrt((yc**2).sum()) + 1e-300)
    ok = np.isfinite(corr) & (norm > 1e-9 * np.sqrt(len(x)))
    if not ok.any():
        return None
    best = int(np.argmax(np.where(ok, corr**2, -1.0)))
    a = float(vc[best] @ yc / norm[best] ** 2)
    d = float(y.mean() - a * vals[best].mean())
    return np.array([a, b.flat[best], c.flat[best], d]), float(corr[best] ** 2)


def _refine(name: str, p0: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Nonlinear least squares on ``(a, b, c, d)`` from the grid's best point."""
    f = LIBRARY[name].numpy

    def resid(p: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            r = p[0] * f(p[1] * x + p[2]) + p[3] - y
        return np.where(np.isfinite(r), r, 1e3)

    p = least_squares(resid, p0, method="lm", max_nfev=100).x
    with np.errstate(all="ignore"):
        pred = p[0] * f(p[1] * x + p[2]) + p[3]
    if not np.isfinite(pred).all():
        return p0, _r2(p0[0] * f(p0[1] * x + p0[2]) + p0[3], y)
    return p, _r2(pred, y)


def fit_edge(
    x: np.ndarray,
    y: np.ndarray,
    *,
    library: Sequence[str] | None = None,
    tol: float = 1e-4,
    refine: int = 3,
) -> tuple[str, tuple[float, float, float, float], float]:
    """Fit ``y ~ a * f(b * x + c) + d`` for every ``f`` in ``library``; keep the best.

    Args:
        x: sample positions (1-D).
        y: the edge's values there (1-D).
        library: candidate names (default: all of :data:`LIBRARY`).
        tol: candidates whose R^2 is within ``tol`` of the best count as tied; the least
            complex of them wins (so ``x^2`` beats a wide ``sin`` bump that mimics it).
        refine: how many of the grid search's best candidates get the nonlinear refinement.

    Returns:
        ``(name, (a, b, c, d), r2)`` with ``(a, b, c, d)`` in the units of ``x``.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    names = list(LIBRARY) if library is None else list(library)
    unknown = [n for n in names if n not in LIBRARY]
    if unknown:
        raise BiozooError(f"symbolic library entries {unknown} are not in {sorted(LIBRARY)}.")
    mid, half = (x.max() + x.min()) / 2, max((x.max() - x.min()) / 2, 1e-12)
    xs = (x - mid) / half
    fits = {n: r for n in names if (r := _grid_fit(n, xs, y)) is not None}
    if not fits:
        raise BiozooError("no symbolic candidate could be fitted to an edge (all invalid).")
    # refine the few candidates that the grid search left in contention
    grid_best = max(r2 for _, r2 in fits.values())
    contenders = sorted(fits, key=lambda n: -fits[n][1])[:refine]
    for n in contenders:
        p, r2 = fits[n]
        if n != "x" and r2 >= 1 - 10 * (1 - grid_best) - 1e-3:
            fits[n] = max(_refine(n, p, xs, y), (p, r2), key=lambda t: t[1])
    best_r2 = max(r2 for _, r2 in fits.values())
    name = min(
        (n for n, (_, r2) in fits.items() if r2 >= best_r2 - tol),
        key=lambda n: (LIBRARY[n].complexity, -fits[n][1]),
    )
    (a, b, c, d), r2 = fits[name]
    if name == "x":  # a * (x - mid) / half + d
        return name, (a / half, 1.0, 0.0, d - a * mid / half), r2
    return name, (a, b / half, c - b * mid / half, d), r2


@dataclass
class SymbolicKAN:
    """A KAN's symbolic formula: one sympy expression per output, and the edge table."""

    variables: list[sp.Symbol]
    expressions: list[sp.Expr]
    edges: list[EdgeFit]

    def table(self) -> pd.DataFrame:
        """One row per edge: layer, input, output, function, ``a, b, c, d`` and R^2."""
        return pd.DataFrame([e.__dict__ for e in self.edges])

    def predict(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """The formula evaluated on ``x [N, n_inputs]``; returns ``[N, n_outputs]``."""
        x = np.asarray(x.detach() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
        fn = sp.lambdify(self.variables, self.expressions, modules="numpy")
        cols = fn(*x.T)
        return np.stack([np.broadcast_to(np.asarray(c, float), x.shape[:1]) for c in cols], 1)

    def __str__(self) -> str:
        return "\n".join(f"y_{o} = {e}" for o, e in enumerate(self.expressions))


def _layers(model: nn.Module | Sequence[KANLinear]) -> list[KANLinear]:
    layers = list(getattr(model, "layers", model))
    if not layers or not all(isinstance(m, KANLinear) for m in layers):
        raise BiozooError("symbolic_formula needs a KAN (or a list of KANLinear layers).")
    return layers


@torch.no_grad()
def symbolic_formula(
    model: nn.Module | Sequence[KANLinear],
    x: torch.Tensor,
    *,
    library: Sequence[str] | None = None,
    n_samples: int = 201,
    prune: float = 1e-3,
    names: Sequence[str] | None = None,
    digits: int = 4,
) -> SymbolicKAN:
    """Replace every edge of a trained KAN by its best library fit and compose the formula.

    Args:
        model: a trained :class:`~biozoo.layers.kan.KAN` (on any device).
        x: data ``[N, n_inputs]``; each edge is sampled on the range its input takes on it
            (moved to the model's device).
        library: candidate names (default: all of :data:`LIBRARY`).
        n_samples: points per edge.
        prune: an edge whose value range is below ``prune`` times the largest range in its
            layer becomes a constant (``"0"`` in the table).
        names: input variable names (default ``x_1 ... x_n``).
        digits: significant digits of the constants in the formula.

    Returns:
        the formula, its variables and the per-edge table (with each edge's R^2).
    """
    layers = _layers(model)
    n_in = layers[0].in_features
    names = list(names) if names is not None else [f"x_{i + 1}" for i in range(n_in)]
    if len(names) != n_in:
        raise BiozooError(f"symbolic_formula got {len(names)} names for {n_in} inputs.")
    variables = [sp.Symbol(n) for n in names]
    nodes: list[sp.Expr] = list(variables)
    device = module_device(layers[0])
    h = x.reshape(-1, n_in).to(device, layers[0].base_weight.dtype)
    edges: list[EdgeFit] = []
    for li, layer in enumerate(layers):
        lo, hi = h.min(0).values, h.max(0).values
        steps = torch.linspace(0, 1, n_samples, device=device).unsqueeze(1)
        grid = lo + (hi - lo) * steps  # (n, in)
        phi = layer.edge_activations(grid).double().cpu().numpy()  # (n, out, in)
        xs = grid.double().cpu().numpy()
        spread = phi.max(0) - phi.min(0)  # (out, in)
        scale = float(spread.max()) if spread.size else 0.0
        out_nodes: list[sp.Expr] = []
        for o in range(layer.out_features):
            total: sp.Expr = sp.Integer(0)
            for i in range(layer.in_features):
                y = phi[:, o, i]
                if spread[o, i] <= prune * scale:
                    fit = EdgeFit(li, i, o, "0", 0.0, 0.0, 0.0, float(y.mean()), 1.0)
                else:
                    name, (a, b, c, d), r2 = fit_edge(xs[:, i], y, library=library)
                    fit = EdgeFit(li, i, o, name, a, b, c, d, r2)
                edges.append(fit)
                total = total + fit.expression(nodes[i], digits)
            out_nodes.append(total)
        nodes = out_nodes
        h = layer(h)
    return SymbolicKAN(variables, nodes, edges)
