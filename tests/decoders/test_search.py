"""Greedy and beam search: width 1 is greedy, and beam search can beat greedy."""

from __future__ import annotations

import math

import torch

from biozoo.decoders import beam_search, greedy_search, sequence_log_prob

PAD, BOS, EOS, A, B, C = 0, 1, 2, 4, 5, 6
V = 7


def _probs(prefix: list[int]) -> list[float]:
    """A garden path: A is the likelier first token, but after A nothing is likely."""
    p = [0.0] * V
    if len(prefix) == 1:
        p[A], p[B] = 0.6, 0.4
    elif prefix[-1] == A:
        p[EOS], p[A], p[B], p[C] = 0.3, 0.25, 0.25, 0.2
    else:
        p[EOS], p[C] = 0.97, 0.03
    return p


class GardenPath(torch.nn.Module):
    """A step decoder with fixed next-token probabilities, whatever the memory."""

    def start(self, memory, mask):
        return {"memory": memory}

    def step(self, prefix, state):
        rows = [_probs(p) for p in prefix.tolist()]
        log_p = torch.tensor(rows).clamp_min(1e-12).log()
        return log_p, state, torch.zeros(prefix.shape[0], state["memory"].shape[1])

    def teacher_forced(self, memory, mask, prefix):
        steps = [
            self.step(prefix[:, : t + 1], {"memory": memory})[0] for t in range(prefix.shape[1])
        ]
        return torch.stack(steps, dim=1), torch.zeros(*prefix.shape, memory.shape[1])


def _memory(b: int = 2):
    return torch.zeros(b, 3, 4), torch.ones(b, 3, dtype=torch.bool)


def test_greedy_follows_the_garden_path_and_beam_finds_the_better_sequence():
    dec, (memory, mask) = GardenPath(), _memory()
    greedy, g_score = greedy_search(dec, memory, mask, max_len=5)
    beam, b_score = beam_search(dec, memory, mask, width=2, max_len=5)
    assert greedy[0, :2].tolist() == [A, EOS] and beam[0, :2].tolist() == [B, EOS]
    assert greedy[0, 2:].eq(PAD).all() and beam[0, 2:].eq(PAD).all()
    torch.testing.assert_close(g_score, torch.full((2,), math.log(0.6 * 0.3)))
    torch.testing.assert_close(b_score, torch.full((2,), math.log(0.4 * 0.97)))
    # the scores are the sequences' own log-probabilities
    torch.testing.assert_close(sequence_log_prob(dec, memory, mask, beam), b_score)
    torch.testing.assert_close(sequence_log_prob(dec, memory, mask, greedy), g_score)


def test_beam_of_width_one_is_greedy_on_a_random_decoder():
    from biozoo.decoders import AttentionLSTMDecoder, TransformerDecoder

    torch.manual_seed(0)
    memory, mask = torch.randn(4, 6, 8), torch.ones(4, 6, dtype=torch.bool)
    mask[1, 4:] = False
    for dec in (AttentionLSTMDecoder(8, 9, hidden=16), TransformerDecoder(8, 9, d_model=16)):
        dec.eval()
        greedy, g_score = greedy_search(dec, memory, mask, max_len=7)
        beam, b_score = beam_search(dec, memory, mask, width=1, max_len=7)
        assert torch.equal(greedy, beam)
        torch.testing.assert_close(g_score, b_score)
        wide, w_score = beam_search(dec, memory, mask, width=3, max_len=7)
        assert (w_score >= g_score - 1e-5).all() and wide.shape == (4, 7)


def test_decoding_stops_at_max_len_without_eos():
    dec, (memory, mask) = GardenPath(), _memory(1)
    ids, _ = greedy_search(dec, memory, mask, max_len=1)
    assert ids.tolist() == [[A]]
