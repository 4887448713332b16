"""Whether a tensor is being batched by ``torch.func.vmap`` (a stacked ensemble's members).

Layers whose fastest kernel has no vmap batching rule, or keeps state that the members would
share, take another path under vmap.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["under_vmap"]


def under_vmap(t: Tensor) -> bool:
    """True when ``t`` is a functorch batched tensor (functorch offers no public test)."""
    is_batched = getattr(torch._C._functorch, "is_batchedtensor", None)
    return bool(is_batched is not None and is_batched(t))
