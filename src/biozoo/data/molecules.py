"""Molecules from SMILES: reading, graphs for GNNs, fingerprints and descriptors for baselines.

- :func:`read_smiles` reads a column of SMILES keyed by sample id and checks every one with
  RDKit, so a typo is reported with its row and sample before any training starts.
- :func:`smiles_to_graph` turns a molecule into a PyG ``Data``: atoms are nodes, bonds are
  edges in both directions, with the features listed in :data:`ATOM_FEATURES` and
  :data:`BOND_FEATURES` (``ATOM_DIM = 46`` and ``BOND_DIM = 13`` columns).
- :class:`MoleculeTransform` is the fold transform of a molecule modality: graphs for the
  encoders (a :class:`~biozoo.data.graphs.GraphSource`) and, for classical baselines, Morgan
  fingerprint bits plus RDKit's 2-D descriptors scaled with training-part statistics.
- :func:`molecule_drawing` draws a molecule with atoms highlighted by importance (SVG).

Graphs and descriptors are cached per SMILES string (the fold loop transforms the same
molecules once per fold); cached graphs are shared and must not be modified in place.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveInt
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors, rdFingerprintGenerator
from torch_geometric.data import Data

from biozoo.data.graphs import GraphSource, empty_graph
from biozoo.data.readers import resolve_format
from biozoo.errors import BiozooError
from biozoo.tasks import Task

__all__ = [
    "ATOM_DIM",
    "BOND_DIM",
    "MoleculeOptions",
    "MoleculeTransform",
    "atom_symbols",
    "molecule_drawing",
    "morgan_fingerprints",
    "rdkit_descriptors",
    "read_smiles",
    "smiles_to_graph",
]

log = logging.getLogger(__name__)

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


class MoleculeOptions(BaseModel):
    """Options of a ``molecule`` modality (reader and transform); ``MoleculeTransform.Config``.

    Attributes:
        column: the column holding the SMILES strings (default: the only column besides the
            sample ids).
        invalid: ``error`` stops at the first SMILES RDKit cannot parse, naming its row and
            sample; ``drop`` leaves such samples out (they then lack the modality) and logs
            how many.
        add_hs: make hydrogens explicit atoms of the graph.
        fingerprint_bits: length of the Morgan fingerprint given to classical baselines.
        fingerprint_radius: radius of the Morgan fingerprint (2 is ECFP4).
        descriptors: give classical baselines RDKit's 2-D descriptors besides the fingerprint.
    """

    model_config = ConfigDict(extra="forbid")
    column: str | None = None
    invalid: Literal["error", "drop"] = "error"
    add_hs: bool = False
    fingerprint_bits: PositiveInt = 2048
    fingerprint_radius: NonNegativeInt = 2
    descriptors: bool = True


# ---------------------------------------------------------------- reading


def read_smiles(
    path: Path | str,
    *,
    id_column: str | None = None,
    options: MoleculeOptions,
    source: str | None = None,
) -> pd.Series:
    """Read and check one column of SMILES, keyed by sample id.

    Args:
        path: a CSV, TSV or parquet file with a sample id column and a SMILES column.
        id_column: the sample id column (default: the first column).
        options: the modality's options (:class:`MoleculeOptions`).
        source: how to name the file in messages (default: the path).

    Returns:
        A Series of str SMILES indexed by str sample id (index named ``sample_id``). Rows with
        an empty SMILES cell are left out: those samples lack the modality.

    Raises:
        BiozooError: the file or a column is missing, ids repeat, or (with
            ``invalid="error"``) a SMILES does not parse; the message names the 1-based data
            row (the header is not counted) and the sample id.
    """
    path = Path(path)
    where = source or str(path)
    frame = _read_frame(path, where)
    key = id_column if id_column is not None else str(frame.columns[0])
    column = options.column
    if column is None:
        others = [str(c) for c in frame.columns if c != key]
        if len(others) != 1:
            raise BiozooError(
                f"{where} has {len(others)} columns besides the sample ids; name the SMILES "
                f"column with 'column'."
            )
        column = others[0]
    have = ", ".join(map(str, frame.columns))
    for col, what in ((key, "sample id"), (column, "SMILES")):
        if col not in frame.columns:
            raise BiozooError(f"{what} column {col!r} is not in {where} (columns: {have}).")
    ids = frame[key].astype("string").str.strip()
    if ids.isna().any() or (ids == "").any():
        row = int(np.flatnonzero((ids.isna() | (ids == "")).to_numpy())[0]) + 1
        raise BiozooError(f"row {row} of {where} has no sample id in column {key!r}.")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise BiozooError(f"sample id {dup.iloc[0]!r} appears more than once in {where}.")
    text = frame[column].astype("string").str.strip()
    keep = text.notna() & (text != "")
    rows = np.flatnonzero(keep.to_numpy())
    bad = [i for i in rows if _parse(str(text.iloc[i])) is None]
    if bad and options.invalid == "error":
        i = bad[0]
        more = f" ({len(bad) - 1} more rows are invalid too)" if len(bad) > 1 else ""
        raise BiozooError(
            f"row {i + 1} (sample {ids.iloc[i]!r}) of {where} holds an invalid SMILES "
            f"{text.iloc[i]!r} in column {column!r}{more}; fix it or set "
            f"invalid: drop to leave such samples out."
        )
    if bad:
        log.warning(
            "dropped %d of %d molecules of %s whose SMILES RDKit cannot parse (first: row %d, "
            "sample %r)", len(bad), len(rows), where, bad[0] + 1, ids.iloc[bad[0]],
        )  # fmt: skip
        keep.iloc[bad] = False
    out = pd.Series(
        text[keep].astype(str).to_numpy(dtype=object),
        index=pd.Index(ids[keep].astype(str).to_numpy(dtype=object), name="sample_id"),
        name=column,
    )
    if out.empty:
        raise BiozooError(f"{where} holds no valid SMILES in column {column!r}.")
    return out


def _read_frame(path: Path, where: str) -> pd.DataFrame:
    fmt = resolve_format(path)
    if not path.is_file():
        raise BiozooError(f"molecule file {where} does not exist.")
    try:
        if fmt in ("csv", "tsv"):
            sep = "," if fmt == "csv" else "\t"
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
        if fmt == "parquet":
            return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise BiozooError(f"molecule file {where} could not be read: {err}.") from None
    raise BiozooError(f"molecules are read from CSV, TSV or parquet files, not {fmt} ({where}).")


def _parse(smiles: str, add_hs: bool = False) -> Chem.Mol | None:
    """RDKit's molecule, or None when it cannot be parsed (RDKit's own log silenced)."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is not None and add_hs:
        mol = Chem.AddHs(mol)
    return mol


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
    mol = _parse(smiles, add_hs)
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
    return Data(x=x.reshape(-1, ATOM_DIM), edge_index=edge_index, edge_attr=edge_attr)


@lru_cache(maxsize=1 << 17)
def _cached_graph(smiles: str, add_hs: bool) -> Data:
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
        mol = _parse(s)
        if mol is None:
            raise BiozooError(f"RDKit cannot parse the SMILES {s!r}.")
        out[i] = gen.GetFingerprintAsNumPy(mol)
    return out


@lru_cache(maxsize=1 << 16)
def _cached_descriptors(smiles: str) -> np.ndarray:
    mol = _parse(smiles)
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
    type: ClassVar[str] = "molecule"

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
    def input_info(self) -> dict[str, Any]:
        """The graph encoders' ``in_dim``."""
        return {"kind": "graph", "node_dim": ATOM_DIM, "edge_dim": BOND_DIM}

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
                graphs.append(_cached_graph(smi, self.add_hs))
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


# ---------------------------------------------------------------- drawing


def atom_symbols(smiles: str, *, add_hs: bool = False) -> list[str]:
    """The element of each graph node of :func:`smiles_to_graph` (RDKit atom order)."""
    mol = _parse(smiles, add_hs)
    if mol is None:
        raise BiozooError(f"RDKit cannot parse the SMILES {smiles!r}.")
    return [a.GetSymbol() for a in mol.GetAtoms()]


def molecule_drawing(
    smiles: str,
    atom_weights: np.ndarray | list[float] | None = None,
    *,
    add_hs: bool = False,
    threshold: float = 0.3,
    size: tuple[int, int] = (400, 300),
) -> str:
    """An SVG drawing of a molecule with its important atoms highlighted.

    Args:
        smiles: the molecule.
        atom_weights: one importance per graph node (RDKit atom order, as in
            :func:`smiles_to_graph` with the same ``add_hs``); scaled to ``[0, 1]`` by the
            largest. Atoms at or above ``threshold`` are shaded, darker red for larger
            weights, and so are bonds between two shaded atoms.
        add_hs: the weights include explicit hydrogens.
        threshold: smallest scaled weight that is highlighted.
        size: width and height in pixels.

    Returns:
        The SVG document as a string (RDKit's ``rdMolDraw2D``).
    """
    from rdkit.Chem.Draw import rdMolDraw2D

    mol = _parse(smiles, add_hs)
    if mol is None:
        raise BiozooError(f"RDKit cannot parse the SMILES {smiles!r}.")
    atoms: list[int] = []
    colours: dict[int, tuple[float, float, float]] = {}
    if atom_weights is not None:
        w = np.abs(np.asarray(atom_weights, dtype=np.float64)).reshape(-1)
        if len(w) != mol.GetNumAtoms():
            raise ValueError(f"{len(w)} atom weights for {mol.GetNumAtoms()} atoms of {smiles!r}")
        w = w / w.max() if w.max() > 0 else w
        for i in np.flatnonzero(w >= threshold):
            atoms.append(int(i))
            colours[int(i)] = (1.0, 1.0 - 0.7 * float(w[i]), 1.0 - 0.7 * float(w[i]))
    chosen = set(atoms)
    bonds = [
        b.GetIdx()
        for b in mol.GetBonds()
        if b.GetBeginAtomIdx() in chosen and b.GetEndAtomIdx() in chosen
    ]
    drawer = rdMolDraw2D.MolDraw2DSVG(*size)
    rdMolDraw2D.PrepareAndDrawMolecule(
        drawer, mol, highlightAtoms=atoms, highlightAtomColors=colours, highlightBonds=bonds
    )
    drawer.FinishDrawing()
    return drawer.GetDrawingText()
