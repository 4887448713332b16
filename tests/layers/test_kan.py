"""KAN layers: B-spline bases against a hand computation, grid update, gradients, vmap."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from biozoo.errors import BiozooError
from biozoo.layers.bspline import compiled_kernels
from biozoo.layers.kan import KAN, KANFeedForward, KANLinear, bspline_basis
from biozoo.train.ensemble import StackedEnsemble


def _hand_basis(x: float, t: list[float], k: int) -> list[float]:
    """Cox-de Boor written out scalar by scalar, straight from the definition."""
    b = [1.0 if t[i] <= x < t[i + 1] else 0.0 for i in range(len(t) - 1)]
    for j in range(1, k + 1):
        nxt = []
        for i in range(len(b) - 1):
            left = (x - t[i]) / (t[i + j] - t[i]) * b[i] if t[i + j] > t[i] else 0.0
            right = (
                (t[i + j + 1] - x) / (t[i + j + 1] - t[i + 1]) * b[i + 1]
                if t[i + j + 1] > t[i + 1]
                else 0.0
            )
            nxt.append(left + right)
        b = nxt
    return b


def test_cubic_bases_on_a_tiny_grid_match_the_textbook_values():
    # grid 2 on [-1, 1], order 3: knots -4..4 step 1; at a knot the cubic bases are 1/6, 2/3, 1/6
    layer = KANLinear(1, 1, grid=2, order=3)
    assert layer.knots[0].tolist() == [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    b = layer.bases(torch.tensor([[0.0]]))[0, 0]
    assert torch.allclose(b, torch.tensor([0, 1 / 6, 2 / 3, 1 / 6, 0]), atol=1e-6)


@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("adapted", [False, True])
def test_bases_match_a_hand_computed_cox_de_boor(order, adapted):
    torch.manual_seed(0)
    layer = KANLinear(2, 1, grid=3, order=order)
    if adapted:  # non-uniform knots take the other code path
        layer.update_grid(torch.randn(40, 2) ** 3)
    assert layer._uniform is not adapted
    x = torch.tensor([[-0.95, 0.3], [0.0, -0.51], [0.77, 1.0], [-7.0, 9.0], [0.333, -0.2]])
    got = layer.bases(x)
    for n in range(x.shape[0]):
        for i in range(2):
            want = _hand_basis(float(x[n, i]), layer.knots[i].tolist(), order)
            assert torch.allclose(got[n, i], torch.tensor(want), atol=1e-5), (n, i)


@pytest.mark.parametrize("adapted", [False, True])
def test_basis_gradient_matches_autograd_through_the_reference(adapted):
    torch.manual_seed(1)
    layer = KANLinear(3, 2, grid=4)
    if adapted:
        layer.update_grid(torch.randn(50, 3) * 0.7)
    x = (torch.rand(16, 3) * 2.4 - 1.2).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    w = torch.randn(16, 3, 7)
    (layer.bases(x) * w).sum().backward()
    (bspline_basis(x_ref, layer.knots, 3) * w).sum().backward()
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-4)


@pytest.mark.parametrize("adapted", [False, True])
def test_layer_passes_gradcheck(adapted):
    torch.manual_seed(7)
    layer = KANLinear(3, 2, grid=4).double()
    if adapted:
        layer.update_grid(torch.randn(30, 3, dtype=torch.float64))
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("adapted", [False, True])
@pytest.mark.parametrize("out", [1, 3])  # one output takes its own input-gradient path
@pytest.mark.parametrize("compiled", [True, False])  # the CPU kernels, the tensor paths
def test_layer_output_and_input_gradient_match_the_reference_everywhere(
    order, adapted, out, compiled
):
    # inside the grid, in its extensions (partial bases) and far outside, several inputs side
    # by side: a partial basis that is not zero would land in its neighbour's slots
    with compiled_kernels(compiled):
        _check_layer_against_the_reference(order, adapted, out)


def _check_layer_against_the_reference(order: int, adapted: bool, out: int) -> None:
    torch.manual_seed(12)
    layer = KANLinear(4, out, grid=4, order=order).double()
    with torch.no_grad():
        layer.spline_weight.normal_(0, 0.5)
    if adapted:
        layer.update_grid(torch.randn(50, 4, dtype=torch.float64))
    x = torch.cat([torch.randn(40, 4) * 2, torch.tensor([[-40.0, 40.0, 1e6, -1e6]])]).double()
    x.requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    weights = torch.randn(41, out, dtype=torch.float64)
    (layer(x) * weights).sum().backward()
    ref = torch.einsum("nic,oic->no", bspline_basis(x_ref, layer.knots, order), layer.spline_weight)
    ref = ref + F.linear(F.silu(x_ref), layer.base_weight)
    (ref * weights).sum().backward()
    assert torch.allclose(layer(x), ref, atol=1e-12)
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-10)


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("compiled", [True, False])
def test_adapted_bases_and_gradients_match_the_reference_on_odd_knots(order, compiled):
    # quantile knots with a coincident pair, inputs inside, on knots and far outside the grid
    with compiled_kernels(compiled):
        _check_odd_knots_against_the_reference(order)


def _check_odd_knots_against_the_reference(order: int) -> None:
    torch.manual_seed(8)
    layer = KANLinear(3, 2, grid=5, order=order).double()
    layer.update_grid(torch.randn(60, 3, dtype=torch.float64) ** 3)
    knots = layer.knots.clone()
    knots[1, order + 2] = knots[1, order + 3]  # two interior knots coincide
    layer._set_knots(knots)
    assert not layer._uniform
    x = torch.cat([torch.randn(40, 3, dtype=torch.float64) * 2, knots[:, order::2].t()])
    x = torch.cat([x, torch.tensor([[-50.0, 50.0, 0.0]], dtype=torch.float64)])
    x = x.requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    got, want = layer.bases(x), bspline_basis(x_ref, knots, order)
    assert torch.allclose(got, want, atol=1e-12)
    w = torch.randn_like(want)
    (got * w).sum().backward()
    (want * w).sum().backward()
    # the reference's torch.where gives NaN gradients where knots coincide (input 1)
    assert x_ref.grad[:, 1].isnan().any() and x.grad.isfinite().all()
    assert torch.allclose(x.grad[:, [0, 2]], x_ref.grad[:, [0, 2]], atol=1e-10)
    inside = (x > knots[:, 0] + 1e-3) & (x < knots[:, -1] - 1e-3)
    assert inside.any() and not inside.all()
    tiny = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (tiny,))


def test_layer_output_is_base_branch_plus_splines():
    torch.manual_seed(2)
    layer = KANLinear(3, 2, grid=4)
    x = torch.randn(5, 3)
    spline = torch.einsum("nic,oic->no", bspline_basis(x, layer.knots, 3), layer.spline_weight)
    want = torch.nn.functional.silu(x) @ layer.base_weight.T + spline
    assert torch.allclose(layer(x), want, atol=1e-5)
    assert torch.allclose(layer.edge_activations(x).sum(-1), want, atol=1e-5)


@pytest.mark.parametrize(("new_grid", "tol"), [(None, 0.2), (20, 0.01)])
def test_grid_update_keeps_the_function(new_grid, tol):
    torch.manual_seed(3)
    net = KAN([3, 4, 2], grid=5)
    with torch.no_grad():
        for layer in net.layers:
            layer.spline_weight.normal_(0, 0.3)
    x = torch.rand(200, 3) * 1.6 - 0.8
    before = net(x).detach()
    old_coef = net.layers[0].spline_weight.detach().clone()
    net.update_grid(x, grid=new_grid)
    after = net(x).detach()
    assert not net.layers[0]._uniform
    assert net.layers[0].spline_weight.shape[-1] == (new_grid or 5) + 3
    # the knots moved to the samples, inside the old [-1, 1]
    assert net.layers[0].knots[:, 3].max() < -0.7 and net.layers[0].knots[:, -4].min() > 0.7
    assert (after - before).abs().max() < tol * before.std()
    if new_grid is None:  # moving the knots without the refit would not keep the function
        with torch.no_grad():
            net.layers[0].spline_weight.copy_(old_coef)
        assert (net(x) - before).abs().max() > 3 * (after - before).abs().max()


def test_shapes_and_every_parameter_gets_a_gradient():
    torch.manual_seed(4)
    net = KAN([4, 3, 2], grid=3, order=2)
    x = torch.randn(2, 5, 4, requires_grad=True)
    y = net(x)
    assert y.shape == (2, 5, 2)
    y.pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    ff = KANFeedForward(6, 8, grid=4, order=3)
    assert ff(torch.randn(2, 3, 6)).shape == (2, 3, 6)


def test_regularisation_both_forms():
    torch.manual_seed(5)
    layer = KANLinear(3, 2)
    x = torch.randn(32, 3)
    phi = layer.edge_activations(x).abs().mean(0)  # (out, in): the paper's |phi|_1
    p = phi / phi.sum()
    want = 2.0 * phi.sum() - 0.5 * (p * p.log()).sum()
    assert torch.allclose(layer.regularization_loss(2.0, 0.5, x=x), want, atol=1e-5)
    m = layer.spline_weight.abs().mean(-1)
    q = m / m.sum()
    want_param = m.sum() - (q * q.log()).sum()
    assert torch.allclose(layer.regularization_loss(), want_param, atol=1e-5)
    net = KAN([3, 2, 1])
    total = net.regularization_loss(x=x)
    assert torch.allclose(
        total,
        net.layers[0].regularization_loss(x=x)
        + net.layers[1].regularization_loss(x=net.layers[0](x)),
    )
    total.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_stacked_members_under_vmap_match_single_models():
    def make() -> KAN:
        return KAN([3, 4, 2], grid=4)

    ens = StackedEnsemble(make, seeds=[7, 8])
    x = torch.randn(2, 6, 3)
    out = ens(x)
    for m, seed in enumerate([7, 8]):
        torch.manual_seed(seed)
        assert torch.allclose(out[m], make()(x[m]), atol=1e-5)
    with warnings.catch_warnings():  # no op falls back to a per-member loop
        warnings.filterwarnings("error", message=".*batching rule.*")
        out.pow(2).sum().backward()
    for m, seed in enumerate([7, 8]):  # every gradient, the spline's path to x included
        torch.manual_seed(seed)
        single = make()
        single(x[m]).pow(2).sum().backward()
        for (name, p), stacked in zip(single.named_parameters(), ens.stacked, strict=True):
            assert torch.allclose(stacked.grad[m], p.grad, atol=1e-5), name


def test_a_state_dict_with_adapted_knots_loads_into_a_fresh_layer():
    torch.manual_seed(6)
    layer = KANLinear(2, 2)
    layer.update_grid(torch.randn(30, 2) * 2)
    fresh = KANLinear(2, 2)
    assert fresh._uniform
    fresh.load_state_dict(layer.state_dict())
    x = torch.randn(8, 2)
    assert not fresh._uniform and torch.allclose(fresh(x), layer(x))


def test_bad_options_raise_a_biozoo_error():
    with pytest.raises(BiozooError, match="base_activation"):
        KANLinear(2, 2, base_activation="swish")
    with pytest.raises(BiozooError, match="grid_range"):
        KANLinear(2, 2, grid_range=(1.0, -1.0))
    with pytest.raises(BiozooError, match="widths"):
        KAN([3])
    with pytest.raises(BiozooError, match="at least 2 samples"):
        KANLinear(2, 2).update_grid(torch.zeros(1, 2))
