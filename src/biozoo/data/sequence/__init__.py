"""The ``sequence`` kind: protein or nucleotide strings (FASTA, or a CSV/TSV column).

Options under ``sequence:`` (:class:`~biozoo.data.sequence.read.SequenceOptions`); the one view,
``tokens``, cuts each string into k-mer tokens with a vocabulary fitted on the training part.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from biozoo.data.cohort import align_records
from biozoo.data.protocol import ModalityKind, Part, Read, register_modality
from biozoo.data.sequence.part import SequenceTransform
from biozoo.data.sequence.read import SequenceOptions, checked_sequences, read_sequences
from biozoo.data.sources.datasets import dataset_table
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

    @model_validator(mode="after")
    def _a_file(self) -> Self:
        """A file, or a bundled dataset's sequence table (``dataset: orfs/dna``)."""
        return self

    def view_spec(self) -> tuple[str, dict[str, Any]]:
        return super().view_spec()[0], self.sequence.model_dump()


def read_modality(name: str, modality: SequenceConfig) -> Read:
    """One string per sample id."""
    if modality.dataset is not None:
        return _read_dataset(modality.dataset, modality.sequence)
    path = modality.path
    assert path is not None  # record kinds read files only (checked by the config)
    fmt = {"auto": "auto", "csv": "csv", "tsv": "tsv"}.get(modality.format)
    if fmt is None:
        raise BiozooError(
            f"sequences are read from FASTA, CSV or TSV, not {modality.format} ({path})."
        )
    seqs = read_sequences(path, fmt=fmt, id_column=modality.id_column, options=modality.sequence)
    return Read(seqs, str(path), {})


def _read_dataset(spec: str, options: SequenceOptions) -> Read:
    """The sequences of a bundled dataset's one-column table of strings."""
    frame = dataset_table(spec)
    column = options.column or str(frame.columns[0])
    if column not in frame.columns or frame[column].dtype != object:
        raise BiozooError(f"dataset table {spec!r} holds no sequence column {column!r}.")
    ids = [str(i) for i in frame.index]
    seqs = checked_sequences(ids, [str(s) for s in frame[column]], spec, options)
    return Read(seqs, spec, {})


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
