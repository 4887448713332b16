"""Hand-made image features for the classical baselines: intensity and texture.

Families (each per image, from the standardised images of one size):

- ``moments``: per channel, mean, sd, skewness and excess kurtosis of the pixels;
- ``histogram``: per channel, the fraction of pixels in each of ``bins`` bins whose edges are
  quantiles of the training pixels (fitted, so a bin means the same on every fold's rows);
- ``hog``: histogram of oriented gradients (Dalal & Triggs 2005) of the channel mean, 8
  orientations on a 4 x 4 grid of cells (scikit-image ``hog``);
- ``glcm``: Haralick texture (Haralick et al. 1973) of the channel mean quantised to 16 grey
  levels over the training range: contrast, homogeneity, energy and correlation of the grey
  level co-occurrence matrix at distances 1 and 2, averaged over 4 angles (scikit-image).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["feature_names", "image_features", "pixel_edges"]

_LEVELS = 16
_ORIENTATIONS = 8
_CELLS = 4
_GLCM_PROPS = ("contrast", "homogeneity", "energy", "correlation")
_DISTANCES = (1, 2)


def pixel_edges(images: np.ndarray, bins: int) -> np.ndarray:
    """Per channel, the inner histogram edges and the grey-level range, from training images.

    Args:
        images: standardised training images ``[n, C, H, W]``.
        bins: histogram bins per channel.

    Returns:
        float64 ``[C + 1, bins + 1]``: rows 0..C-1 the quantile edges of each channel
        (``bins - 1`` inner edges padded with -inf / +inf), row C the 1st and 99th percentile
        of the channel mean (grey-level range of ``glcm``) in its first two entries.
    """
    n, C = images.shape[:2]
    q = np.linspace(0, 1, bins + 1)[1:-1]
    out = np.zeros((C + 1, bins + 1))
    for c in range(C):
        out[c, 1:-1] = np.quantile(images[:, c], q)
        out[c, 0], out[c, -1] = -np.inf, np.inf
    grey = images.mean(axis=1)
    out[C, :2] = np.percentile(grey, [1, 99])
    return out


def feature_names(families: list[str], channels: list[str], bins: int) -> list[str]:
    """The names of :func:`image_features`'s columns, in order."""
    return [name for family in families for name in _FAMILIES[family][1](channels, bins)]


def image_features(images: np.ndarray, families: list[str], edges: np.ndarray) -> np.ndarray:
    """The features of each image, float64 ``[n, q]`` (columns: :func:`feature_names`).

    Args:
        images: standardised images ``[n, C, H, W]`` (one size).
        families: which families, in order.
        edges: :func:`pixel_edges` of the training images.
    """
    parts = [_FAMILIES[family][0](images, edges) for family in families]
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(images), 0))


def _moments(images: np.ndarray, edges: np.ndarray) -> np.ndarray:
    x = images.reshape(*images.shape[:2], -1).astype(np.float64)  # (n, C, HW)
    mean = x.mean(axis=2)
    sd = x.std(axis=2)
    z = (x - mean[..., None]) / np.where(sd > 0, sd, 1.0)[..., None]
    skew = (z**3).mean(axis=2)
    kurt = (z**4).mean(axis=2) - 3.0
    return np.stack([mean, sd, skew, kurt], axis=2).reshape(len(images), -1)


def _histograms(images: np.ndarray, edges: np.ndarray) -> np.ndarray:
    n, C = images.shape[:2]
    edges = edges[:-1]
    x = images.reshape(n, C, -1)
    out = []
    for c in range(C):
        which = np.searchsorted(edges[c, 1:-1], x[:, c], side="right")  # (n, HW) in 0..bins-1
        counts = np.stack([np.bincount(w, minlength=edges.shape[1] - 1) for w in which])
        out.append(counts / x.shape[2])
    return np.concatenate(out, axis=1)


def _hogs(images: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.stack([_hog(im.mean(axis=0)) for im in images])


def _glcms(images: np.ndarray, edges: np.ndarray) -> np.ndarray:
    lo, hi = edges[-1, 0], edges[-1, 1]
    return np.stack([_glcm(im.mean(axis=0), lo, hi) for im in images])


def _hog(grey: np.ndarray) -> np.ndarray:
    from skimage.feature import hog

    H, W = grey.shape
    cell = (max(H // _CELLS, 1), max(W // _CELLS, 1))
    padded = np.zeros((cell[0] * _CELLS, cell[1] * _CELLS))
    padded[: min(H, padded.shape[0]), : min(W, padded.shape[1])] = grey[
        : padded.shape[0], : padded.shape[1]
    ]
    return hog(
        padded,
        orientations=_ORIENTATIONS,
        pixels_per_cell=cell,
        cells_per_block=(1, 1),
        feature_vector=True,
    )


def _glcm(grey: np.ndarray, lo: float, hi: float) -> np.ndarray:
    from skimage.feature import graycomatrix, graycoprops

    scale = (hi - lo) or 1.0
    levels = np.clip((grey - lo) / scale * _LEVELS, 0, _LEVELS - 1).astype(np.uint8)
    angles = [0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]
    glcm = graycomatrix(levels, _DISTANCES, angles, levels=_LEVELS, symmetric=True, normed=True)
    props = [graycoprops(glcm, p).mean(axis=1) for p in _GLCM_PROPS]  # each (distances,)
    return np.nan_to_num(np.stack(props, axis=1).ravel(), nan=0.0)  # distance-major


Family = tuple[
    Callable[[np.ndarray, np.ndarray], np.ndarray], Callable[[list[str], int], list[str]]
]
_FAMILIES: dict[str, Family] = {
    "moments": (
        _moments,
        lambda chans, bins: [f"{c}_{m}" for c in chans for m in ("mean", "sd", "skew", "kurtosis")],
    ),
    "histogram": (
        _histograms,
        lambda chans, bins: [f"{c}_hist{b}" for c in chans for b in range(bins)],
    ),
    "hog": (_hogs, lambda chans, bins: [f"hog{i}" for i in range(_CELLS * _CELLS * _ORIENTATIONS)]),
    "glcm": (
        _glcms,
        lambda chans, bins: [f"glcm_{p}_d{d}" for d in _DISTANCES for p in _GLCM_PROPS],
    ),
}
