"""The ``sequence`` kind: protein or nucleotide strings (FASTA, or a CSV/TSV column).

Options under ``sequence:`` (:class:`~biozoo.data.sequence.read.SequenceOptions`); the one view,
``tokens``, cuts each string into k-mer tokens with a vocabulary fitted on the training part.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from biozoo.data.cohort import align_records
from biozoo.data.protocol import ModalityKind, Part, Read, register_modality
from biozoo.data.sequence.part import SequenceTransform
from biozoo.data.sequence.read import SequenceOptions, read_sequences
from biozoo.data.spec import RecordConfig
from biozoo.errors import BiozooError
from biozoo.registry import Registry

__all__ = ["SEQUENCE_VIEWS", "SequenceConfig", "read_modality"]

SEQUENCE_VIEWS: Registry[type[Part]] = Registry("sequence view")
SEQUENCE_VIEWS.register("tokens")(SequenceTransform)


class SequenceConfig(RecordConfig):
    """A ``sequence`` modality; its reader and token options under ``sequence:``."""

    kind: Literal["sequence"] = "sequence"
    sequence: SequenceOptions = Field(default_factory=SequenceOptions)

    def view_spec(self) -> tuple[str, dict[str, Any]]:
        return super().view_spec()[0], self.sequence.model_dump()


def read_modality(name: str, modality: SequenceConfig) -> Read:
    """One string per sample id."""
    path = modality.path
    assert path is not None  # record kinds read files only (checked by the config)
    fmt = {"auto": "auto", "csv": "csv", "tsv": "tsv"}.get(modality.format)
    if fmt is None:
        raise BiozooError(
            f"sequences are read from FASTA, CSV or TSV, not {modality.format} ({path})."
        )
    seqs = read_sequences(path, fmt=fmt, id_column=modality.id_column, options=modality.sequence)
    return Read(seqs, str(path), {})


register_modality(
    ModalityKind(
        name="sequence",
        Config=SequenceConfig,
        read=read_modality,
        align=align_records,
        views=SEQUENCE_VIEWS,
        default_view="tokens",
    )
)
