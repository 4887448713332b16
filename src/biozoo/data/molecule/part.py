"""The fold transforms of a molecule modality.

:class:`MoleculeTransform` gives the encoders graphs (a
:class:`~biozoo.data.batch.GraphSource`) and, for classical baselines, Morgan fingerprint bits
plus RDKit's 2-D descriptors scaled with training-part statistics.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch
from pydantic import BaseModel
from rdkit import Chem

from biozoo.data.batch import GraphSource, empty_graph
from biozoo.data.molecule.featurize import (
    ATOM_DIM,
    BOND_DIM,
    DESCRIPTOR_NAMES,
    cached_graph,
    morgan_fingerprints,
    rdkit_descriptors,
)
from biozoo.data.molecule.read import MoleculeOptions
from biozoo.errors import BiozooError
from biozoo.inputs import GraphInput, TableInput
from biozoo.tasks import Task

__all__ = ["MoleculeDescriptors", "MoleculeTransform"]

# ---------------------------------------------------------------- fold transform


class MoleculeTransform:
    """The fold transform of a molecule modality (records: SMILES str, or None when absent).

    :meth:`transform` gives the graph encoders one graph per sample (an empty graph for an
    absent one); nothing is learned for that. :meth:`flat` gives classical baselines
    ``[fingerprint_bits Morgan bits | 217 RDKit descriptors]``. The descriptors are put on a
    common scale with statistics of the training part only (:meth:`fit`): a signed
    ``log1p`` (``sign(v) log(1 + |v|)``, which tames heavy tails such as ``Ipc``), non-finite
    values replaced by the training median, standardisation with the training mean and
    standard deviation, then clipping to ``[-10, 10]``.

    Args:
        column, invalid: the reader's options (see :class:`MoleculeOptions`); ignored here.
        add_hs: make hydrogens explicit graph nodes.
        fingerprint_bits: Morgan fingerprint length.
        fingerprint_radius: Morgan fingerprint radius.
        descriptors: add the RDKit descriptors to :meth:`flat`.
    """

    Config: ClassVar[type[BaseModel]] = MoleculeOptions
    type: ClassVar[str] = "molecule/graph"
    molecule_graphs: ClassVar[bool] = True
    """Its inputs are molecule graphs (what GNNExplainer explains and RDKit draws)."""

    def __init__(
        self,
        *,
        column: str | None = None,
        invalid: Literal["error", "drop"] = "error",
        add_hs: bool = False,
        fingerprint_bits: int = 2048,
        fingerprint_radius: int = 2,
        descriptors: bool = True,
    ) -> None:
        self.options = MoleculeOptions(
            column=column,
            invalid=invalid,
            add_hs=add_hs,
            fingerprint_bits=fingerprint_bits,
            fingerprint_radius=fingerprint_radius,
            descriptors=descriptors,
        )
        self.add_hs = bool(add_hs)
        self.fingerprint_bits = int(fingerprint_bits)
        self.fingerprint_radius = int(fingerprint_radius)
        self.descriptors = bool(descriptors)
        self._fill: np.ndarray | None = None
        self._mean = self._sd = np.zeros(0)

    def __repr__(self) -> str:
        return (
            f"MoleculeTransform(add_hs={self.add_hs}, fingerprint_bits={self.fingerprint_bits}, "
            f"fingerprint_radius={self.fingerprint_radius}, descriptors={self.descriptors})"
        )

    @property
    def input(self) -> GraphInput:
        """A ``graph`` input: atom and bond feature widths."""
        return GraphInput(node_dim=ATOM_DIM, edge_dim=BOND_DIM)

    def feature_names(self) -> list[str] | None:
        """None: the encoder's input is not a matrix of named features."""
        return None

    def token_names(self) -> list[str] | None:
        """None: a molecule is a graph, not a sequence of tokens."""
        return None

    @property
    def report(self) -> dict[str, Any]:
        """Nothing to count: every molecule becomes a graph."""
        return {}

    def fit(self, mod: Any, y: np.ndarray | None = None, task: Task | None = None) -> Self:
        """Learn the descriptor scaling from the training samples ``mod`` (``y`` unused)."""
        if not self.descriptors:
            self._fill = np.zeros(0)
            return self
        _, smiles = _present(mod)
        if not smiles:
            raise BiozooError(f"no training sample has a molecule in {_name(mod)}.")
        raw = _squash(rdkit_descriptors(smiles))
        all_nan = np.isnan(raw).all(axis=0)  # nanmedian warns on such columns
        fill = np.zeros(raw.shape[1])
        fill[~all_nan] = np.nanmedian(raw[:, ~all_nan], axis=0)
        filled = np.where(np.isnan(raw), fill, raw)
        sd = filled.std(axis=0)
        self._fill, self._mean, self._sd = fill, filled.mean(axis=0), np.where(sd > 1e-8, sd, 1.0)
        return self

    def transform(self, mod: Any) -> GraphSource:
        """One graph per sample, in order; an empty graph where the molecule is absent."""
        graphs = []
        for i, smi in enumerate(_records(mod)):
            if smi is None:
                graphs.append(empty_graph(ATOM_DIM, BOND_DIM))
                continue
            try:
                graphs.append(cached_graph(smi, self.add_hs))
            except BiozooError:
                raise BiozooError(
                    f"sample {i + 1} of {_name(mod)} has a SMILES RDKit cannot parse: {smi!r}."
                ) from None
        return GraphSource(graphs)

    def flat(self, mod: Any) -> np.ndarray:
        """float32 ``[n, q]``: Morgan bits then scaled descriptors; zeros for absent rows."""
        if self.descriptors and self._fill is None:
            raise RuntimeError("fit the MoleculeTransform before asking for flat features")
        n = len(mod.present)
        n_desc = len(DESCRIPTOR_NAMES) if self.descriptors else 0
        out = np.zeros((n, self.fingerprint_bits + n_desc), dtype=np.float32)
        pos, smiles = _present(mod)
        if not smiles:
            return out
        out[pos, : self.fingerprint_bits] = morgan_fingerprints(
            smiles, bits=self.fingerprint_bits, radius=self.fingerprint_radius
        )
        if self.descriptors:
            raw = _squash(rdkit_descriptors(smiles))
            scaled = (np.where(np.isnan(raw), self._fill, raw) - self._mean) / self._sd
            out[pos, self.fingerprint_bits :] = np.clip(scaled, -10.0, 10.0)
        return out

    @property
    def flat_features(self) -> list[str]:
        """Names of the :meth:`flat` columns."""
        bits = [f"morgan_{i}" for i in range(self.fingerprint_bits)]
        return bits + (list(DESCRIPTOR_NAMES) if self.descriptors else [])

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON-able metadata enough to rebuild the fitted transform."""
        arrays = {}
        if self._fill is not None and self.descriptors:
            arrays = {"fill": self._fill, "mean": self._mean, "sd": self._sd}
        meta = {
            "options": self.options.model_dump(),
            "descriptor_names": list(DESCRIPTOR_NAMES) if self.descriptors else [],
            "fitted": self._fill is not None,
        }
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Self:
        """Rebuild a transform saved with :meth:`state`."""
        new = cls(**meta["options"])
        if new.descriptors and list(meta["descriptor_names"]) != DESCRIPTOR_NAMES:
            raise BiozooError(
                "the saved molecule transform used another RDKit descriptor list than this "
                f"RDKit ({Chem.rdBase.rdkitVersion}); install the RDKit version it was fitted with."
            )
        if meta.get("fitted"):
            if new.descriptors:
                new._fill = np.asarray(arrays["fill"], dtype=np.float64)
                new._mean = np.asarray(arrays["mean"], dtype=np.float64)
                new._sd = np.asarray(arrays["sd"], dtype=np.float64)
            else:
                new._fill = np.zeros(0)
        return new


def _records(mod: Any) -> list[str | None]:
    """SMILES per sample, None where absent (``present`` False, None or an empty string)."""
    out: list[str | None] = []
    for rec, here in zip(mod.records, mod.present, strict=True):
        ok = bool(here) and isinstance(rec, str) and rec.strip() != ""
        out.append(rec.strip() if ok else None)
    return out


def _present(mod: Any) -> tuple[np.ndarray, list[str]]:
    recs = _records(mod)
    pos = np.array([i for i, r in enumerate(recs) if r is not None], dtype=np.int64)
    return pos, [recs[i] for i in pos]


def _name(mod: Any) -> str:
    name = getattr(mod, "name", "")
    source = getattr(mod, "source", "")
    label = f"molecule modality {name!r}" if name else "the molecule modality"
    return f"{label} ({source})" if source else label


def _squash(raw: np.ndarray) -> np.ndarray:
    """Signed log1p, with non-finite values turned into NaN."""
    raw = np.where(np.isfinite(raw), raw, np.nan)
    return np.sign(raw) * np.log1p(np.abs(raw))


class MoleculeDescriptors(MoleculeTransform):
    """A molecule as a table (the ``descriptors`` view): the matrix of :meth:`flat`.

    Morgan fingerprint bits then RDKit's 2-D descriptors scaled with training-part statistics
    (see :class:`MoleculeTransform`), fed to a table encoder (an MLP, for instance) rather than
    only to the classical baselines; a second modality reading the same file through this
    view gives a model graphs and descriptors side by side.
    """

    type: ClassVar[str] = "molecule/descriptors"
    molecule_graphs: ClassVar[bool] = False

    def transform(self, mod: Any) -> torch.Tensor:
        """float32 ``[n, q]``; zero rows where the molecule is absent."""
        return torch.from_numpy(self.flat(mod))

    @property
    def input(self) -> TableInput:  # type: ignore[override]
        """A table of the fingerprint bits and the descriptors."""
        return TableInput(len(self.flat_features))

    def feature_names(self) -> list[str]:
        """The fingerprint bits' and descriptors' names."""
        return self.flat_features

    def token_names(self) -> list[str]:
        """A sequence encoder reads each column as one token."""
        return self.flat_features
