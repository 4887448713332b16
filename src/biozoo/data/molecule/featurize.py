"""Molecules as model inputs: graphs for GNNs, fingerprints and descriptors for tables.

- :func:`smiles_to_graph` turns a molecule into a PyG ``Data``: atoms are nodes, bonds are
  edges in both directions, with the features listed in :data:`ATOM_FEATURES` and
  :data:`BOND_FEATURES` (``ATOM_DIM = 46`` and ``BOND_DIM = 13`` columns).
- :func:`morgan_fingerprints` and :func:`rdkit_descriptors` give a table per molecule.

Graphs and descriptors are cached per SMILES string (the fold loop transforms the same
molecules once per fold); cached graphs are shared and must not be modified in place.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import Descriptors, rdFingerprintGenerator

from biozoo.data.molecule.read import parse_smiles
from biozoo.errors import BiozooError

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = [
    "ATOM_DIM",
    "BOND_DIM",
    "DESCRIPTOR_NAMES",
    "cached_graph",
    "morgan_fingerprints",
    "rdkit_descriptors",
    "smiles_to_graph",
]

_HYB = Chem.rdchem.HybridizationType
_BT = Chem.rdchem.BondType
_ST = Chem.rdchem.BondStereo
_CHI = Chem.rdchem.ChiralType
ATOM_FEATURES: dict[str, list[Any]] = {  # one-hot groups, each with a final "other" slot
    "element": ["H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I"],
    "degree": [0, 1, 2, 3, 4, 5],
    "formal_charge": [-2, -1, 0, 1, 2],
    "hybridization": [_HYB.S, _HYB.SP, _HYB.SP2, _HYB.SP3, _HYB.SP3D, _HYB.SP3D2],
    "total_hs": [0, 1, 2, 3],
    "chirality": [_CHI.CHI_UNSPECIFIED, _CHI.CHI_TETRAHEDRAL_CW, _CHI.CHI_TETRAHEDRAL_CCW],
}
"""One-hot atom features; then aromatic, in ring and atomic mass / 100 (3 scalars)."""
BOND_FEATURES: dict[str, list[Any]] = {
    "type": [_BT.SINGLE, _BT.DOUBLE, _BT.TRIPLE, _BT.AROMATIC],
    "stereo": [_ST.STEREONONE, _ST.STEREOANY, _ST.STEREOZ, _ST.STEREOE, _ST.STEREOCIS],
}
"""One-hot bond features (with an "other" slot each); then conjugated and in ring."""
ATOM_DIM = sum(len(v) + 1 for v in ATOM_FEATURES.values()) + 3
BOND_DIM = sum(len(v) + 1 for v in BOND_FEATURES.values()) + 2
DESCRIPTOR_NAMES: list[str] = [name for name, _ in Descriptors._descList]

# ---------------------------------------------------------------- graphs


def _one_hot(value: Any, choices: list[Any]) -> list[float]:
    out = [0.0] * (len(choices) + 1)
    out[choices.index(value) if value in choices else len(choices)] = 1.0
    return out


def _atom_features(atom: Chem.Atom) -> list[float]:
    f = ATOM_FEATURES
    return [
        *_one_hot(atom.GetSymbol(), f["element"]),
        *_one_hot(atom.GetDegree(), f["degree"]),
        *_one_hot(atom.GetFormalCharge(), f["formal_charge"]),
        *_one_hot(atom.GetHybridization(), f["hybridization"]),
        *_one_hot(min(atom.GetTotalNumHs(), 4), f["total_hs"]),
        *_one_hot(atom.GetChiralTag(), f["chirality"]),
        float(atom.GetIsAromatic()),
        float(atom.IsInRing()),
        atom.GetMass() / 100.0,
    ]


def _bond_features(bond: Chem.Bond) -> list[float]:
    return [
        *_one_hot(bond.GetBondType(), BOND_FEATURES["type"]),
        *_one_hot(bond.GetStereo(), BOND_FEATURES["stereo"]),
        float(bond.GetIsConjugated()),
        float(bond.IsInRing()),
    ]


def smiles_to_graph(smiles: str, *, add_hs: bool = False) -> Data:
    """The molecular graph of a SMILES string.

    Args:
        smiles: the molecule.
        add_hs: make hydrogens explicit nodes.

    Returns:
        ``Data`` with ``x [n_atoms, ATOM_DIM]``, ``edge_index [2, 2 * n_bonds]`` (each bond in
        both directions, ``2k`` and ``2k + 1`` for bond ``k``) and ``edge_attr
        [2 * n_bonds, BOND_DIM]``, float32. Node ``i`` is RDKit's atom ``i``.

    Raises:
        BiozooError: RDKit cannot parse the SMILES.
    """
    mol = parse_smiles(smiles, add_hs)
    if mol is None:
        raise BiozooError(f"RDKit cannot parse the SMILES {smiles!r}.")
    x = torch.tensor([_atom_features(a) for a in mol.GetAtoms()], dtype=torch.float32)
    pairs, feats = [], []
    for bond in mol.GetBonds():
        i, j, fb = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), _bond_features(bond)
        pairs += [(i, j), (j, i)]
        feats += [fb, fb]
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T.contiguous()
    edge_attr = torch.tensor(feats, dtype=torch.float32).reshape(-1, BOND_DIM)
    from torch_geometric.data import Data  # PyG only once a molecule becomes a graph

    return Data(x=x.reshape(-1, ATOM_DIM), edge_index=edge_index, edge_attr=edge_attr)


@lru_cache(maxsize=1 << 17)
def cached_graph(smiles: str, add_hs: bool) -> Data:
    return smiles_to_graph(smiles, add_hs=add_hs)


# ---------------------------------------------------------------- flat features


def morgan_fingerprints(smiles: list[str], *, bits: int = 2048, radius: int = 2) -> np.ndarray:
    """Morgan (ECFP-like) bit vectors, uint8 ``[n, bits]``.

    Raises:
        BiozooError: a SMILES does not parse.
    """
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    out = np.zeros((len(smiles), bits), dtype=np.uint8)
    for i, s in enumerate(smiles):
        mol = parse_smiles(s)
        if mol is None:
            raise BiozooError(f"RDKit cannot parse the SMILES {s!r}.")
        out[i] = gen.GetFingerprintAsNumPy(mol)
    return out


@lru_cache(maxsize=1 << 16)
def _cached_descriptors(smiles: str) -> np.ndarray:
    mol = parse_smiles(smiles)
    if mol is None:
        raise BiozooError(f"RDKit cannot parse the SMILES {smiles!r}.")
    values = Descriptors.CalcMolDescriptors(mol, missingVal=np.nan)
    row = np.array([values[n] for n in DESCRIPTOR_NAMES], dtype=np.float64)
    row.setflags(write=False)
    return row


def rdkit_descriptors(smiles: list[str]) -> np.ndarray:
    """All of RDKit's 2-D descriptors (``Descriptors._descList``, :data:`DESCRIPTOR_NAMES`),
    float64 ``[n, 217]`` as RDKit computes them: NaN where one fails, unscaled, some with
    huge ranges (``Ipc``). Slow: several milliseconds per molecule; cached per SMILES."""
    if not smiles:
        return np.zeros((0, len(DESCRIPTOR_NAMES)))
    return np.stack([_cached_descriptors(s) for s in smiles])
