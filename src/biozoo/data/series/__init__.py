"""The ``series`` kind: time series of visits (a long CSV/TSV, or an ``.npz``/``.npy`` array).

Options under ``series:`` (:class:`~biozoo.data.series.read.SeriesOptions`); the one view,
``visits``, gives the encoder standardised channels per visit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from biozoo.data.cohort import align_records
from biozoo.data.protocol import ModalityKind, Part, Read, register_modality
from biozoo.data.series.part import SeriesTransform
from biozoo.data.series.read import SeriesOptions, read_series
from biozoo.data.spec import RecordConfig
from biozoo.registry import Registry

__all__ = ["SERIES_VIEWS", "SeriesConfig", "read_modality"]

SERIES_VIEWS: Registry[type[Part]] = Registry("series view")
SERIES_VIEWS.register("visits")(SeriesTransform)


class SeriesConfig(RecordConfig):
    """A ``series`` modality; its reader and transform options under ``series:``."""

    kind: Literal["series"] = "series"
    series: SeriesOptions = Field(default_factory=SeriesOptions)

    def view_spec(self) -> tuple[str, dict[str, Any]]:
        return super().view_spec()[0], self.series.model_dump()


def read_modality(name: str, modality: SeriesConfig) -> Read:
    """One array ``[T_i, 1 + C]`` per sample id; the channel names in the meta."""
    path = modality.path
    assert path is not None  # record kinds read files only (checked by the config)
    series, channels = read_series(path, options=modality.series, source=str(path))
    return Read(series, str(path), {"channels": channels})


register_modality(
    ModalityKind(
        name="series",
        Config=SeriesConfig,
        read=read_modality,
        align=align_records,
        views=SERIES_VIEWS,
        default_view="visits",
    )
)
