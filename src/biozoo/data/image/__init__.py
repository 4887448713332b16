"""The ``image`` kind: channels-first images from files, a 4-D array, or crops of one image.

Options under ``image:`` (:class:`~biozoo.data.image.read.ImageOptions`); the one view,
``pixels``, gives the encoder standardised images of one size (``[B, C, H, W]``), augmented
during training if asked, and the baselines intensity and texture features. ``dataset``
names bundled images as ``<dataset>/images`` (``nuclei/images``, ``image_patterns/images``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field

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
        if modality.format != "auto" or modality.image.mask is not None:
            raise BiozooError(
                f"modality {name!r} reads bundled images {modality.dataset!r}, so 'format' and "
                f"'image.mask' do not apply (they are for files given by 'path')."
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
