"""Activation functions by name, for encoders and heads."""

from __future__ import annotations

from torch import nn

from biozoo.registry import Registry

__all__ = ["ACTIVATIONS"]

ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")

for _name, _cls in {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
}.items():
    ACTIVATIONS.register(_name)(_cls)
