"""Attention maps and per-token received attention of a transformer encoder, as tables."""

import pandas as pd
import pytest
import torch

from biozoo.encoders.transformer import TransformerEncoder
from biozoo.errors import BiozooError
from biozoo.explain.attention import (
    attention_map_frame,
    received_attention,
    token_attention,
    write_attention_csv,
)
from biozoo.inputs import TableInput, TokensInput

VOCAB = ["<pad>", "A", "C", "G", "T"]
IN_DIM = TokensInput(vocab=5, max_len=8)


def encoder(**options):
    torch.manual_seed(0)
    return TransformerEncoder(IN_DIM, d_model=8, heads=2, layers=2, hidden=16, **options)


def batch(extra=0):
    tokens = torch.tensor([[1, 2, 3, 0, 0], [4, 4, 1, 2, 3]])
    tokens = torch.cat([tokens, torch.zeros(2, extra, dtype=torch.long)], dim=1)
    return {"tokens": tokens, "mask": tokens != 0}


@pytest.mark.parametrize("method", ["mean", "rollout"])
def test_received_attention_lists_real_tokens_and_sums_to_one(method):
    enc = encoder(pooling="mean")
    df = token_attention(enc, batch(), ["s1", "s2"], labels=VOCAB, method=method)
    assert list(df.columns) == ["sample_id", "position", "token", "received_attention"]
    assert df.groupby("sample_id").size().to_dict() == {"s1": 3, "s2": 5}
    assert df[df.sample_id == "s1"].token.tolist() == ["A", "C", "G"]
    assert df[df.sample_id == "s2"].position.tolist() == [0, 1, 2, 3, 4]
    sums = df.groupby("sample_id").received_attention.sum()
    assert sums.to_numpy() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert (df.received_attention > 0).all()


@pytest.mark.parametrize("method", ["mean", "rollout"])
def test_with_cls_pooling_the_tokens_share_at_most_one(method):
    df = token_attention(encoder(pooling="cls"), batch(), method=method)
    sums = df.groupby("sample_id").received_attention.sum()
    assert ((sums > 0) & (sums < 1)).all()
    assert df.token.tolist()[:3] == [1, 2, 3]  # no labels: the token ids


def test_padding_does_not_change_the_tables():
    enc = encoder()
    a, b = token_attention(enc, batch()), token_attention(enc, batch(extra=3))
    pd.testing.assert_frame_equal(a, b, atol=1e-6)


def test_mean_and_rollout_against_hand_computations():
    maps = torch.tensor([[[[[0.5, 0.5], [0.25, 0.75]]]]])  # (B=1, layers=1, heads=1, 2, 2)
    mask = torch.tensor([[True, True]])
    mean = received_attention(maps, mask, method="mean")
    torch.testing.assert_close(mean, torch.tensor([[0.375, 0.625]]))
    rollout = received_attention(maps, mask, method="rollout", cls=True)
    torch.testing.assert_close(rollout, torch.tensor([[0.75, 0.25]]))  # 0.5 A + 0.5 I, row 0


def test_map_frame_rows_are_distributions_over_real_keys(tmp_path):
    enc = encoder()
    frame = attention_map_frame(enc, batch(), ["s1", "s2"], labels=VOCAB)
    # s1: [CLS] + 3 tokens -> 4 x 4 per layer and head; s2: 6 x 6
    assert len(frame) == 2 * 2 * (16 + 36)
    sums = frame.groupby(["sample_id", "layer", "head", "query"]).weight.sum()
    assert sums.to_numpy() == pytest.approx(1.0, abs=1e-5)
    assert set(frame[frame["query"] == -1].query_token) == {"[CLS]"}
    path = write_attention_csv(frame, tmp_path / "maps" / "attention.csv")
    back = pd.read_csv(path)
    assert back.shape == frame.shape and list(back.columns) == list(frame.columns)


def test_feature_names_label_table_tokens():
    torch.manual_seed(0)
    enc = TransformerEncoder(TableInput(3), d_model=8, heads=2, pooling="mean")
    df = token_attention(enc, torch.randn(2, 3), labels=["age", "bmi", "alt"])
    assert df.token.tolist() == ["age", "bmi", "alt"] * 2


def test_errors_are_reported():
    with pytest.raises(BiozooError, match="transformer"):
        token_attention(torch.nn.Linear(2, 2), torch.randn(1, 2))
    with pytest.raises(BiozooError, match="sample ids"):
        token_attention(encoder(), batch(), ["only one"])
    with pytest.raises(BiozooError, match="aggregation"):
        token_attention(encoder(), batch(), method="max")
