"""Optimizers by name."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from biozoo.registry import Registry

__all__ = ["OPTIMIZERS", "build_optimizer"]

OPTIMIZERS: Registry[type[torch.optim.Optimizer]] = Registry("optimizer")

OPTIMIZERS.register("adamw")(torch.optim.AdamW)
OPTIMIZERS.register("adam")(torch.optim.Adam)
OPTIMIZERS.register("sgd")(torch.optim.SGD)
OPTIMIZERS.register("rmsprop")(torch.optim.RMSprop)
OPTIMIZERS.register("radam")(torch.optim.RAdam)
OPTIMIZERS.register("nadam")(torch.optim.NAdam)


def build_optimizer(
    name: str, params: Iterable[nn.Parameter], *, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """The optimizer registered as ``name`` over ``params``."""
    cls = OPTIMIZERS.get(name)
    kwargs: dict[str, object] = {"lr": lr, "weight_decay": weight_decay}
    if cls is torch.optim.SGD:
        kwargs["momentum"] = 0.9
    return cls(params, **kwargs)
