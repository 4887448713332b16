"""Competing exponential waiting times: the likelihood and the sampler of Delphi-2M.

Each code ``c`` has a rate ``rate_c`` (events per year) from the current state of the
history; the next event is the first of independent exponential clocks, one per code
(Shmatko et al. 2025, https://doi.org/10.1038/s41586-025-09529-3). Then the time to the next
event is exponential with the total rate ``R = sum_c rate_c``, the code is ``c`` with
probability ``rate_c / R`` independently of the time, and the log-likelihood of "code ``c``
after ``dt``" is

``log rate_c - R dt``  (= log Categorical(rate / R)(c) + log Exponential(R)(dt)).

A censored interval (follow-up ended after ``dt`` with no event) contributes ``-R dt``.
The next-event distribution is the softmax of the log-rates; the expected waiting time
``1 / R``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["exponential_log_likelihood", "sample_next_event"]


def exponential_log_likelihood(
    log_rates: Tensor, code: Tensor, dt: Tensor, observed: Tensor | None = None
) -> Tensor:
    """Log-likelihood of each next event under competing exponentials.

    Args:
        log_rates: ``[..., V]`` log of each code's rate (``-inf``: the code cannot occur).
        code: ``[...]`` int64, the code that occurred (ignored where not ``observed``).
        dt: ``[...]`` time from the current event to the next (or to censoring), >= 0.
        observed: ``[...]`` bool, False where the interval ended by censoring (default: all
            observed).

    Returns:
        ``[...]``: ``log rate_code - R dt`` (observed) or ``-R dt`` (censored).
    """
    total = torch.logsumexp(log_rates, dim=-1).exp()  # R
    term = log_rates.gather(-1, code.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    if observed is not None:
        term = torch.where(observed, term, torch.zeros_like(term))
    return term - total * dt


def sample_next_event(
    log_rates: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draw the next event: one exponential clock per code, the first one rings.

    Args:
        log_rates: ``[..., V]`` (``-inf`` codes never ring).
        generator: the random generator (seeded by the caller).

    Returns:
        ``(code [...] int64, wait [...])``; ``wait`` is ``inf`` where every rate is 0.
    """
    u = torch.rand(log_rates.shape, generator=generator, dtype=log_rates.dtype)
    clocks = -torch.log1p(-u) * torch.exp(-log_rates)  # Exp(rate_c): -log(1 - U) / rate_c
    wait, code = clocks.min(dim=-1)
    return code, wait
