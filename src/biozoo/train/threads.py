"""torch's CPU thread count while an ensemble trains (``training.threads``).

Each training process uses as many intra-op threads as torch picks (by default one per
core); several trainings side by side (cross-validation jobs, workers of a cluster) then
oversubscribe the cores and all run slower. ``training.threads`` caps the count for the
duration of a fit and restores torch's setting afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads; ``None`` leaves torch's setting alone.

    Args:
        n: the thread count, or None.
    """
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
