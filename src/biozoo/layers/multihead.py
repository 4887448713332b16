"""The one check every multi-head layer makes: its width splits evenly over its heads."""

from __future__ import annotations

from biozoo.errors import BiozooError

__all__ = ["head_dim"]


def head_dim(width: int, heads: int, owner: str) -> int:
    """The width of one head, ``width // heads``.

    Args:
        width: the layer's token width.
        heads: its number of heads.
        owner: what the width belongs to, for the message (``"vit d_model"``).

    Raises:
        BiozooError: ``heads`` is not positive or ``width`` is not a multiple of it.
    """
    if heads < 1 or width % heads:
        raise BiozooError(f"{owner} {width} is not a multiple of its {heads} heads")
    return width // heads
