r"""The ``attention_lstm`` decoder: an LSTM with additive (Bahdanau) attention.

Bahdanau, Cho & Bengio 2015, "Neural Machine Translation by Jointly Learning to Align and
Translate", https://arxiv.org/abs/1409.0473. At output step :math:`i`, with decoder state
:math:`s_{i-1}` and encoder token states :math:`h_j`:

.. math::
    e_{ij} = v^\top \tanh(W_s s_{i-1} + W_h h_j), \quad
    \alpha_{ij} = \mathrm{softmax}_j(e_{ij}), \quad c_i = \sum_j \alpha_{ij} h_j,

    s_i = \mathrm{LSTM}([E y_{i-1}; c_i], s_{i-1}), \quad
    p(y_i \mid y_{<i}, x) = \mathrm{softmax}(W_o [s_i; c_i]).

The first state is :math:`\tanh(W_0\,\overline{h})`, from the mean of the real token states.
Teacher forcing and decoding run the same cell, one step at a time (linear in the output
length; each step is linear in the input length).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field, PositiveInt
from torch import Tensor, nn

from biozoo.decoders._registry import DECODERS
from biozoo.decoders.protocols import DecodingOptions, State

__all__ = ["AdditiveAttention", "AttentionLSTMDecoder"]


class AdditiveAttention(nn.Module):
    """Bahdanau's additive attention of a query state on the token states.

    Args:
        query_dim: width of the decoder state.
        key_dim: width of the token states.
        dim: width of the hidden layer of the score.

    Shape:
        - keys (from :meth:`keys`): ``[B, L, dim]``; query ``[B, query_dim]``; mask ``[B, L]``;
          output weights ``[B, L]`` (0 on padding).
    """

    def __init__(self, query_dim: int, key_dim: int, dim: int) -> None:
        super().__init__()
        self.w_q = nn.Linear(query_dim, dim, bias=False)
        self.w_k = nn.Linear(key_dim, dim)
        self.v = nn.Linear(dim, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """``W_h h_j``, computed once per input."""
        return self.w_k(memory)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        scores = self.v(torch.tanh(keys + self.w_q(query)[:, None])).squeeze(-1)  # (B, L)
        return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)


@DECODERS.register("attention_lstm")
class AttentionLSTMDecoder(nn.Module):
    """An LSTM decoder with additive attention on the encoder's token states.

    Args:
        memory_dim: width of the encoder's token states (from the encoder).
        n_outputs: target vocabulary size, special ids included (from the task).
        d_model: width of the target token embedding.
        hidden: LSTM state size.
        attention_dim: width of the additive score's hidden layer.
        dropout: dropout on the embedding and before the output layer.
        search: ``greedy`` or ``beam`` decoding.
        beam_width: beams per sample (``search: beam``).
        max_len: most tokens decoded per sample, ``[EOS]`` included.
    """

    stackable: ClassVar[bool] = False

    class Config(DecodingOptions):
        d_model: PositiveInt = 32
        hidden: PositiveInt = 64
        attention_dim: PositiveInt = 64
        dropout: float = Field(0.0, ge=0.0, lt=1.0)

    def __init__(
        self,
        memory_dim: int,
        n_outputs: int,
        *,
        d_model: int = 32,
        hidden: int = 64,
        attention_dim: int = 64,
        dropout: float = 0.0,
        search: Literal["greedy", "beam"] = "greedy",
        beam_width: int = 4,
        max_len: int = 128,
    ) -> None:
        super().__init__()
        self.decoding = DecodingOptions(search=search, beam_width=beam_width, max_len=max_len)
        self.embed = nn.Embedding(n_outputs, d_model, padding_idx=0)
        self.attention = AdditiveAttention(hidden, memory_dim, attention_dim)
        self.init = nn.Linear(memory_dim, 2 * hidden)
        self.cell = nn.LSTMCell(d_model + memory_dim, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden + memory_dim, n_outputs)

    def reset_parameters(self) -> None:
        for m in (self.embed, self.init, self.cell, self.out, *self.attention.children()):
            m.reset_parameters()

    def start(self, memory: Tensor, mask: Tensor) -> State:
        w = mask.to(memory.dtype)[..., None]
        mean = (memory * w).sum(1) / w.sum(1).clamp_min(1.0)
        h, c = torch.tanh(self.init(mean)).chunk(2, dim=-1)
        return {"h": h, "c": c, "memory": memory, "keys": self.attention.keys(memory), "mask": mask}

    def _advance(self, token: Tensor, state: State) -> tuple[Tensor, State, Tensor]:
        alpha = self.attention(state["h"], state["keys"], state["mask"])  # (N, L)
        context = (alpha[..., None] * state["memory"]).sum(1)  # (N, d)
        x = torch.cat([self.drop(self.embed(token)), context], dim=-1)
        h, c = self.cell(x, (state["h"], state["c"]))
        logits = self.out(self.drop(torch.cat([h, context], dim=-1)))
        return logits, {**state, "h": h, "c": c}, alpha

    def step(self, prefix: Tensor, state: State) -> tuple[Tensor, State, Tensor]:
        logits, state, alpha = self._advance(prefix[:, -1], state)
        return logits.log_softmax(dim=-1), state, alpha

    def teacher_forced(self, memory: Tensor, mask: Tensor, prefix: Tensor) -> tuple[Tensor, Tensor]:
        state = self.start(memory, mask)
        logits, maps = [], []
        for t in range(prefix.shape[1]):
            out, state, alpha = self._advance(prefix[:, t], state)
            logits.append(out)
            maps.append(alpha)
        return torch.stack(logits, dim=1), torch.stack(maps, dim=1)  # (N, T, V), (N, T, L)
