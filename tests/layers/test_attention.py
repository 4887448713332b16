"""Multi-head attention: weights, masks, SDPA agreeing with the explicit path, vmap."""

import pytest
import torch
from torch.func import functional_call, stack_module_state, vmap

from biozoo.errors import BiozooError
from biozoo.layers.attention import MultiHeadAttention, TransformerBlock, attention_mask


def key_mask():
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[0, 4:] = False
    mask[2, 1] = False  # a hole, not only a padded tail
    return mask


@pytest.mark.parametrize("rotary", [False, True])
def test_weights_sum_to_one_over_real_keys_and_vanish_on_masked_keys(rotary):
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4, rotary=rotary)
    mask = key_mask()
    _, w = attn(torch.randn(3, 7, 16), key_mask=mask, need_weights=True)
    assert w.shape == (3, 4, 7, 7)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4, 7))
    masked_keys = ~mask[:, None, None, :].expand_as(w)
    assert torch.all(w[masked_keys] == 0)
    assert torch.all(w[~masked_keys] > 0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("rotary", [False, True])
def test_fused_and_explicit_paths_agree(causal, rotary):
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4, rotary=rotary).double()
    x = torch.randn(3, 7, 16, dtype=torch.float64)
    fused, none = attn(x, key_mask=key_mask(), causal=causal)
    explicit, w = attn(x, key_mask=key_mask(), causal=causal, need_weights=True)
    assert none is None
    torch.testing.assert_close(fused, explicit)
    if causal:
        assert torch.all(w.triu(1) == 0)


def test_cross_attention_reads_the_context():
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 2, kv_dim=6).double()
    x, ctx = torch.randn(2, 3, 8, dtype=torch.float64), torch.randn(2, 5, 6, dtype=torch.float64)
    cmask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    out, w = attn(x, ctx, key_mask=cmask, need_weights=True)
    assert out.shape == (2, 3, 8) and w.shape == (2, 2, 3, 5)
    torch.testing.assert_close(out, attn(x, ctx, key_mask=cmask)[0])
    changed = ctx.clone()
    changed[1, 2:] = 100.0  # masked context tokens do not matter
    torch.testing.assert_close(attn(x, changed, key_mask=cmask)[0], out)


def test_a_sample_without_any_key_gives_finite_values():
    attn = MultiHeadAttention(8, 2)
    mask = torch.zeros(2, 4, dtype=torch.bool)
    mask[0, :2] = True
    out, w = attn(torch.randn(2, 4, 8), key_mask=mask, need_weights=True)
    assert torch.isfinite(out).all() and torch.isfinite(w).all()
    assert attention_mask(None, 4, 4) is None


def test_width_must_split_into_heads():
    with pytest.raises(BiozooError, match="heads"):
        MultiHeadAttention(10, 4)


def test_transformer_block_under_vmap_matches_each_member():
    torch.manual_seed(0)
    blocks = [TransformerBlock(16, 4).eval() for _ in range(3)]
    params, buffers = stack_module_state(blocks)
    template = TransformerBlock(16, 4).eval()
    x = torch.randn(3, 2, 5, 16)
    mask = torch.ones(3, 2, 5, dtype=torch.bool)
    mask[:, 0, 3:] = False

    def one(p, b, x, m):
        return functional_call(template, (p, b), (x, m))[0]

    out = vmap(one)(params, buffers, x, mask)
    loop = torch.stack([blocks[i](x[i], mask[i])[0] for i in range(3)])
    torch.testing.assert_close(out, loop)
