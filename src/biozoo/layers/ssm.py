r"""Mamba's selective state-space scan (S6) in pure PyTorch: a fast path and a reference loop.

Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
https://arxiv.org/abs/2312.00752. For every channel ``d`` and state ``n``:

.. math::
    h_t[d, n] = e^{\Delta_t[d] A[d, n]} h_{t-1}[d, n] + \Delta_t[d] B_t[n] x_t[d], \qquad
    y_t[d] = \sum_n C_t[n] h_t[d, n]

The state ``h`` is ``[batch, d, n]``; materialising it for every step costs
``batch * length * d * n`` floats, which is what makes pure-PyTorch Mamba slow and memory
hungry. Two paths:

- :func:`selective_scan_reference`: the recurrence written as a loop over ``x.unbind(1)``
  under plain autograd. ``unbind`` matters: indexing ``x[:, t]`` inside the loop makes
  autograd build a full-size gradient for every step (a quadratic backward).
- the fast path (default): a custom autograd function that walks the sequence in blocks of
  ``T`` steps. Inside a block, the decays ``exp(dt A)`` and inputs ``dt B x`` are computed
  for all ``T`` steps at once (vectorised), and the recurrence itself is one fused
  ``addcmul`` per step on a cache-sized ``[batch, d, n]`` slice. It saves only its inputs
  and the state at each block start (``1/T`` of the full state history); the backward pass
  recomputes a block's states from its start and runs the adjoint recurrence
  ``g_t = C_t y'_t + exp(dt_{t+1} A) g_{t+1}`` backwards through it. Time and memory are
  linear in length.

Parallel scans were measured against it (``benchmarks/scan_speed.py``, scan-only section):
on a CPU the scan is bound by elementwise throughput and memory traffic, not by the number of
sequential steps, and a Hillis-Steele scan (``O(L log L)`` work) or an SSD-style chunked scan
with log-space segment sums (``O(L c)`` work and memory) were 10 to 60 times slower than the
blocked loop at lengths 256 to 1k; mambapy's Blelloch ``pscan`` 3 to 6 times slower. The
code is device-agnostic (no CPU-only calls) but has not been tuned for a GPU, which prefers
fewer, larger kernels than one ``addcmul`` per step.

Both paths accept ``A`` of shape ``[d, n]`` or, per sample, ``[batch, d, n]``. The fast path
has a ``vmap`` rule (the member dim is folded into the batch), so it runs inside
``torch.func.vmap`` (stacked ensembles).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from biozoo.errors import BiozooError

__all__ = ["selective_scan", "selective_scan_reference"]

# Elements of one block tensor [T, batch, d, n]: a few of them stay in L2/L3 cache.
_BLOCK_ELEMENTS = 2**18


def selective_scan(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    *,
    method: Literal["fast", "reference"] = "fast",
    block: int | None = None,
) -> Tensor:
    """The selective scan ``y`` of Mamba (no skip term, no gating: the block adds those).

    Args:
        x: inputs ``[batch, L, d]``.
        dt: step sizes ``[batch, L, d]`` (positive; a zero step leaves the state untouched,
            which is how padded positions are skipped).
        A: state matrix (diagonal, negative) ``[d, n]`` or ``[batch, d, n]``.
        B: input projections ``[batch, L, n]``.
        C: output projections ``[batch, L, n]``.
        method: ``fast`` (blocked loop, custom backward) or ``reference`` (plain loop).
        block: steps per block for the fast path; default: about 256k state elements.

    Returns:
        ``y`` of shape ``[batch, L, d]``.
    """
    _check(x, dt, A, B, C)
    if method == "reference":
        return selective_scan_reference(x, dt, A, B, C)
    if method != "fast":
        raise BiozooError(f"selective_scan method must be 'fast' or 'reference', got {method!r}")
    if block is None:
        block = _block_size(x.shape[0], x.shape[2], A.shape[-1], x.shape[1])
    # one working dtype, at least float32 (autocast may hand over bfloat16 projections)
    work = torch.promote_types(torch.promote_types(x.dtype, A.dtype), torch.float32)
    args = [t.to(work) for t in (x, dt, A, B, C)]
    y, _ = _SelectiveScan.apply(*args, max(1, min(int(block), x.shape[1])))
    return y.to(x.dtype)


def selective_scan_reference(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """The recurrence as a plain loop over time (autograd differentiates it).

    Args and Returns: as :func:`selective_scan`.
    """
    h = x.new_zeros(x.shape[0], x.shape[2], A.shape[-1])  # (B, d, n)
    ys = []
    steps = zip(x.unbind(1), dt.unbind(1), B.unbind(1), C.unbind(1), strict=True)
    for x_t, dt_t, b_t, c_t in steps:
        decay = torch.exp(dt_t.unsqueeze(-1) * A)  # (B, d, n)
        h = decay * h + (dt_t * x_t).unsqueeze(-1) * b_t.unsqueeze(-2)
        ys.append((h * c_t.unsqueeze(-2)).sum(-1))  # (B, d)
    return torch.stack(ys, dim=1)


def _check(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> None:
    if x.dim() != 3 or x.shape[1] == 0:
        raise BiozooError(f"selective_scan needs x of shape [batch, L>0, d], got {tuple(x.shape)}")
    b, length, d = x.shape
    n = A.shape[-1]
    if dt.shape != x.shape:
        raise BiozooError(f"selective_scan: dt {tuple(dt.shape)} must match x {tuple(x.shape)}")
    if A.shape not in ((d, n), (b, d, n)):
        raise BiozooError(f"selective_scan: A {tuple(A.shape)} must be [d, n] or [batch, d, n]")
    for name, t in (("B", B), ("C", C)):
        if t.shape != (b, length, n):
            raise BiozooError(
                f"selective_scan: {name} {tuple(t.shape)} must be [batch, L, n] = {(b, length, n)}"
            )


def _block_size(batch: int, d: int, n: int, length: int) -> int:
    return max(1, min(length, _BLOCK_ELEMENTS // max(1, batch * d * n)))


def _block_terms(dt: Tensor, x: Tensor, A: Tensor, B: Tensor, decay: Tensor, inp: Tensor) -> None:
    """Decays ``exp(dt A)`` and inputs ``dt B x`` of one block, into ``[T, batch, d, n]`` buffers.

    Writing into buffers reused from block to block (rather than allocating) keeps the pages
    warm: a fresh megabyte-sized tensor per op costs as much in page faults as the op itself.
    """
    torch.mul(dt.unsqueeze(-1), A, out=decay).exp_()
    torch.mul((dt * x).unsqueeze(-1), B.unsqueeze(-2), out=inp)


def _time_major(*ts: Tensor) -> list[Tensor]:
    # contiguous, so that every block tensor computed from them is contiguous too
    return [t.transpose(0, 1).contiguous() for t in ts]


def _sum_states(t: Tensor, ones: Tensor) -> Tensor:
    """``t.sum(-1)`` over the short state dim, as a matrix-vector product (faster on CPU)."""
    return (t.reshape(-1, ones.shape[0]) @ ones).view(t.shape[:-1])


def _contract_channels(v: Tensor, t: Tensor) -> Tensor:
    """``sum_d v[..., d] * t[..., d, n]``: ``[T, B, d]`` x ``[T, B, d, n]`` -> ``[T, B, n]``."""
    return torch.matmul(v.unsqueeze(-2), t).squeeze(-2)


def _scan_forward(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, block: int):
    batch, length, d = x.shape
    n = A.shape[-1]
    ones = x.new_ones(n)
    xt, dtt, bt, ct = _time_major(x, dt, B, C)  # (L, B, .)
    decay_buf, hs_buf = x.new_empty(2, block, batch, d, n).unbind(0)
    h = x.new_zeros(batch, d, n)
    starts, ys = [], []
    for t0 in range(0, length, block):
        sl = slice(t0, t0 + block)
        steps = min(block, length - t0)
        decay, hs = decay_buf[:steps], hs_buf[:steps]
        starts.append(h)
        _block_terms(dtt[sl], xt[sl], A, bt[sl], decay, hs)  # hs holds the inputs u_t
        hs_t, decay_t = hs.unbind(0), decay.unbind(0)
        hs_t[0].addcmul_(decay_t[0], h)
        for t in range(1, steps):
            hs_t[t].addcmul_(decay_t[t], hs_t[t - 1])  # h_t = a_t h_{t-1} + u_t, in place
        h = hs_t[-1].clone()
        ys.append(_sum_states(hs.mul_(ct[sl].unsqueeze(-2)), ones))  # (T, B, d)
    y = torch.cat(ys).transpose(0, 1).contiguous()
    return y, torch.stack(starts)  # (B, L, d), (n_blocks, B, d, n)


def _scan_backward(gy: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor,
                   starts: Tensor, block: int) -> tuple[Tensor, ...]:  # fmt: skip
    batch, length, d = x.shape
    n = A.shape[-1]
    ones = x.new_ones(n)
    xt, dtt, bt, ct, gyt = _time_major(x, dt, B, C, gy)
    decay_buf, inp_buf, g_buf, tmp_buf = x.new_empty(4, block, batch, d, n).unbind(0)
    h_buf = x.new_empty(block + 1, batch, d, n)  # states h_{t0-1} .. h_{t0+T-1}
    dA = x.new_zeros(batch, d, n)
    carry = x.new_zeros(batch, d, n)  # a_{t+1} g_{t+1} flowing into the block's last step
    dx, ddt, dB, dC = [], [], [], []
    for k, t0 in reversed(list(enumerate(range(0, length, block)))):
        sl = slice(t0, t0 + block)
        steps = min(block, length - t0)
        decay, inp, g, tmp = decay_buf[:steps], inp_buf[:steps], g_buf[:steps], tmp_buf[:steps]
        dt_b, x_b, b_b, c_b, gy_b = dtt[sl], xt[sl], bt[sl], ct[sl], gyt[sl]
        _block_terms(dt_b, x_b, A, b_b, decay, inp)
        h_buf[0] = starts[k]
        h_t, inp_t, decay_t = h_buf.unbind(0), inp.unbind(0), decay.unbind(0)
        for t in range(steps):
            torch.addcmul(inp_t[t], decay_t[t], h_t[t], out=h_t[t + 1])
        hs, hprev = h_buf[1 : steps + 1], h_buf[:steps]
        torch.mul(gy_b.unsqueeze(-1), c_b.unsqueeze(-2), out=g)  # dL/dh_t, direct part
        g_t = g.unbind(0)
        g_t[-1].add_(carry)
        for t in range(steps - 2, -1, -1):
            g_t[t].addcmul_(decay_t[t + 1], g_t[t + 1])  # adjoint recurrence, backwards
        carry = decay_t[0] * g_t[0]
        dC.append(_contract_channels(gy_b, hs))
        dB.append(_contract_channels(dt_b * x_b, g))
        gb = _sum_states(torch.mul(g, b_b.unsqueeze(-2), out=tmp), ones)  # (T, B, d)
        w = decay.mul_(hprev).mul_(g)  # dL/d(dt A), reusing the decay buffer
        dA += torch.mul(w, dt_b.unsqueeze(-1), out=tmp).sum(0)
        ddt.append(_sum_states(w.mul_(A), ones) + gb * x_b)
        dx.append(gb * dt_b)
    if A.dim() == 2:
        dA = dA.sum(0)
    dx, ddt, dB, dC = (torch.cat(v[::-1]).transpose(0, 1) for v in (dx, ddt, dB, dC))
    return dx, ddt, dA, dB, dC


class _SelectiveScan(torch.autograd.Function):
    """Blocked scan with a recomputing backward; see the module docstring."""

    @staticmethod
    def forward(x, dt, A, B, C, block):  # type: ignore[override]
        with torch.autocast(x.device.type, enabled=False):  # dtypes are set by the caller
            return _scan_forward(x, dt, A, B, C, block)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        x, dt, A, B, C, block = inputs
        _, starts = output
        ctx.block = block
        ctx.mark_non_differentiable(starts)
        ctx.save_for_backward(x, dt, A, B, C, starts)

    @staticmethod
    def backward(ctx, gy, _gstarts):  # type: ignore[override]
        x, dt, A, B, C, starts = ctx.saved_tensors
        with torch.autocast(x.device.type, enabled=False):
            grads = _scan_backward(gy.to(x.dtype).contiguous(), x, dt, A, B, C, starts, ctx.block)
        return (*grads, None)

    @staticmethod
    def vmap(info, in_dims, x, dt, A, B, C, block):  # type: ignore[override]
        # Fold the vmapped (member) dim into the batch: member i, sample j -> row i * b + j.
        m = info.batch_size
        b = _sample_count(x, in_dims[0])

        def fold(t: Tensor, dim: int | None) -> Tensor:
            t = t.expand(m, *t.shape) if dim is None else t.movedim(dim, 0)
            return t.reshape(m * b, *t.shape[2:])

        dims = (in_dims[0], in_dims[1], in_dims[3], in_dims[4])
        x, dt, B, C = (fold(t, i) for t, i in zip((x, dt, B, C), dims, strict=True))
        if in_dims[2] is not None:
            A = A.movedim(in_dims[2], 0)
            if A.dim() == 3:  # (m, d, n): shared by a member's samples
                A = A.unsqueeze(1).expand(m, b, *A.shape[1:])
            A = A.reshape(m * b, *A.shape[2:])
        block = _block_size(m * b, x.shape[2], A.shape[-1], x.shape[1])
        y, starts = _SelectiveScan.apply(x, dt, A, B, C, block)
        y = y.view(m, b, *y.shape[1:])
        starts = starts.view(starts.shape[0], m, b, *starts.shape[2:])
        return (y, starts), (0, 1)


def _sample_count(x: Tensor, dim: int | None) -> int:
    """Batch size of ``x`` without its vmapped dim ``dim``."""
    shape = list(x.shape)
    if dim is not None:
        shape.pop(dim)
    return shape[0]
