"""Symbolic extraction: a trained KAN gives back exp(sin(pi x) + y^2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch

from biozoo.errors import BiozooError
from biozoo.explain.kan_symbolic import LIBRARY, fit_edge, symbolic_formula
from biozoo.layers.kan import KAN


def _target(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.sin(math.pi * x[:, 0]) + x[:, 1] ** 2).unsqueeze(-1)


def _lbfgs(model: KAN, x: torch.Tensor, y: torch.Tensor, iters: int) -> None:
    opt = torch.optim.LBFGS(
        model.parameters(),
        lr=1.0,
        max_iter=iters,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        return loss

    opt.step(closure)


@pytest.mark.parametrize(
    ("f", "name"),
    [
        (lambda x: np.sin(np.pi * x), "sin"),
        (lambda x: 0.5 * (x - 0.2) ** 2 + 1, "x^2"),
        (lambda x: 2 * np.exp(1.3 * x - 0.2), "exp"),
        (lambda x: 3 * x - 1, "x"),
        (lambda x: np.sqrt(x + 1.5), "sqrt"),
    ],
)
def test_fit_edge_recovers_library_functions(f, name):
    x = np.linspace(-1, 2, 101)
    got, (a, b, c, d), r2 = fit_edge(x, f(x))
    assert got == name and r2 > 0.9999
    assert np.allclose(a * LIBRARY[got].numpy(b * x + c) + d, f(x), atol=1e-3)


def test_a_trained_kan_recovers_exp_sin_plus_square():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(500, 2, generator=g) * 2 - 1
    x_test = torch.rand(500, 2, generator=g) * 2 - 1
    torch.manual_seed(0)
    model = KAN([2, 1, 1], grid=5)
    for grid, iters in ((5, 40), (10, 80)):  # the paper's grid extension, coarse to fine
        model.update_grid(x, grid=grid)
        _lbfgs(model, x, _target(x), iters)

    sym = symbolic_formula(model, x, names=["x", "y"])
    y_test = _target(x_test).numpy()
    pred = sym.predict(x_test.numpy())
    r2 = 1 - ((pred - y_test) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum()
    assert r2 > 0.99
    expr = sym.expressions[0]
    assert expr.has(sp.sin) and expr.has(sp.exp)
    assert any(p.exp == 2 for p in expr.atoms(sp.Pow))  # the square of y
    table = sym.table()
    assert list(table["name"]) == ["sin", "x^2", "exp"]
    assert (table["r2"] > 0.999).all()
    assert "sin" in str(sym) and "**2" in str(sym)


def test_small_edges_are_pruned_to_constants():
    torch.manual_seed(1)
    model = KAN([2, 1])
    with torch.no_grad():
        model.layers[0].base_weight[0, 1] = 0.0
        model.layers[0].spline_weight[0, 1] = 0.0
    sym = symbolic_formula(model, torch.rand(50, 2) * 2 - 1, library=["x", "x^2"])
    assert list(sym.table()["name"])[1] == "0"
    assert sym.expressions[0].free_symbols == {sp.Symbol("x_1")}


def test_unknown_library_entry_is_a_biozoo_error():
    with pytest.raises(BiozooError, match="cosh"):
        fit_edge(np.linspace(0, 1, 10), np.linspace(0, 1, 10), library=["cosh"])
