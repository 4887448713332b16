"""The registry of decoders (name -> class)."""

from __future__ import annotations

from torch import nn

from biozoo.registry import Registry

__all__ = ["DECODERS"]

DECODERS: Registry[type[nn.Module]] = Registry("decoder")
