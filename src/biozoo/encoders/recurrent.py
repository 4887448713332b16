"""Recurrent encoders: ``rnn``, ``lstm`` and ``gru`` over any sequence-like input.

- Elman RNN: Elman 1990, https://doi.org/10.1207/s15516709cog1402_1
- LSTM: Hochreiter & Schmidhuber 1997, https://doi.org/10.1162/neco.1997.9.8.1735
- GRU: Cho et al. 2014, https://arxiv.org/abs/1406.1078

Inputs become tokens through :class:`biozoo.layers.token_input.TokenInput`; real tokens are
moved to the front and the sequences are packed with their true lengths, so padding never
changes a result (the backward direction of a bidirectional network starts at each sample's
last real token).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from biozoo.encoders._registry import ENCODERS
from biozoo.inputs import GroupsInput, SeriesInput, TableInput, TokensInput
from biozoo.layers.token_input import TokenInput, compact_tokens, masked_mean, zero_absent

__all__ = ["GRUEncoder", "LSTMEncoder", "RNNEncoder"]


class _RecurrentEncoder(nn.Module):
    """Tokens -> stacked (bi)directional recurrent network -> pooled state -> linear map.

    Training: recurrent networks are prone to exploding gradients (lecture: backpropagation
    through time multiplies the recurrent Jacobians); biozoo's training loop already clips
    the gradient norm by default (``training.gradient_clip``), keep it on.

    Not stackable: ``torch.func.vmap`` has no batching rule for ``aten::lstm`` / ``gru`` /
    ``rnn``, so ensemble members are trained one after another.

    Args:
        input: the tokens, series, groups or table it reads (sizes come from the data).
        d_model: width of the input tokens.
        hidden: hidden state size per direction.
        layers: stacked recurrent layers.
        bidirectional: also read each sequence backwards.
        dropout: dropout between stacked layers and before the output map.
        pool: ``last`` (final hidden state of each direction) or ``mean`` (masked mean of the
            top layer's outputs).
        out_dim: size of the embedding.

    Shape:
        - x: see :class:`TokenInput`; mask: ``[B]`` bool or None; output ``[B, out_dim]``.
    """

    reads: ClassVar[tuple[type, ...]] = (TokensInput, SeriesInput, GroupsInput, TableInput)
    stackable: ClassVar[bool] = False
    _network: ClassVar[type[nn.RNNBase]]

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        d_model: PositiveInt = 32
        hidden: PositiveInt = 64
        layers: PositiveInt = 1
        bidirectional: bool = False
        dropout: float = Field(0.0, ge=0.0, lt=1.0)
        pool: Literal["last", "mean"] = "last"
        out_dim: PositiveInt = 32

    def __init__(
        self,
        input: TokensInput | SeriesInput | GroupsInput | TableInput,
        *,
        d_model: int = 32,
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        pool: Literal["last", "mean"] = "last",
        out_dim: int = 32,
    ) -> None:
        super().__init__()
        self.input, self.out_dim, self.pool = input, out_dim, pool
        self.tokens = TokenInput(input, d_model)
        self.rnn = self._network(
            d_model,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        self.token_dim = hidden * (2 if bidirectional else 1)
        self.proj = nn.Linear(self.token_dim, out_dim)

    def reset_parameters(self) -> None:
        self.tokens.reset_parameters()
        self.rnn.reset_parameters()
        self.proj.reset_parameters()

    def encode_tokens(self, x: Tensor | Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The top layer's output at every real token ``[B, L, token_dim]`` (real tokens
        first, as :func:`compact_tokens` orders them; zero on padding) and their mask."""
        h, tmask = compact_tokens(*self.tokens(x))
        lengths = tmask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=h.shape[1])
        return out, tmask

    def forward(self, x: Tensor | Mapping[str, Tensor], mask: Tensor | None = None) -> Tensor:
        h, tmask = compact_tokens(*self.tokens(x))  # (B, L, d), real tokens first
        length = h.shape[1]
        lengths = tmask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        if self.pool == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # (layers * dirs, B, hidden)
            dirs = 2 if self.rnn.bidirectional else 1
            pooled = torch.cat(list(h_n[-dirs:]), dim=-1)  # top layer, every direction
        else:
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=length)
            pooled = masked_mean(out, tmask)
        z = self.proj(self.drop(pooled))
        return zero_absent(z, tmask, mask)


@ENCODERS.register("rnn")
class RNNEncoder(_RecurrentEncoder):
    """Elman RNN (tanh) encoder; see :class:`_RecurrentEncoder` for the options."""

    _network = nn.RNN


@ENCODERS.register("lstm")
class LSTMEncoder(_RecurrentEncoder):
    """LSTM encoder; see :class:`_RecurrentEncoder` for the options."""

    _network = nn.LSTM


@ENCODERS.register("gru")
class GRUEncoder(_RecurrentEncoder):
    """GRU encoder; see :class:`_RecurrentEncoder` for the options."""

    _network = nn.GRU
