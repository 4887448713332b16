"""The fast selective scan agrees with the sequential reference, values and gradients."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import vmap

from biozoo.errors import BiozooError
from biozoo.layers.mamba import MambaLayer
from biozoo.layers.ssm import selective_scan, selective_scan_reference


def scan_inputs(b=3, length=37, d=5, n=4, *, dtype=torch.float64, seed=0, per_sample_a=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, length, d, generator=g, dtype=dtype)
    dt = F.softplus(torch.randn(b, length, d, generator=g, dtype=dtype))
    a_shape = (b, d, n) if per_sample_a else (d, n)
    A = -3 * torch.rand(*a_shape, generator=g, dtype=dtype)
    B = torch.randn(b, length, n, generator=g, dtype=dtype)
    C = torch.randn(b, length, n, generator=g, dtype=dtype)
    return [t.requires_grad_() for t in (x, dt, A, B, C)]


def value_and_grads(fn, args, seed=1):
    y = fn(*args)
    gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    return y, torch.autograd.grad(y, args, gy)


@pytest.mark.parametrize("block", [1, 4, 7, 37, 64])
@pytest.mark.parametrize("per_sample_a", [False, True])
def test_fast_matches_reference_float64(block, per_sample_a):
    args = scan_inputs(per_sample_a=per_sample_a)
    y, grads = value_and_grads(lambda *a: selective_scan(*a, block=block), args)
    y_ref, grads_ref = value_and_grads(selective_scan_reference, args)
    torch.testing.assert_close(y, y_ref, atol=1e-9, rtol=1e-9)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref, atol=1e-9, rtol=1e-9)


def test_fast_matches_reference_float32():
    args = scan_inputs(b=2, length=300, d=8, n=16, dtype=torch.float32)
    y, grads = value_and_grads(selective_scan, args)
    y_ref, grads_ref = value_and_grads(selective_scan_reference, args)
    torch.testing.assert_close(y, y_ref, atol=1e-4, rtol=1e-4)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref, atol=2e-3, rtol=1e-3)


def test_fast_path_passes_gradcheck():
    args = scan_inputs(b=2, length=6, d=3, n=2)
    assert torch.autograd.gradcheck(lambda *a: selective_scan(*a, block=4), args)


def test_scan_matches_an_explicit_recurrence():
    x, dt, A, B, C = (t.detach() for t in scan_inputs(b=1, length=5, d=2, n=3))
    h = torch.zeros(2, 3, dtype=x.dtype)
    for t in range(5):
        h = torch.exp(dt[0, t, :, None] * A) * h + dt[0, t, :, None] * B[0, t] * x[0, t, :, None]
        torch.testing.assert_close(selective_scan(x, dt, A, B, C)[0, t], h @ C[0, t])


def test_zero_steps_are_skipped():
    """dt = 0 leaves the state untouched: how padded positions are made harmless."""
    x, dt, A, B, C = (t.detach() for t in scan_inputs(b=2, length=10))
    y = selective_scan(x, dt, A, B, C)
    keep = torch.tensor([1, 1, 0, 1, 0, 0, 1, 1, 1, 0], dtype=torch.bool)
    y_holes = selective_scan(x, dt * keep[None, :, None], A, B, C)
    y_short = selective_scan(x[:, keep], dt[:, keep], A, B[:, keep], C[:, keep])
    torch.testing.assert_close(y_holes[:, keep], y_short)
    assert not torch.allclose(y_holes[:, keep], y[:, keep])


def test_vmap_rule_matches_a_loop_over_members():
    members = 3
    per_member = [scan_inputs(seed=s) for s in range(members)]
    args = [torch.stack([m[i].detach() for m in per_member]).requires_grad_() for i in range(5)]
    y = vmap(selective_scan)(*args)
    loop = [t.detach().clone().requires_grad_() for t in args]
    y_loop = torch.stack([selective_scan_reference(*(t[m] for t in loop)) for m in range(members)])
    torch.testing.assert_close(y, y_loop)
    grads = torch.autograd.grad(y.square().sum(), args)
    grads_loop = torch.autograd.grad(y_loop.square().sum(), loop)
    for g, g_loop in zip(grads, grads_loop, strict=True):
        torch.testing.assert_close(g, g_loop)


def test_vmap_with_a_shared_state_matrix():
    x, dt, A, B, C = (t.detach() for t in scan_inputs())
    stack = [torch.stack([t, 2 * t]) for t in (x, dt, B, C)]
    y = vmap(lambda x, dt, B, C: selective_scan(x, dt, A, B, C))(*stack)
    torch.testing.assert_close(y[1], selective_scan_reference(2 * x, 2 * dt, A, 2 * B, 2 * C))


def test_fast_path_saves_block_starts_not_the_state_history():
    b, length, d, n = 2, 512, 8, 16
    x, dt, A, B, C = scan_inputs(b, length, d, n, dtype=torch.float32)
    y = selective_scan(x, dt, A, B, C)
    saved = sum(t.numel() for t in y.grad_fn.saved_tensors)
    inputs = sum(t.numel() for t in (x, dt, A, B, C))
    assert saved - inputs < 0.1 * b * length * d * n  # the full history: b * L * d * n


def test_reference_loop_unbinds_time_instead_of_indexing():
    """Indexing x[:, t] per step would add one SelectBackward node (a full-size gradient) per
    step to the graph: the quadratic backward the reference avoids."""
    y = selective_scan_reference(*scan_inputs(length=20))
    seen, stack, names = set(), [y.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        stack.extend(fn for fn, _ in node.next_functions)
    assert not any(name.startswith("SelectBackward") for name in names)
    assert any(name.startswith("UnbindBackward") for name in names)


def test_bad_shapes_are_reported():
    x, dt, A, B, C = (t.detach() for t in scan_inputs())
    with pytest.raises(BiozooError, match="dt"):
        selective_scan(x, dt[:, :-1], A, B, C)
    with pytest.raises(BiozooError, match="A"):
        selective_scan(x, dt, A[:-1], B, C)
    with pytest.raises(BiozooError, match="method"):
        selective_scan(x, dt, A, B, C, method="parallel")


@pytest.mark.parametrize("bidirectional", [False, True])
def test_mamba_layer_fast_equals_reference_and_ignores_padding(bidirectional):
    torch.manual_seed(0)
    fast = MambaLayer(8, d_state=4, bidirectional=bidirectional).double()
    ref = MambaLayer(8, d_state=4, bidirectional=bidirectional, scan="reference").double()
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    torch.testing.assert_close(fast(x, mask), ref(x, mask))
    padded = torch.cat([x, torch.randn(2, 3, 8, dtype=torch.float64)], dim=1)
    pmask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], dim=1)
    out, out_padded = fast(x, mask), fast(padded, pmask)
    torch.testing.assert_close(out_padded[:, :6][mask], out[mask])


def test_mamba_layer_runs_under_bfloat16_autocast():
    torch.manual_seed(0)
    layer = MambaLayer(8, d_state=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(torch.randn(2, 5, 8))
    out.float().sum().backward()
    assert torch.isfinite(out.float()).all()
    assert all(p.grad is not None for p in layer.parameters())
