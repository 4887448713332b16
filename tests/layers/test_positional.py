"""Positional encodings: sinusoidal values, learned limits, rotary norms and relativity."""

import math

import pytest
import torch

from biozoo.errors import BiozooError
from biozoo.layers.positional import (
    LearnedPositionalEncoding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    additive_positional,
)


def test_sinusoidal_matches_the_formula():
    pe = SinusoidalPositionalEncoding(8).encoding(5)
    for pos in range(5):
        for i in range(4):
            angle = pos / 10000 ** (2 * i / 8)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    h = torch.zeros(2, 5, 8)
    torch.testing.assert_close(SinusoidalPositionalEncoding(8)(h), pe.expand(2, 5, 8))


def test_learned_encoding_adds_its_rows_and_refuses_longer_inputs():
    enc = LearnedPositionalEncoding(4, 3)
    h = torch.zeros(2, 3, 3)
    torch.testing.assert_close(enc(h)[1], enc.weight[:3].detach())
    with pytest.raises(BiozooError, match="4 positions"):
        enc(torch.zeros(1, 5, 3))


def test_rotary_preserves_norms():
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 3, 10, 8, dtype=torch.float64)
    torch.testing.assert_close(rope(x).norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rope(x)[..., 0, :], x[..., 0, :])  # position 0: no rotation


def test_rotary_dot_products_depend_on_the_offset_only():
    rope = RotaryEmbedding(8)
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)

    def score(m, n):
        rq = rope(q[None], torch.tensor([m]))[0]
        rk = rope(k[None], torch.tensor([n]))[0]
        return (rq @ rk).item()

    assert score(3, 7) == pytest.approx(score(10, 14), abs=1e-9)
    assert score(0, 5) == pytest.approx(score(20, 25), abs=1e-9)
    assert score(3, 7) != pytest.approx(score(3, 8), abs=1e-6)


def test_kinds_and_bad_names():
    assert isinstance(additive_positional("learned", 4, 10), LearnedPositionalEncoding)
    assert isinstance(additive_positional("sinusoidal", 4, 10), SinusoidalPositionalEncoding)
    assert additive_positional("rotary", 4, 10) is None
    assert additive_positional("none", 4, 10) is None
    with pytest.raises(BiozooError, match="unknown positional"):
        additive_positional("alibi", 4, 10)
    with pytest.raises(BiozooError, match="even"):
        RotaryEmbedding(5)
