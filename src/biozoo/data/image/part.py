"""Images as one-size, standardised tensors: the fold transform of the ``image`` kind.

An image record is a float32 array ``[C, H, W]`` (reading: :mod:`biozoo.data.image.read`).
:class:`ImagePart` learns, on the training images of a fold, each channel's mean and sd, the
output size (unless the config gives one) and the flat features' bin edges and scales; it
then standardises every image, brings it to the size (``resize``, ``pad`` or ``crop``) and
stacks them into ``[n, C, H, W]``. It can also augment a training batch
(:class:`~biozoo.data.protocol.Augments`): flips, 90-degree rotations, intensity jitter.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import Tensor

from biozoo.data.image.augment import augment_images
from biozoo.data.image.features import feature_names, image_features, pixel_edges
from biozoo.data.image.read import ImageOptions
from biozoo.errors import BiozooError
from biozoo.inputs import ImageInput
from biozoo.tasks import Task

__all__ = ["ImagePart", "to_size"]

_CHUNK = 512  # images transformed at a time


def to_size(image: Tensor, size: tuple[int, int], policy: str) -> Tensor:
    """Images ``[B, C, h, w]`` (standardised: background 0) brought to ``size``.

    ``resize`` stretches (bilinear); ``pad`` shrinks an image larger than ``size`` to fit,
    keeping its aspect, and centres it on zeros; ``crop`` centres it on zeros where smaller
    and cuts its centre where larger, with no scaling.
    """
    H, W = size
    h, w = image.shape[-2:]
    if (h, w) == (H, W):
        return image
    if policy == "resize":
        return F.interpolate(image, size=(H, W), mode="bilinear", align_corners=False)
    if policy == "pad" and (h > H or w > W):
        scale = min(H / h, W / w)
        h, w = max(1, round(h * scale)), max(1, round(w * scale))
        image = F.interpolate(image, size=(h, w), mode="bilinear", align_corners=False)
    top, left = max(h - H, 0) // 2, max(w - W, 0) // 2  # centre cut where larger
    image = image[..., top : top + min(h, H), left : left + min(w, W)]
    out = image.new_zeros((*image.shape[:-2], H, W))
    r, c = max(H - h, 0) // 2, max(W - w, 0) // 2  # centred where smaller
    out[..., r : r + image.shape[-2], c : c + image.shape[-1]] = image
    return out


def _present(mod: Any) -> tuple[list[np.ndarray], np.ndarray]:
    rows = np.flatnonzero(np.asarray(mod.present, dtype=bool))
    return [np.asarray(mod.records[i], dtype=np.float32) for i in rows], rows


class ImagePart:
    """Standardised images of one size; statistics from the training images of a fold.

    Args:
        **options: the keys of :class:`~biozoo.data.image.read.ImageOptions` (reader options
            are accepted and ignored here).

    Shape:
        - transform: float32 ``[n, C, H, W]``; samples that lack the image are all zero.
        - flat: float32 ``[n, q]``: the ``features`` families of
          :mod:`biozoo.data.image.features`, each column standardised with training
          statistics (0 where the image is absent).
    """

    Config: ClassVar[type[BaseModel]] = ImageOptions
    type: ClassVar[str] = "image/pixels"

    def __init__(self, **options: Any) -> None:
        self.options = ImageOptions(**options)
        self.channels: list[str] | None = None
        self.size: tuple[int, int] | None = None
        self._arrays: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        fitted = f", channels={self.channels}, size={self.size}" if self.channels else ""
        return f"ImagePart(resize={self.options.resize!r}{fitted})"

    @property
    def report(self) -> dict[str, int]:
        """What fit learned, for the run's summary."""
        if self.size is None:
            return {}
        return {"channels": len(self._fitted()), "height": self.size[0], "width": self.size[1]}

    def fit(self, mod: Any, y: np.ndarray | None = None, task: Task | None = None) -> ImagePart:
        """Learn the channels' statistics, the size and the flat features' scales."""
        images, _ = _present(mod)
        where = mod.source or mod.name
        if not images:
            raise BiozooError(f"no training sample has an image in {where}.")
        C = images[0].shape[0]
        _check_channels(images, C, where)
        if self.options.size is not None:
            self.size = (int(self.options.size[0]), int(self.options.size[1]))
        else:
            sizes = {im.shape[1:] for im in images}
            if len(sizes) > 1:
                shown = ", ".join(f"{h}x{w}" for h, w in sorted(sizes)[:3])
                raise BiozooError(
                    f"the images of {where} are of several sizes ({shown}...); give "
                    f"'size: [height, width]' and a 'resize' policy in the modality's image "
                    f"options."
                )
            h, w = next(iter(sizes))
            self.size = (int(h), int(w))
        meta = getattr(mod, "meta", None) or {}
        self.channels = [str(c) for c in meta.get("channels", [f"c{j}" for j in range(C)])]
        if len(self.channels) != C:
            self.channels = [f"c{j}" for j in range(C)]
        mean, sd = np.zeros(C), np.ones(C)
        if self.options.normalize:
            total = sum(im.reshape(C, -1).astype(np.float64).sum(axis=1) for im in images)
            count = sum(im[0].size for im in images)
            mean = total / count
            sq = sum(((im.reshape(C, -1) - mean[:, None]) ** 2).sum(axis=1) for im in images)
            sd = np.sqrt(sq / count)
            sd = np.where(sd > 0, sd, 1.0)
        self._arrays = {"mean": mean, "sd": sd}
        stacked = self._stack(images)
        self._arrays["edges"] = pixel_edges(stacked, self.options.bins)
        raw = image_features(stacked, self.options.features, self._arrays["edges"])
        f_sd = raw.std(axis=0)
        self._arrays.update(flat_mean=raw.mean(axis=0), flat_sd=np.where(f_sd > 0, f_sd, 1.0))
        return self

    def _stack(self, images: list[np.ndarray]) -> np.ndarray:
        """Standardised images at the fitted size, float32 ``[n, C, H, W]``."""
        assert self.size is not None
        C = len(self._fitted())
        _check_channels(images, C, "the images")
        mean = torch.as_tensor(self._arrays["mean"], dtype=torch.float32)[:, None, None]
        sd = torch.as_tensor(self._arrays["sd"], dtype=torch.float32)[:, None, None]
        out = np.zeros((len(images), C, *self.size), dtype=np.float32)
        for i, im in enumerate(images):
            z = (torch.from_numpy(np.ascontiguousarray(im)) - mean) / sd
            out[i] = to_size(z[None], self.size, self.options.resize)[0].numpy()
        return out

    def transform(self, mod: Any) -> Tensor:
        """Every sample's image ``[n, C, H, W]`` (absent ones all zero)."""
        C = len(self._fitted())
        assert self.size is not None
        out = np.zeros((len(mod.present), C, *self.size), dtype=np.float32)
        images, rows = _present(mod)
        for start in range(0, len(images), _CHUNK):
            out[rows[start : start + _CHUNK]] = self._stack(images[start : start + _CHUNK])
        return torch.from_numpy(out)

    def flat(self, mod: Any) -> np.ndarray:
        """Intensity and texture features per sample (the classical baselines' view)."""
        a = self._arrays
        width = len(a["flat_mean"]) if self.channels else 0
        out = np.zeros((len(mod.present), width), dtype=np.float32)
        images, rows = _present(mod)
        for start in range(0, len(images), _CHUNK):
            stacked = self._stack(images[start : start + _CHUNK])
            raw = image_features(stacked, self.options.features, a["edges"])
            out[rows[start : start + _CHUNK]] = (raw - a["flat_mean"]) / a["flat_sd"]
        return out

    def augment(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """A training batch ``[B, C, H, W]`` augmented as the options say (or left as is)."""
        aug = self.options.augment
        if aug is None:
            return x
        return augment_images(x, generator, flip=aug.flip, rotate=aug.rotate, jitter=aug.jitter)

    @property
    def input(self) -> ImageInput:
        """An ``image`` input: channels, height and width fed to the encoder."""
        C = len(self._fitted())
        assert self.size is not None
        return ImageInput(channels=C, height=self.size[0], width=self.size[1])

    def feature_names(self) -> list[str] | None:
        """None: the encoder's input is pixels, not named features."""
        return None

    def token_names(self) -> list[str] | None:
        """None: an image has no named tokens."""
        return None

    def flat_names(self) -> list[str]:
        """The names of :meth:`flat`'s columns."""
        return feature_names(self.options.features, self._fitted(), self.options.bins)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays ``mean``, ``sd``, ``edges``, ``flat_mean``, ``flat_sd``; options in meta."""
        names = self._fitted()
        meta = {
            "kind": "ImagePart",
            "options": self.options.model_dump(mode="json"),
            "channels": list(names),
            "size": list(self.size or ()),
        }
        return {k: np.ascontiguousarray(v) for k, v in self._arrays.items()}, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> ImagePart:
        """Rebuild from :meth:`state`'s output."""
        keys = {"mean", "sd", "edges", "flat_mean", "flat_sd"}
        if meta.get("kind") != "ImagePart" or set(arrays) != keys:
            raise ValueError("not the saved state of an ImagePart")
        part = cls(**meta["options"])
        part.channels = [str(c) for c in meta["channels"]]
        part.size = (int(meta["size"][0]), int(meta["size"][1]))
        part._arrays = {k: np.asarray(arrays[k], dtype=np.float64) for k in keys}
        return part

    def _fitted(self) -> list[str]:
        if self.channels is None:
            raise RuntimeError("ImagePart is not fitted; call fit() first")
        return self.channels


def _check_channels(images: list[np.ndarray], C: int, where: str) -> None:
    odd = next((im for im in images if im.ndim != 3 or im.shape[0] != C), None)
    if odd is not None:
        raise BiozooError(
            f"an image of {where} has shape {odd.shape}, where {C} channels first were "
            f"expected; every image of a modality must have the same channels."
        )
