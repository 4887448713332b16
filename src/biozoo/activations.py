"""Activation functions by name, for encoders and heads.

Every entry of :data:`ACTIVATIONS` is a module class built with no arguments and applied after
a Linear layer (see :class:`biozoo.layers.mlp.MLP`); all work under ``torch.func.vmap``.

- torch's element-wise functions: ``relu``, ``gelu``, ``silu``, ``tanh``, ``elu``,
  ``leaky_relu``, ``selu``;
- ``polyrelu``, ``polynorm`` and the ``swiglu`` gate (:mod:`biozoo.layers.activations`; a
  gate's input is :func:`~biozoo.layers.activations.width_factor` times wider than its output).
"""

from __future__ import annotations

from torch import nn

from biozoo.layers.activations import PolyNorm, PolyReLU, SwiGLU, width_factor
from biozoo.registry import Registry

__all__ = ["ACTIVATIONS", "width_factor"]

ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")

for _name, _cls in {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
    "polyrelu": PolyReLU,
    "polynorm": PolyNorm,
    "swiglu": SwiGLU,
}.items():
    ACTIVATIONS.register(_name)(_cls)
