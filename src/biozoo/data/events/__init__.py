"""The ``events`` kind: life-event histories, a long CSV/TSV of (patient, age, code) rows.

Options under ``events:`` (:class:`~biozoo.data.events.read.EventsOptions`); the one view,
``tokens``, gives the encoder each patient's code ids with the age of every event
(:class:`~biozoo.data.events.part.EventTokens`, vocabulary from the training patients only).
``dataset: life_events`` reads the bundled simulated histories instead of a file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from biozoo.data.cohort import align_records
from biozoo.data.events.part import PAD, UNK, EventTokens
from biozoo.data.events.read import EventsOptions, History, histories_from_frame, read_events
from biozoo.data.protocol import ModalityKind, Part, Read, register_modality
from biozoo.data.spec import ModalityConfig
from biozoo.registry import Registry

__all__ = [
    "EVENTS_VIEWS",
    "PAD",
    "UNK",
    "EventTokens",
    "EventsConfig",
    "EventsOptions",
    "History",
    "read_modality",
]

EVENTS_VIEWS: Registry[type[Part]] = Registry("events view")
EVENTS_VIEWS.register("tokens")(EventTokens)


class EventsConfig(ModalityConfig):
    """An ``events`` modality (a file or a bundled dataset); its options under ``events:``."""

    kind: Literal["events"] = "events"
    events: EventsOptions = Field(default_factory=EventsOptions)

    def view_spec(self) -> tuple[str, dict[str, Any]]:
        return super().view_spec()[0], self.events.model_dump()


def read_modality(name: str, modality: EventsConfig) -> Read:
    """One :class:`History` per patient id."""
    if modality.dataset is not None:
        from biozoo.data.sources.datasets import dataset_events

        source = f"dataset {modality.dataset}"
        frame = dataset_events(modality.dataset).astype(str)
        return Read(histories_from_frame(frame, modality.events, source), source, {})
    path = modality.path
    assert path is not None  # a config gives exactly one of path and dataset
    return Read(read_events(path, options=modality.events, source=str(path)), str(path), {})


register_modality(
    ModalityKind(
        name="events",
        Config=EventsConfig,
        read=read_modality,
        align=align_records,
        views=EVENTS_VIEWS,
        default_view="tokens",
    )
)
