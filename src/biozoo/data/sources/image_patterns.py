"""Small images whose class is the SHAPE of one planted local pattern, anywhere in the image.

Each image is smooth noise with a few blurred spots; at a random place a 5 x 5 pattern is
added: a plus ``+`` in class 1, a saltire ``x`` in class 0. Both patterns light the same
number of pixels at the same amplitude, so the two classes have the same intensity
distribution; only the arrangement of the lit pixels tells them apart, and it can be anywhere.
The pattern's 5 x 5 box is returned as a mask per image, so an explanation (Grad-CAM,
attention rollout) can be scored by the fraction of its mass that falls inside the box
(:func:`mass_inside`); a uniform map puts ``25 / size**2`` of its mass there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biozoo.errors import BiozooError

__all__ = ["PATTERNS", "PatternImages", "mass_inside", "simulate_image_patterns"]

_PLUS = np.zeros((5, 5), dtype=np.float32)
_PLUS[2, :] = _PLUS[:, 2] = 1.0
_SALTIRE = np.eye(5, dtype=np.float32)
_SALTIRE = np.maximum(_SALTIRE, _SALTIRE[:, ::-1])
PATTERNS = (_SALTIRE, _PLUS)  # class 0, class 1: 9 lit pixels each


@dataclass(frozen=True)
class PatternImages:
    """Simulated images with their planted pattern.

    Attributes:
        ids: sample ids ``img0000``..., one per image.
        images: float32 ``[n, 1, size, size]``.
        labels: int64 ``[n]``, 1 where the pattern is a plus.
        masks: bool ``[n, size, size]``, True on the pattern's 5 x 5 box.
    """

    ids: list[str]
    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray


def simulate_image_patterns(
    n: int = 240,
    *,
    size: int = 32,
    amplitude: float = 1.0,
    noise: float = 0.5,
    spots: int = 3,
    seed: int = 0,
) -> PatternImages:
    """Simulate ``n`` images, classes alternating then shuffled.

    Args:
        n: number of images.
        size: side of each (square, one channel) image; at least 8.
        amplitude: value added on the pattern's lit pixels.
        noise: sd of the smooth background noise.
        spots: blurred bright spots per image, away from nothing in particular (distractors).
        seed: seed of the random generator.

    Returns:
        The images, labels and pattern masks.
    """
    from scipy import ndimage

    if size < 8 or n < 2:
        raise BiozooError(f"pattern images need size >= 8 and n >= 2, got size {size}, n {n}.")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    images = np.zeros((n, 1, size, size), dtype=np.float32)
    masks = np.zeros((n, size, size), dtype=bool)
    for i, label in enumerate(labels):
        field = ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma=1.0)
        field *= noise / (field.std() or 1.0)
        for _ in range(spots):
            spot = np.zeros((size, size))
            spot[tuple(rng.integers(0, size, 2))] = 1.0
            field += amplitude * 6.0 * ndimage.gaussian_filter(spot, sigma=1.5)
        r, c = (int(v) for v in rng.integers(0, size - 5 + 1, 2))
        field[r : r + 5, c : c + 5] += amplitude * PATTERNS[label]
        images[i, 0] = field
        masks[i, r : r + 5, c : c + 5] = True
    ids = [f"img{i:04d}" for i in range(n)]
    return PatternImages(ids, images, labels.astype(np.int64), masks)


def mass_inside(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The fraction of each explanation map's mass that lies inside its mask.

    Args:
        maps: ``[n, H, W]`` non-negative relevance (e.g. Grad-CAM after ReLU, rollout upsampled
            to the image size).
        masks: bool ``[n, H, W]``.

    Returns:
        float64 ``[n]`` in [0, 1] (0 for a map with no mass).
    """
    maps = np.clip(np.asarray(maps, dtype=np.float64), 0, None)
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)
