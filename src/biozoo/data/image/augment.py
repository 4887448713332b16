"""Random flips, 90-degree rotations and intensity jitter of a batch of images.

Every draw comes from the generator passed in, one per ensemble member and epoch (see
:class:`biozoo.data.protocol.Augments`), so a run is the same from one time to the next.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["augment_images"]


def augment_images(
    x: Tensor, generator: torch.Generator, *, flip: bool, rotate: bool, jitter: float
) -> Tensor:
    """Each image changed at random on its own.

    Args:
        x: images ``[B, C, H, W]``.
        generator: the source of every random draw.
        flip: mirror left-right and top-bottom, each with probability 1/2.
        rotate: rotate by 0, 90, 180 or 270 degrees (only where ``H == W``).
        jitter: sd of the per-image, per-channel log gain and offset; 0: none.

    Returns:
        A new tensor of the same shape; ``x`` is left as it was.
    """
    B, C = x.shape[:2]
    out = x
    if flip:
        draws = torch.rand(B, 2, generator=generator) < 0.5  # (B, 2)
        out = torch.where(draws[:, 0, None, None, None], out.flip(-1), out)
        out = torch.where(draws[:, 1, None, None, None], out.flip(-2), out)
    if rotate and x.shape[-1] == x.shape[-2]:
        k = torch.randint(0, 4, (B,), generator=generator)
        turned = out
        for quarter in range(1, 4):
            turned = torch.where(
                (k == quarter)[:, None, None, None], out.rot90(quarter, (-2, -1)), turned
            )
        out = turned
    if jitter > 0:
        gain = torch.exp(jitter * torch.randn(B, C, 1, 1, generator=generator))
        offset = jitter * torch.randn(B, C, 1, 1, generator=generator)
        out = out * gain.to(out.dtype) + offset.to(out.dtype)
    return out if out is not x else x.clone()
