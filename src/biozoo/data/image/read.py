"""Reading an ``image`` modality: files listed in a CSV, a 4-D array, or crops of one image.

:class:`ImageOptions` holds the modality's options (reader, geometry, augmentation, flat
features); :func:`read_images` gives one float32 array ``[C, H, W]`` (channels first) per
sample. Formats:

- ``folder`` — a CSV/TSV with one row per sample: the sample id (``id_column``, default the
  first column) and an image file (``file_column``, default the second column), relative to
  the CSV's folder. PNG, JPEG, BMP... are read with Pillow, ``.tif``/``.tiff`` with tifffile,
  ``.npy`` with NumPy. A 3-D TIFF or array is channels first unless its last axis has at most
  4 entries and its first more (interleaved RGB(A)); colour files read by Pillow are
  interleaved and come out channels first.
- ``npy`` — ``.npz`` holding ``values`` ``[n, C, H, W]`` (or ``[n, H, W]``: one channel) and
  ``ids`` ``[n]``, optionally ``channels`` ``[C]``; or a ``.npy`` of ``values`` with the ids
  one per line in ``<name>.ids.txt`` (:func:`biozoo.data.arrays.read_id_arrays`).
- ``crops`` — one large image (``path``) and its instance mask (``mask``: one integer label
  per object, 0 for background): a ``crop`` x ``crop`` window around each object
  (:func:`~biozoo.data.image.crops.cut_crops`); the sample id is the object's label.

Every image of a modality must have the same number of channels; sizes may differ (the view
makes them one size, see ``size`` and ``resize``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from biozoo.data.arrays import read_id_arrays, reason
from biozoo.data.image.crops import cut_crops
from biozoo.errors import BiozooError

__all__ = ["AugmentOptions", "ImageOptions", "load_image", "read_images"]

_PILLOW = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_TIFF = (".tif", ".tiff")
Feature = Literal["moments", "histogram", "hog", "glcm"]


class AugmentOptions(BaseModel):
    """Random changes to each training image, drawn anew every epoch for every member.

    Attributes:
        flip: mirror left-right and top-bottom, each with probability 1/2.
        rotate: rotate by a multiple of 90 degrees (square images only).
        jitter: sd of a per-image, per-channel gain (``exp(N(0, jitter))``) and offset
            (``N(0, jitter)``, in standardised units); 0 turns it off.
    """

    model_config = ConfigDict(extra="forbid")
    flip: bool = True
    rotate: bool = True
    jitter: float = Field(0.05, ge=0.0, le=1.0)


class ImageOptions(BaseModel):
    """Options of an ``image`` modality (reader, view and flat features); ``ImagePart.Config``.

    Attributes:
        format: ``folder`` (a CSV of files), ``npy`` (``.npz``/``.npy``), ``crops`` (one image
            and its instance mask) or ``auto`` (``crops`` when ``mask`` is given, ``npy`` for
            ``.npz``/``.npy``, else ``folder``).
        file_column: the CSV's file column (default: its second column).
        mask: the instance mask of ``crops`` (a relative path is taken from the config's
            folder).
        crop: the side of each crop, in pixels.
        mask_channel: add the object's own mask (1 inside, 0 outside) as a last channel.
        channels: channel names (default: the ``.npz``'s ``channels``, else ``c0, c1...``).
        size: ``[height, width]`` fed to the encoder (default: the training images' size,
            which must then be one size).
        resize: how an image is brought to ``size``: ``resize`` (bilinear, aspect not
            kept), ``pad`` (shrunk to fit if larger, keeping its aspect, never enlarged, then
            centred on a background of the training mean) or ``crop`` (no scaling: centre
            cropped where larger, padded where smaller).
        normalize: standardise each channel with the training pixels' mean and sd.
        augment: training-time augmentation (None: none).
        features: the flat view's feature families (for the classical baselines).
        bins: histogram bins per channel (edges at training-pixel quantiles).
    """

    model_config = ConfigDict(extra="forbid")
    format: Literal["auto", "folder", "npy", "crops"] = "auto"
    file_column: str | None = None
    mask: Path | None = None
    crop: PositiveInt = 32
    mask_channel: bool = False
    channels: list[str] | None = None
    size: tuple[PositiveInt, PositiveInt] | None = None
    resize: Literal["resize", "pad", "crop"] = "resize"
    normalize: bool = True
    augment: AugmentOptions | None = None
    features: list[Feature] = Field(default_factory=lambda: ["moments", "histogram", "hog", "glcm"])
    bins: int = Field(8, ge=2, le=64)

    @model_validator(mode="after")
    def _mask_for_crops(self) -> ImageOptions:
        if self.format == "crops" and self.mask is None:
            raise ValueError("format crops needs the instance mask under 'mask'")
        if self.mask is not None and self.format not in ("auto", "crops"):
            raise ValueError(f"'mask' is for format crops, not {self.format}")
        return self

    def resolved_format(self, path: Path) -> str:
        """The format ``auto`` stands for, given the modality's file."""
        if self.format != "auto":
            return self.format
        if self.mask is not None:
            return "crops"
        return "npy" if path.suffix.lower() in (".npz", ".npy") else "folder"


def read_images(
    path: Path, *, options: ImageOptions | None = None, id_column: str | None = None
) -> tuple[pd.Series, list[str]]:
    """Read one float32 ``[C, H, W]`` image per sample id.

    Args:
        path: the CSV of files, the ``.npz``/``.npy`` array, or the large image of ``crops``.
        options: the modality's options.
        id_column: the CSV's sample-id column (default: its first column).

    Returns:
        The images (object Series indexed by str sample ids named ``sample_id``) and the
        ``C`` channel names.

    Raises:
        BiozooError: naming the file: it is missing, unreadable or truncated, a sample's file
            is missing, channel counts differ, an id repeats.
    """
    path, options = Path(path), options or ImageOptions()
    if not path.is_file():
        raise BiozooError(f"image file {path} does not exist.")
    fmt = options.resolved_format(path)
    if fmt == "npy":
        images, ids, names = _read_array(path)
    elif fmt == "crops":
        images, ids, names = _read_crops(path, options)
    else:
        images, ids, names = _read_folder(path, options.file_column, id_column)
    names = options.channels or names or [f"c{j}" for j in range(images[0].shape[0])]
    if len(names) != images[0].shape[0]:
        raise BiozooError(
            f"images of {path} have {images[0].shape[0]} channels but {len(names)} channel "
            f"names are given."
        )
    index = pd.Index([str(i) for i in ids], dtype=object, name="sample_id")
    if index.duplicated().any():
        raise BiozooError(f"sample id {index[index.duplicated()][0]!r} repeats in {path}.")
    return pd.Series(images, index=index, dtype=object, name="image"), names


def load_image(path: Path, where: str | None = None) -> np.ndarray:
    """One image file as a float32 array ``[C, H, W]``.

    Raises:
        BiozooError: the file is missing, unreadable or truncated, or not 2-D / 3-D.
    """
    where = where or str(path)
    if not path.is_file():
        raise BiozooError(f"image file {where} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in _TIFF:
            import tifffile

            array = np.asarray(tifffile.imread(path))
            interleaved = array.ndim == 3 and array.shape[-1] <= 4 < array.shape[0]
        elif suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            interleaved = array.ndim == 3 and array.shape[-1] <= 4 < array.shape[0]
        else:
            from PIL import Image

            with Image.open(path) as img:
                img.load()  # a truncated file fails here, not later
                if img.mode == "P":
                    img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                array = np.asarray(img)
            interleaved = array.ndim == 3
    except Exception as err:  # decoders raise many types; each is an unreadable file
        raise BiozooError(f"image file {where} could not be read: {reason(err)}.") from None
    if array.ndim == 3 and interleaved:
        array = np.moveaxis(array, -1, 0)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or min(array.shape) < 1 or array.dtype.kind not in "biuf":
        raise BiozooError(
            f"image file {where} holds a {array.ndim}-D {array.dtype} array of shape "
            f"{array.shape}; an image is 2-D or 3-D numbers."
        )
    return _finite(array.astype(np.float32), where)


def _finite(array: np.ndarray, where: str) -> np.ndarray:
    if not np.isfinite(array).all():
        raise BiozooError(f"image {where} holds NaN or infinite values.")
    return array


def _same_channels(images: list[np.ndarray], wheres: list[str]) -> None:
    counts = [im.shape[0] for im in images]
    odd = next((i for i, c in enumerate(counts) if c != counts[0]), None)
    if odd is not None:
        raise BiozooError(
            f"image {wheres[odd]} has {counts[odd]} channels but {wheres[0]} has {counts[0]}; "
            f"every image of a modality must have the same channels."
        )


def _read_folder(
    path: Path, file_column: str | None, id_column: str | None
) -> tuple[list[np.ndarray], list[str], list[str] | None]:
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab", ".txt") else ","
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise BiozooError(f"image list {path} could not be read: {reason(err)}.") from None
    header = [str(c) for c in frame.columns]
    sid = id_column or (header[0] if header else None)
    fcol = file_column or (header[1] if len(header) > 1 else None)
    for role, col in (("sample id", sid), ("file", fcol)):
        if col is None or col not in header:
            raise BiozooError(
                f"image list {path} needs a {role} column{f' {col!r}' if col else ''} "
                f"(columns: {', '.join(map(repr, header)) or 'none'})."
            )
    if frame.empty:
        raise BiozooError(f"image list {path} lists no image.")
    images, wheres = [], []
    for line, (sample, name) in enumerate(zip(frame[sid], frame[fcol], strict=True), start=2):
        if not sample or not name:
            raise BiozooError(f"line {line} of image list {path} has no sample id or no file.")
        file = Path(name) if Path(name).is_absolute() else path.parent / name
        where = f"{file} (sample {sample!r}, line {line} of {path})"
        if not file.is_file():
            raise BiozooError(f"image file {where} does not exist.")
        images.append(load_image(file, where))
        wheres.append(where)
    _same_channels(images, wheres)
    return images, list(frame[sid]), None


def _read_array(path: Path) -> tuple[list[np.ndarray], list[str], list[str] | None]:
    arrays = read_id_arrays(path, str(path), "image")
    values, ids = np.asarray(arrays["values"]), np.asarray(arrays["ids"]).ravel()
    if values.ndim == 3:
        values = values[:, None]
    if values.ndim != 4 or len(ids) != len(values) or values.dtype.kind not in "biuf":
        raise BiozooError(
            f"image array {path} must be numbers of shape (n, C, H, W) or (n, H, W) with one id "
            f"per image, but values have shape {values.shape} ({values.dtype}) and there are "
            f"{len(ids)} ids."
        )
    values = _finite(values.astype(np.float32), str(path))
    names = [str(c) for c in arrays["channels"]] if "channels" in arrays else None
    return list(values), [str(i) for i in ids], names


def _read_crops(
    path: Path, options: ImageOptions
) -> tuple[list[np.ndarray], list[str], list[str] | None]:
    assert options.mask is not None  # checked by the options
    image = load_image(path)
    if not options.mask.is_file():
        raise BiozooError(f"instance mask {options.mask} (of image {path}) does not exist.")
    mask = load_image(options.mask)
    if mask.shape[0] != 1 or mask.shape[1:] != image.shape[1:]:
        raise BiozooError(
            f"instance mask {options.mask} must be one plane of the size of {path} "
            f"({image.shape[1]}x{image.shape[2]}), not of shape {mask.shape}."
        )
    labels = mask[0].astype(np.int64)
    if (labels != mask[0]).any() or (labels < 0).any():
        raise BiozooError(f"instance mask {options.mask} must hold integer labels >= 0.")
    if not labels.any():
        raise BiozooError(f"instance mask {options.mask} holds no object (every pixel is 0).")
    ids, crops, own = cut_crops(image, labels, options.crop)
    names = [f"c{j}" for j in range(image.shape[0])]
    if options.mask_channel:
        crops = np.concatenate([crops, own[:, None].astype(np.float32)], axis=1)
        names.append("mask")
    return list(crops), [str(i) for i in ids], names
