"""Retention: the parallel, recurrent and chunkwise forms agree; padding changes nothing."""

import pytest
import torch

from biozoo.errors import BiozooError
from biozoo.layers.retention import (
    MultiScaleRetention,
    RetentionLayer,
    retention,
    retention_chunkwise,
    retention_parallel,
    retention_recurrent,
)


def _qkv(length, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, length, 4, generator=g) for _ in range(3))
    log_gamma = torch.log(1 - 2.0 ** (-5 - torch.arange(3.0)))
    return q, k, v, log_gamma


@pytest.mark.parametrize("length, chunk", [(1, 4), (7, 4), (8, 4), (13, 5), (16, 64)])
def test_the_three_forms_agree(length, chunk):
    q, k, v, lg = _qkv(length)
    parallel = retention_parallel(q, k, v, lg)
    torch.testing.assert_close(retention_recurrent(q, k, v, lg), parallel, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        retention_chunkwise(q, k, v, lg, chunk), parallel, atol=1e-5, rtol=1e-5
    )


def test_the_recurrence_by_hand():
    q, k, v, lg = _qkv(3)
    gamma = lg.exp()[None, :, None, None]
    s1 = k[:, :, 0, :, None] * v[:, :, 0, None, :]
    s2 = gamma * s1 + k[:, :, 1, :, None] * v[:, :, 1, None, :]
    out = retention(q, k, v, lg, form="parallel")
    torch.testing.assert_close(out[:, :, 1], (q[:, :, 1, None, :] @ s2).squeeze(-2))


@pytest.mark.parametrize("form", ["chunkwise", "parallel", "recurrent"])
def test_layer_forms_agree_and_gradients_flow(form):
    torch.manual_seed(0)
    layer = RetentionLayer(8, 2, bidirectional=True, chunk=4)
    x = torch.randn(2, 11, 8, requires_grad=True)
    out = layer(x, form=form)
    torch.testing.assert_close(out, layer(x, form="parallel"), atol=1e-5, rtol=1e-5)
    out.square().sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


def test_padding_changes_nothing_in_either_direction():
    torch.manual_seed(0)
    layer = RetentionLayer(8, 2, bidirectional=True, chunk=4).eval()
    x = torch.randn(1, 6, 8)
    alone = layer(x)
    padded = torch.cat([x, 50 * torch.randn(1, 5, 8)], 1)
    mask = torch.arange(11)[None] < 6
    torch.testing.assert_close(layer(padded, mask)[:, :6], alone, atol=1e-5, rtol=1e-5)


def test_bad_options_are_reported():
    with pytest.raises(BiozooError, match="multiple of its 3 heads"):
        MultiScaleRetention(8, 3)
    q, k, v, lg = _qkv(3)
    with pytest.raises(BiozooError, match="unknown retention form"):
        retention(q, k, v, lg, form="scan")
