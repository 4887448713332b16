"""A convolutional stem: local mixing of neighbouring tokens before self-attention.

Self-attention with added positions has no built-in notion of "next to": on small data it
fits the training set through the positions of individual tokens and never finds a short
ordered motif (``benchmarks/results/order_motif.md``). A residual 1-D convolution in front of
the blocks gives every token its neighbours in order, as the convolutional parts of hybrid
models do (CvT: Wu et al. 2021, https://arxiv.org/abs/2103.15808; "MambaVision: A Hybrid
Mamba-Transformer Vision Backbone", Hatamizadeh & Kautz 2024; "HybriDNA: A Hybrid
Transformer-Mamba2 Long-Range DNA Language Model", Ma et al. 2025).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from biozoo.errors import BiozooError

__all__ = ["ConvStem"]


class ConvStem(nn.Module):
    """``h + GELU(conv(h))`` with a centred convolution, padded positions read as zeros.

    The real tokens of each sample must come first (padding a suffix, see
    :func:`biozoo.layers.token_input.compact_tokens`): a real token then sees the same zeros
    past its sequence's end whatever the padding, so padding never changes a result.

    Args:
        dim: token width (input and output channels).
        kernel: convolution width (odd).

    Shape:
        - h: ``[B, L, dim]``; mask: ``[B, L]`` bool (True: real); output ``[B, L, dim]``,
          zero at padded positions.
    """

    def __init__(self, dim: int, kernel: int = 3) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise BiozooError(f"the convolutional stem needs an odd kernel, got {kernel}")
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        keep = mask.unsqueeze(-1).to(h.dtype)
        h = h * keep
        local = F.gelu(self.conv(h.transpose(1, 2))).transpose(1, 2)  # (B, L, dim)
        return (h + local) * keep

    def extra_repr(self) -> str:
        return f"kernel={self.conv.kernel_size[0]}"
