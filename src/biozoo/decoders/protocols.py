"""What a decoder and an encoder-decoder model can do, checked with ``isinstance``.

- :class:`TokenStates`: an encoder that hands back one state per input token (the memory a
  decoder attends to).
- :class:`StepDecoder`: a decoder that scores the next token from a prefix (what
  :mod:`biozoo.decoders.search` drives) and runs teacher-forced over a whole target; its
  :class:`DecodingOptions` say how it is decoded.
- :class:`EncoderDecoder`: a model whose ``forward(inputs, present, target)`` takes the
  target ids as its third argument (teacher forcing) and decodes when it is left out; the
  training loop passes the target to such a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, PositiveInt
from torch import Tensor

__all__ = ["DecodingOptions", "EncoderDecoder", "State", "StepDecoder", "TokenStates"]

State = dict[str, Tensor]
"""A decoder's running state: tensors with the (sample x beam) dimension first."""


@runtime_checkable
class TokenStates(Protocol):
    """An encoder that exposes its token states (``token_dim`` wide)."""

    token_dim: int

    def encode_tokens(self, x: Tensor | Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """States ``[B, L, token_dim]`` of the input's tokens (position ``p`` is the input's
        token ``p``) and their mask ``[B, L]``."""
        ...


class DecodingOptions(BaseModel):
    """How a decoder decodes: the options every decoder's ``Config`` extends.

    Attributes:
        search: ``greedy`` or ``beam`` decoding.
        beam_width: beams per sample (``search: beam``).
        max_len: most tokens decoded per sample, ``[EOS]`` included.
    """

    model_config = ConfigDict(extra="forbid")
    search: Literal["greedy", "beam"] = "greedy"
    beam_width: PositiveInt = 4
    max_len: PositiveInt = 128


@runtime_checkable
class StepDecoder(Protocol):
    """A decoder of target ids that attends to the encoder's token states."""

    decoding: DecodingOptions

    def start(self, memory: Tensor, mask: Tensor) -> State:
        """The state before the first token, for memory ``[N, L, d]`` and mask ``[N, L]``."""
        ...

    def step(self, prefix: Tensor, state: State) -> tuple[Tensor, State, Tensor]:
        """Log-probabilities ``[N, V]`` of the next token after ``prefix [N, t]`` (which
        starts with ``[BOS]``), the new state and the cross-attention ``[N, L]``."""
        ...

    def teacher_forced(self, memory: Tensor, mask: Tensor, prefix: Tensor) -> tuple[Tensor, Tensor]:
        """Logits ``[N, T, V]`` of every next token after each prefix position of
        ``prefix [N, T]`` and the cross-attention ``[N, T, L]`` (heads and layers averaged)."""
        ...


@runtime_checkable
class EncoderDecoder(Protocol):
    """A model that reads a target in training and decodes one otherwise."""

    def decode_tokens(self, inputs: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        """Decoded target ids ``[B, T]`` (``[EOS]``, then padding)."""
        ...

    def cross_attention(
        self, inputs: dict[str, Tensor], present: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Decoded ids ``[B, T]``, each output position's attention over the input tokens
        ``[B, T, L]`` and the input token mask ``[B, L]``."""
        ...
