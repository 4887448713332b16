"""The ``molecule`` kind: SMILES strings from a CSV/TSV column, checked with RDKit.

Options under ``molecule:`` (:class:`~biozoo.data.molecule.read.MoleculeOptions`). Two views:
``graph`` (the default: one graph per molecule for the GNN encoders) and ``descriptors``
(Morgan bits and scaled RDKit descriptors as a table). The same file declared twice, once
with ``view: descriptors``, gives a model both, e.g. a GIN beside an MLP over descriptors.
The kind also brings the ``scaffold`` split kind (:mod:`biozoo.data.molecule.scaffold`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from biozoo.data.cohort import align_records
from biozoo.data.molecule.part import MoleculeDescriptors, MoleculeTransform
from biozoo.data.molecule.read import MoleculeOptions, read_smiles
from biozoo.data.molecule.scaffold import ScaffoldSplits  # noqa: F401  (registers the split)
from biozoo.data.protocol import ModalityKind, Part, Read, register_modality
from biozoo.data.spec import RecordConfig
from biozoo.registry import Registry

__all__ = ["MOLECULE_VIEWS", "MoleculeConfig", "read_modality"]

MOLECULE_VIEWS: Registry[type[Part]] = Registry("molecule view")
MOLECULE_VIEWS.register("graph")(MoleculeTransform)
MOLECULE_VIEWS.register("descriptors")(MoleculeDescriptors)


class MoleculeConfig(RecordConfig):
    """A ``molecule`` modality; its reader and featurisation options under ``molecule:``."""

    kind: Literal["molecule"] = "molecule"
    molecule: MoleculeOptions = Field(default_factory=MoleculeOptions)

    def view_spec(self) -> tuple[str, dict[str, Any]]:
        return super().view_spec()[0], self.molecule.model_dump()


def read_modality(name: str, modality: MoleculeConfig) -> Read:
    """One SMILES string per sample id."""
    path = modality.path
    assert path is not None  # record kinds read files only (checked by the config)
    smiles = read_smiles(
        path, id_column=modality.id_column, options=modality.molecule, source=str(path)
    )
    return Read(smiles, str(path), {})


register_modality(
    ModalityKind(
        name="molecule",
        Config=MoleculeConfig,
        read=read_modality,
        align=align_records,
        views=MOLECULE_VIEWS,
        default_view="graph",
    )
)
