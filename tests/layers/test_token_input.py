"""TokenInput: value embeddings of tokens start small beside the token identities."""

from __future__ import annotations

import torch

from biozoo.inputs import VALUE_FIRST, TokensInput
from biozoo.layers.token_input import VALUE_EMBED_STD, TokenInput


def test_value_embeddings_start_small_and_padding_embeds_to_zero() -> None:
    torch.manual_seed(0)
    layer = TokenInput(TokensInput(vocab=50, max_len=4, values=VALUE_FIRST + 8), d_model=64)
    genes = layer.embed.weight[1:].std().item()
    values = layer.value_embed.weight[1:].std().item()
    assert abs(values - VALUE_EMBED_STD) < 0.3 * VALUE_EMBED_STD
    assert values < genes / 10
    assert (layer.value_embed.weight[0] == 0).all()
    x = {
        "tokens": torch.tensor([[3, 4, 0, 0]]),
        "values": torch.tensor([[VALUE_FIRST, VALUE_FIRST + 7, 0, 0]]),
    }
    h, mask = layer(x)
    assert mask.tolist() == [[True, True, False, False]]
    assert (h[0, 2:] == 0).all()
    expected = layer.embed.weight[[3, 4]] + layer.value_embed.weight[[VALUE_FIRST, VALUE_FIRST + 7]]
    assert torch.allclose(h[0, :2], expected)
