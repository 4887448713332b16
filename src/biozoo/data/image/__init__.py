"""The ``image`` kind: channels-first images from files, a 4-D array, or crops of one image.

Options under ``image:`` (:class:`~biozoo.data.image.read.ImageOptions`); the one view,
``pixels``, gives the encoder standardised images of one size (``[B, C, H, W]``), augmented
during training if asked, and the baselines intensity and texture features. ``dataset``
names bundled images as ``<dataset>/images`` (``nuclei/images``, ``image_patterns/images``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from biozoo.data.cohort import align_records
from biozoo.data.image.part import ImagePart
from biozoo.data.image.read import ImageOptions, read_images
from biozoo.data.protocol import ModalityKind, Part, Read, register_modality
from biozoo.data.sources.datasets import dataset_records
from biozoo.data.spec import ModalityConfig
from biozoo.errors import BiozooError
from biozoo.registry import Registry

__all__ = ["IMAGE_VIEWS", "ImageConfig", "read_modality"]

IMAGE_VIEWS: Registry[type[Part]] = Registry("image view")
IMAGE_VIEWS.register("pixels")(ImagePart)


class ImageConfig(ModalityConfig):
    """An ``image`` modality; its reader, size and augmentation options under ``image:``."""

    kind: Literal["image"] = "image"
    image: ImageOptions = Field(default_factory=ImageOptions)

    @model_validator(mode="after")
    def _format_under_image(self) -> Self:
        if self.format != "auto":
            raise ValueError(
                "an image modality gives its format under 'image.format' (folder, npy or crops)"
            )
        return self

    def view_spec(self) -> tuple[str, dict[str, Any]]:
        return super().view_spec()[0], self.image.model_dump()

    def resolved(self, base: Path) -> Self:
        """Also makes the instance mask of ``crops`` absolute."""
        out = super().resolved(base)
        mask = self.image.mask
        if mask is None or mask.is_absolute():
            return out
        image = self.image.model_copy(update={"mask": (base / mask).resolve()})
        return out.model_copy(update={"image": image})


def read_modality(name: str, modality: ImageConfig) -> Read:
    """One float32 ``[C, H, W]`` image per sample id; the channel names in the meta."""
    if modality.dataset is not None:
        extra = [
            key
            for key, value in (
                ("id_column", modality.id_column),
                ("image.format", None if modality.image.format == "auto" else "set"),
                ("image.mask", modality.image.mask),
            )
            if value
        ]
        if extra:
            raise BiozooError(
                f"modality {name!r} reads bundled images {modality.dataset!r}, so option "
                f"{extra[0]!r} does not apply (it is for files given by 'path')."
            )
        images, channels = dataset_records(modality.dataset)
        return Read(images, modality.dataset, {"channels": channels})
    path = modality.path
    assert path is not None  # the config allows exactly one of path / dataset
    images, channels = read_images(path, options=modality.image, id_column=modality.id_column)
    return Read(images, str(path), {"channels": channels})


register_modality(
    ModalityKind(
        name="image",
        Config=ImageConfig,
        read=read_modality,
        align=align_records,
        views=IMAGE_VIEWS,
        default_view="pixels",
    )
)
