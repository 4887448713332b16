"""The convolutional stem: local, residual, blind to padding."""

import pytest
import torch

from biozoo.errors import BiozooError
from biozoo.layers.conv_stem import ConvStem


def test_padding_and_far_tokens_do_not_change_a_token():
    torch.manual_seed(0)
    stem = ConvStem(6, kernel=3)
    h = torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    out = stem(h, mask)
    assert torch.all(out[1, 3:] == 0)  # padded positions are zero
    padded = torch.cat([h, torch.randn(2, 4, 6) * 100], dim=1)
    out_padded = stem(padded, torch.cat([mask, torch.zeros(2, 4, dtype=torch.bool)], dim=1))
    torch.testing.assert_close(out_padded[:, :5], out)
    moved = h.clone()
    moved[0, 4] += 1.0  # kernel 3: position 4 reaches positions 3 and 4 only
    changed = (stem(moved, mask) - out)[0].abs().sum(-1) > 0
    assert changed.tolist() == [False, False, False, True, True]


def test_even_kernel_is_refused():
    with pytest.raises(BiozooError, match="odd"):
        ConvStem(4, kernel=4)
