"""Crops of one large image around each object of its instance mask.

Used by the ``crops`` format of the image reader and to build the bundled nuclei crops.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cut_crops", "touching"]


def cut_crops(
    image: np.ndarray, labels: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``size`` x ``size`` window centred on each object's bounding box.

    Windows that run past the image's edge are filled with 0 there.

    Args:
        image: ``[C, H, W]``.
        labels: ``[H, W]`` integer instance mask, 0 for background.
        size: the window's side, in pixels.

    Returns:
        The object labels (sorted, int64 ``[n]``), the crops (``[n, C, size, size]``, the
        image's dtype) and each object's own mask in its crop (bool ``[n, size, size]``).
    """
    from scipy import ndimage

    ids = np.unique(labels)
    ids = ids[ids != 0]
    boxes = ndimage.find_objects(labels)
    C = image.shape[0]
    half = size // 2
    padded = np.pad(image, ((0, 0), (size, size), (size, size)))
    padded_labels = np.pad(labels, size)
    crops = np.zeros((len(ids), C, size, size), dtype=image.dtype)
    own = np.zeros((len(ids), size, size), dtype=bool)
    for i, label in enumerate(ids):
        rows, cols = boxes[label - 1]
        top = (rows.start + rows.stop) // 2 - half + size  # in the padded frame
        left = (cols.start + cols.stop) // 2 - half + size
        window = (slice(top, top + size), slice(left, left + size))
        crops[i] = padded[(slice(None), *window)]
        own[i] = padded_labels[window] == label
    return ids.astype(np.int64), crops, own


def touching(labels: np.ndarray, gap: int = 1) -> dict[int, bool]:
    """Whether each object lies within ``gap`` pixels (8-neighbourhood) of another object.

    Args:
        labels: ``[H, W]`` integer instance mask, 0 for background.
        gap: how many pixels of dilation still count as touching.

    Returns:
        Object label -> True where another object's pixel is within ``gap`` pixels.
    """
    from scipy import ndimage

    out = {}
    boxes = ndimage.find_objects(labels)
    square = np.ones((3, 3), dtype=bool)
    for label, box in enumerate(boxes, start=1):
        if box is None:
            continue
        grown = tuple(
            slice(max(s.start - gap - 1, 0), s.stop + gap + 1) for s in box
        )  # the box and a margin: the dilation cannot reach further
        own = labels[grown] == label
        ring = ndimage.binary_dilation(own, structure=square, iterations=gap) & ~own
        out[label] = bool((labels[grown][ring] != 0).any())
    return out
