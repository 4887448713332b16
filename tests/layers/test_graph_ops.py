"""Row gather / scatter-sum: under vmap (member dim folded into the rows) they equal the
members one by one, values and gradients, with the index batched or shared."""

from __future__ import annotations

import pytest
import torch
from torch.func import vmap

from biozoo.layers.graph_ops import gather_rows, scatter_sum

M, N, E, F = 3, 6, 10, 4


def _inputs(shared_index: bool):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(M, N, F, generator=g, requires_grad=True)
    index = torch.randint(0, N, (E,) if shared_index else (M, E), generator=g)
    return x, index


@pytest.mark.parametrize("shared_index", [False, True])
def test_gather_then_scatter_under_vmap_matches_each_member(shared_index):
    x, index = _inputs(shared_index)
    in_dims = (0, None) if shared_index else (0, 0)

    def layer(xm, im):
        return scatter_sum(gather_rows(xm, im).sin(), im.flip(0), N)

    together = vmap(layer, in_dims=in_dims)(x, index)
    (gx,) = torch.autograd.grad(together.square().sum(), x)
    one_by_one = torch.stack([layer(x[m], index if shared_index else index[m]) for m in range(M)])
    (gx_ref,) = torch.autograd.grad(one_by_one.square().sum(), x)
    torch.testing.assert_close(together, one_by_one)
    torch.testing.assert_close(gx, gx_ref)
    expected = torch.zeros(N, F).index_add_(
        0,
        index.flip(0) if shared_index else index[0].flip(0),
        x[0].detach()[index if shared_index else index[0]].sin(),
    )
    torch.testing.assert_close(together[0].detach(), expected)
