"""The fast B-spline paths against the reference: lookup tables, de Boor, uniform, and the
compiled CPU kernels against the tensor paths."""

from __future__ import annotations

import pytest
import torch

from biozoo.layers import bspline, spline_kernels
from biozoo.layers.bspline import (
    bspline_basis,
    compiled_kernels,
    gather_slopes,
    interval_tables,
    local_bases,
    place,
    tabled_bases,
    uniform_grid,
)
from biozoo.layers.kan import KAN, KANLinear
from biozoo.train.ensemble import StackedEnsemble


def _odd_knots(order: int) -> torch.Tensor:
    """Quantile knots of skewed samples, with two coincident interior knots in input 1."""
    torch.manual_seed(8)
    layer = KANLinear(3, 2, grid=5, order=order).double()
    layer.update_grid(torch.randn(60, 3, dtype=torch.float64) ** 3)
    knots = layer.knots.clone()
    knots[1, order + 2] = knots[1, order + 3]
    return knots


def _probe(knots: torch.Tensor) -> torch.Tensor:
    """Inputs inside, exactly on every knot, just beside knots, and far outside the grid."""
    torch.manual_seed(9)
    on = knots.t()
    beside = torch.cat([on + 1e-9, on - 1e-9])
    far = torch.tensor([[-50.0, 50.0, 0.0], [1e6, -1e6, 3.0]], dtype=knots.dtype)
    return torch.cat([torch.randn(40, 3, dtype=knots.dtype) * 2, on, beside, far])


@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("compiled", [True, False])
def test_tabled_and_de_boor_paths_match_the_reference(order, compiled):
    knots = _odd_knots(order)
    tables = interval_tables(knots, order)
    assert tables is not None
    x = _probe(knots)
    want = bspline_basis(x, knots, order)
    with compiled_kernels(compiled):
        for got in (tabled_bases(x, tables), local_bases(x, knots, order)):
            assert torch.allclose(got, want, atol=1e-12)


def _counted(monkeypatch) -> dict[str, int]:
    """Count the calls to each compiled kernel."""
    calls: dict[str, int] = {}
    for name in spline_kernels.__all__:
        kernel = getattr(spline_kernels, name)

        def counting(*args, _kernel=kernel, _name=name):
            calls[_name] = calls.get(_name, 0) + 1
            return _kernel(*args)

        monkeypatch.setattr(spline_kernels, name, counting)
    return calls


@pytest.mark.parametrize("order", [0, 1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("adapted", [False, True])
def test_compiled_kernels_agree_with_the_tensor_paths(order, dtype, adapted, monkeypatch):
    # local bases, their slopes and starts, the placed bases and the gathered gradient, on
    # inputs inside, on and beside knots (coincident ones too) and far outside the grid
    knots = _odd_knots(order)
    if not adapted:
        knots = KANLinear(3, 2, grid=5, order=order).knots.double()
    knots = knots.to(dtype)
    plan = interval_tables(knots, order) if adapted else uniform_grid(knots, order)
    x = _probe(knots)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"atol": 1e-12}
    with compiled_kernels(False):
        want = plan.local(x, True)
        want_dense = place(want)
        grad = torch.randn(want_dense.numel() + 2 * want.margin, dtype=dtype)
        want_grad = None if want.slopes is None else gather_slopes(grad, want.start, *want[1:3])
    calls = _counted(monkeypatch)
    got = plan.local(x, True)
    got_dense = place(got)
    # on a knot (up to rounding) either neighbouring interval is right: the bases agree there,
    # their starts (and, for order 1, slopes) need not
    away = ((x.unsqueeze(-1) - knots).abs() > 1e-5 * (1 + x.abs().unsqueeze(-1))).all(-1)
    assert away.sum() > x.numel() // 2
    assert torch.equal(got.start[away], want.start[away])
    assert torch.allclose(got.values[:, away], want.values[:, away], **tol)
    assert torch.allclose(got_dense, want_dense, **tol)
    if order:
        got_grad = gather_slopes(grad, got.start, got.slopes, got.scale)
        assert torch.allclose(got_grad[away], want_grad[away], **tol)
    else:
        assert got.slopes is None and want.slopes is None
    assert calls["place"] == 1 and calls.get("gather_slopes", 0) == (1 if order else 0)
    assert calls.get("tabled_local" if adapted else "uniform_local", 0) == 1


@pytest.mark.parametrize("adapted", [False, True])
def test_a_nan_or_infinite_input_touches_its_own_sample_only(adapted):
    torch.manual_seed(13)
    net = KAN([3, 4, 2])
    x = torch.randn(6, 3)
    if adapted:
        net.update_grid(x)
    x[4, 2] = float("inf")  # the last input: its bases' slots border sample 5's
    with compiled_kernels(False):  # the tensor paths: infinite inputs only
        assert net(x)[[0, 1, 2, 3, 5]].isfinite().all()
    x[2, 1] = float("nan")
    y = net(x)
    assert y[2].isnan().all()
    assert y[[0, 1, 3, 5]].isfinite().all()


@pytest.mark.parametrize("order", [1, 3])
def test_tabled_gradient_matches_de_boor_and_passes_gradcheck(order):
    knots = _odd_knots(order)
    tables = interval_tables(knots, order)
    x = _probe(knots)[:44].requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    w = torch.randn(x.shape[0], 3, knots.shape[1] - order - 1, dtype=x.dtype)
    (tabled_bases(x, tables) * w).sum().backward()
    (local_bases(x2, knots, order) * w).sum().backward()
    assert x.grad.isfinite().all() and torch.allclose(x.grad, x2.grad, atol=1e-9)
    tiny = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: tabled_bases(v, tables), (tiny,))


def test_knots_too_close_for_a_lookup_grid_take_de_boor(monkeypatch):
    knots = _odd_knots(3)
    monkeypatch.setattr(bspline, "_MAX_TABLE_ENTRIES", 10)
    assert interval_tables(knots, 3) is None
    layer = KANLinear(3, 2, grid=5).double()
    layer._set_knots(knots)
    x = _probe(knots)
    assert torch.allclose(layer.bases(x), bspline_basis(x, knots, 3), atol=1e-12)


@pytest.mark.parametrize("compiled", [True, False])
def test_a_float32_lookup_grid_near_its_size_limit_finds_every_interval(compiled):
    # one close pair of knots per input makes about 2**20 lookup cells in all, so the flat
    # cell positions round in float32; inputs a third of a cell beside every knot must still
    # find their interval (read back from where their bases start)
    torch.manual_seed(12)
    n_in = 64
    knots = torch.linspace(-1, 1, 12, dtype=torch.float64).repeat(n_in, 1)
    knots[:, 1:-1] += (torch.rand(n_in, 10, dtype=torch.float64) - 0.5) * 0.05
    knots[:, 6] = knots[:, 5] + 2e-4  # 1.6 * span / gap = 16,000 cells per input
    knots = knots.float()
    tables = interval_tables(knots, 3)
    assert tables is not None and tables.cell_high.max() > 2**19
    width = 2.0 / 16_000
    x = torch.cat([knots.t() + 0.3 * width, knots.t() - 0.3 * width])
    with compiled_kernels(compiled):
        local = tables.local(x, False)
    n_bases = knots.shape[1] - 4
    flat = torch.arange(x.numel()).view_as(x) * n_bases
    mu = (x.unsqueeze(-1) >= knots).sum(-1) - 1
    assert torch.equal(local.start - flat - 1, mu)


def test_tables_follow_the_knots_through_updates_dtype_and_state_dicts():
    torch.manual_seed(10)
    layer = KANLinear(2, 2)
    x = torch.randn(64, 2)
    layer.update_grid(x)
    first = layer._plan()
    layer.update_grid(x * 3)  # new knots in place: the tables are rebuilt
    assert layer._plan() is not first
    assert torch.allclose(layer.bases(x * 3), bspline_basis(x * 3, layer.knots, 3), atol=1e-5)
    double = layer.double()
    xd = x.double()
    assert double._plan().intervals.dtype == torch.float64
    assert torch.allclose(double.bases(xd), bspline_basis(xd, double.knots, 3), atol=1e-12)
    fresh = KANLinear(2, 2).double()
    fresh.load_state_dict(double.state_dict())
    assert torch.allclose(fresh(xd), double(xd), atol=1e-12)


def test_stacked_adapted_members_match_single_models_with_gradients():
    # under vmap the adapted grid takes de Boor's triangle; outputs and every gradient agree
    torch.manual_seed(11)
    x = torch.randn(40, 3)

    def make() -> KAN:
        net = KAN([3, 4, 2], grid=4)
        net.update_grid(x)
        return net

    ens = StackedEnsemble(make, seeds=[3, 4])
    xs = torch.randn(2, 6, 3)
    ens(xs).pow(2).sum().backward()
    for m, seed in enumerate([3, 4]):
        torch.manual_seed(seed)
        single = make()
        single(xs[m]).pow(2).sum().backward()
        for (name, p), stacked in zip(single.named_parameters(), ens.stacked, strict=True):
            assert torch.allclose(stacked.grad[m], p.grad, atol=1e-5), name
