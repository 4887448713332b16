"""Axial attention: one line of the grid is full attention, padding changes nothing, and it is
equivariant to permuting whole rows or columns (but not to permuting tokens at large)."""

import pytest
import torch

from biozoo.errors import BiozooError
from biozoo.layers.axial_attention import GRID_ATTENTION_KINDS, AxialAttention


def _silence(attn) -> None:
    """Zero a pass's output map, so that pass adds nothing."""
    torch.nn.init.zeros_(attn.out_proj.weight)
    torch.nn.init.zeros_(attn.out_proj.bias)


@pytest.mark.parametrize("prefix", [0, 1])
def test_one_row_is_full_attention_over_the_sequence(prefix):
    torch.manual_seed(0)
    axial = AxialAttention(8, 2, grid=(1, 5), prefix=prefix)
    _silence(axial.col)
    x = torch.randn(2, prefix + 5, 8)
    mask = torch.ones(2, prefix + 5, dtype=torch.bool)
    mask[1, -2:] = False
    out, _ = axial(x, key_mask=mask)
    full, _ = axial.row(x, key_mask=mask)  # the row pass's attention over every token
    torch.testing.assert_close(out, full)


def test_one_column_is_full_attention_over_the_sequence():
    torch.manual_seed(0)
    axial = AxialAttention(8, 2, grid=(6, 1), prefix=1)
    _silence(axial.row)
    x = torch.randn(3, 7, 8)
    out, _ = axial(x)
    full, _ = axial.col(x)
    torch.testing.assert_close(out, full)


def test_the_weights_path_equals_the_fast_path_and_stays_on_rows_and_columns():
    torch.manual_seed(0)
    axial = AxialAttention(8, 2, grid=(3, 4), prefix=1)
    x = torch.randn(2, 13, 8)
    fast, none = axial(x)
    explicit, weights = axial(x, need_weights=True)
    assert none is None and weights.shape == (2, 2, 13, 13)
    torch.testing.assert_close(fast, explicit)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 13))
    assert torch.all(weights[:, :, 0] > 0)  # [CLS] attends globally
    assert torch.all(weights[:, :, 1:, 1:] > 0)  # two hops (row, column) reach every patch
    r, c = torch.arange(12).div(4, rounding_mode="floor"), torch.arange(12) % 4
    for attn, transpose, same in ((axial.row, False, r), (axial.col, True, c)):
        _, one = axial._pass(attn, x, None, transpose=transpose, need_weights=True)
        line = one[:, :, 1:, 1:] > 0  # one pass: a patch reaches its own row (column) only
        assert torch.equal(line, (same[:, None] == same[None, :]).expand_as(line))
        assert torch.all(one[:, :, 1:, 0] > 0)  # and the [CLS] token


def test_padded_grid_tokens_change_nothing():
    torch.manual_seed(0)
    axial = AxialAttention(8, 2, grid=(3, 3), prefix=1)
    x = torch.randn(2, 10, 8)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[0, [3, 8]] = False  # two padded patches of the first sample
    out, _ = axial(x, key_mask=mask)
    noisy = x.clone()
    noisy[~mask] = 100 * torch.randn(int((~mask).sum()), 8)
    out_noisy, _ = axial(noisy, key_mask=mask)
    torch.testing.assert_close(out_noisy[mask], out[mask], atol=1e-5, rtol=1e-5)


def test_equivariant_to_whole_rows_and_columns_not_to_any_token_order():
    torch.manual_seed(0)
    axial = AxialAttention(8, 2, grid=(3, 4), prefix=1)
    x = torch.randn(2, 13, 8)
    out, _ = axial(x)
    grid = torch.arange(12).view(3, 4)

    def permuted(order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.cat([torch.zeros(1, dtype=torch.long), 1 + order.flatten()])
        return axial(x[:, index])[0], out[:, index]

    for order in (grid[[2, 0, 1]], grid[:, [3, 1, 0, 2]]):  # rows, then columns, shuffled
        got, want = permuted(order)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    got, want = permuted(torch.randperm(12, generator=torch.Generator().manual_seed(1)))
    assert not torch.allclose(got, want, atol=1e-3)  # full attention would be equivariant


def test_wrong_length_and_causal_are_refused():
    axial = AxialAttention(8, 2, grid=(2, 2), prefix=1)
    with pytest.raises(BiozooError, match="2 x 2 grid after 1 tokens needs 5 tokens, not 4"):
        axial(torch.randn(1, 4, 8))
    with pytest.raises(BiozooError, match="bidirectional self-attention"):
        axial(torch.randn(1, 5, 8), causal=True)


def test_grid_kinds_build_the_sequence_kinds_and_axial():
    built = {
        name: type(make(8, 2, grid=(2, 3), prefix=1, dropout=0.0))
        for name, make in GRID_ATTENTION_KINDS.items()
    }
    assert built["axial"] is AxialAttention
    assert {"softmax", "linear"} <= set(built)
