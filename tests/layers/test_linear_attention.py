"""Linear attention: the fast path equals the explicit weights, and padding changes nothing."""

import pytest
import torch
import torch.nn.functional as F

from biozoo.errors import BiozooError
from biozoo.layers.linear_attention import LinearAttention


@pytest.mark.parametrize("rotary", [False, True])
def test_fast_path_equals_the_explicit_kernel_weights(rotary):
    torch.manual_seed(0)
    attn = LinearAttention(8, 2, rotary=rotary)
    x = torch.randn(3, 6, 8)
    fast, none = attn(x)
    explicit, weights = attn(x, need_weights=True)
    assert none is None and weights.shape == (3, 2, 6, 6)
    torch.testing.assert_close(fast, explicit)
    if not rotary:  # phi(q) phi(k)^T normalised over the keys: rows of non-negative weights
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 6))
        assert torch.all(weights > 0)
        q, k, v = attn.qkv_proj(x).view(3, 6, 3, 2, 4).permute(2, 0, 3, 1, 4)
        kernel = (F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-1, -2)
        ref = (kernel / kernel.sum(-1, keepdim=True)) @ v
        torch.testing.assert_close(
            explicit, attn.out_proj(ref.transpose(1, 2).reshape(3, 6, 8)), atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize("rotary", [False, True])
def test_padded_keys_change_nothing(rotary):
    torch.manual_seed(0)
    attn = LinearAttention(8, 2, rotary=rotary)
    x = torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    out, _ = attn(x, key_mask=mask)
    padded = torch.cat([x, 100 * torch.randn(2, 4, 8)], 1)
    out_padded, _ = attn(padded, key_mask=torch.cat([mask, mask.new_zeros(2, 4)], 1))
    torch.testing.assert_close(out_padded[:, :5][mask], out[mask], atol=1e-5, rtol=1e-5)
    alone, _ = attn(x[1:, :3])  # the short sample on its own
    torch.testing.assert_close(out[1, :3], alone[0], atol=1e-5, rtol=1e-5)


def test_cross_or_causal_attention_is_refused():
    attn = LinearAttention(8, 2)
    with pytest.raises(BiozooError, match="bidirectional self-attention"):
        attn(torch.randn(1, 3, 8), causal=True)
