"""Greedy and beam-search decoding of any :class:`~biozoo.decoders.protocols.StepDecoder`.

Both score a sequence by the sum of its tokens' log-probabilities, ``[EOS]`` included.
Greedy takes the most probable token at every step. Beam search (e.g. Sutskever et al. 2014,
https://arxiv.org/abs/1409.3215) keeps the ``width`` best prefixes of every sample; a prefix
that has emitted ``[EOS]`` is finished and carried on unchanged (padding, at no cost) until
every beam of every sample has finished or ``max_len`` tokens were emitted. With
``width = 1`` beam search is greedy search.

Both return ids ``[B, max_len]``: the tokens, then ``[EOS]``, then padding (0), and the
sequences' scores ``[B]``. :func:`decode` runs the search that a decoder's
:class:`~biozoo.decoders.protocols.DecodingOptions` name.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from biozoo.decoders.protocols import DecodingOptions, State, StepDecoder

__all__ = ["beam_search", "decode", "greedy_search", "sequence_log_prob", "shifted"]

_BOS, _EOS, _PAD = 1, 2, 0


def _reorder(state: State, index: Tensor) -> State:
    return {k: v.index_select(0, index) for k, v in state.items()}


@torch.no_grad()
def greedy_search(
    decoder: StepDecoder, memory: Tensor, mask: Tensor, *, max_len: int
) -> tuple[Tensor, Tensor]:
    """The most probable token at every step.

    Shape:
        - memory ``[B, L, d]``, mask ``[B, L]``; output ids ``[B, max_len]``, scores ``[B]``.
    """
    b = memory.shape[0]
    state = decoder.start(memory, mask)
    prefix = torch.full((b, 1), _BOS, dtype=torch.long, device=memory.device)
    done = torch.zeros(b, dtype=torch.bool, device=memory.device)
    score = memory.new_zeros(b)
    for _ in range(max_len):
        log_p, state, _ = decoder.step(prefix, state)
        best, token = log_p.max(dim=-1)
        score = score + torch.where(done, 0.0, best)
        token = torch.where(done, _PAD, token)
        prefix = torch.cat([prefix, token[:, None]], dim=1)
        done = done | (token == _EOS)
        if bool(done.all()):
            break
    return _pad(prefix[:, 1:], max_len), score


@torch.no_grad()
def beam_search(
    decoder: StepDecoder, memory: Tensor, mask: Tensor, *, width: int, max_len: int
) -> tuple[Tensor, Tensor]:
    """The best of ``width`` beams per sample by summed log-probability.

    Shape:
        - memory ``[B, L, d]``, mask ``[B, L]``; output ids ``[B, max_len]``, scores ``[B]``.
    """
    b, w, dev = memory.shape[0], width, memory.device
    rows = torch.arange(b, device=dev).repeat_interleave(w)  # (B*W,) sample of each beam
    state = decoder.start(memory[rows], mask[rows])
    prefix = torch.full((b * w, 1), _BOS, dtype=torch.long, device=dev)
    score = torch.full((b, w), float("-inf"), device=dev)
    score[:, 0] = 0.0  # every beam starts equal: keep one, or the top-w would be copies
    done = torch.zeros(b * w, dtype=torch.bool, device=dev)
    for _ in range(max_len):
        log_p, state, _ = decoder.step(prefix, state)  # (B*W, V)
        v = log_p.shape[-1]
        frozen = torch.full_like(log_p, float("-inf"))
        frozen[:, _PAD] = 0.0  # a finished beam goes on as padding, at no cost
        log_p = torch.where(done[:, None], frozen, log_p)
        cand = (score.view(b * w, 1) + log_p).view(b, w * v)
        score, flat = cand.topk(w, dim=-1)  # (B, W)
        beam = torch.div(flat, v, rounding_mode="floor")
        token = (flat % v).view(-1)
        parent = (torch.arange(b, device=dev)[:, None] * w + beam).view(-1)
        state = _reorder(state, parent)
        prefix = torch.cat([prefix[parent], token[:, None]], dim=1)
        done = done[parent] | (token == _EOS)
        if bool(done.all()):
            break
    best = score.argmax(dim=-1)  # (B,)
    pick = torch.arange(b, device=dev) * w + best
    return _pad(prefix[pick, 1:], max_len), score.gather(1, best[:, None]).squeeze(1)


def sequence_log_prob(decoder: StepDecoder, memory: Tensor, mask: Tensor, ids: Tensor) -> Tensor:
    """Summed log-probability ``[B]`` of the sequences ``ids [B, T]`` (tokens up to and
    including ``[EOS]``; padding after it counts nothing)."""
    logits, _ = decoder.teacher_forced(memory, mask, shifted(ids))
    log_p = logits.log_softmax(-1).gather(-1, ids[..., None]).squeeze(-1)
    return (log_p * (ids != _PAD)).sum(-1)


def _pad(ids: Tensor, max_len: int) -> Tensor:
    out = ids.new_zeros(ids.shape[0], max_len)
    out[:, : ids.shape[1]] = ids
    return out


def shifted(ids: Tensor) -> Tensor:
    """``[BOS]`` and the ids ``[B, T]`` shifted right by one: the decoder's input for ``ids``."""
    return torch.cat([torch.full_like(ids[:, :1], _BOS), ids[:, :-1]], dim=1)


_SEARCHES: dict[str, Callable[[StepDecoder, Tensor, Tensor, DecodingOptions], Tensor]] = {
    "greedy": lambda dec, memory, mask, o: greedy_search(dec, memory, mask, max_len=o.max_len)[0],
    "beam": lambda dec, memory, mask, o: beam_search(
        dec, memory, mask, width=o.beam_width, max_len=o.max_len
    )[0],
}


def decode(decoder: StepDecoder, memory: Tensor, mask: Tensor, options: DecodingOptions) -> Tensor:
    """Decoded ids ``[B, options.max_len]`` by the search ``options`` name.

    Shape:
        - memory ``[B, L, d]``, mask ``[B, L]``; output ids ``[B, max_len]``.
    """
    return _SEARCHES[options.search](decoder, memory, mask, options)
