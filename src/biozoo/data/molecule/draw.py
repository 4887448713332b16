"""Drawing a molecule with its atoms shaded by importance (SVG), for explanations."""

from __future__ import annotations

import numpy as np

from biozoo.data.molecule.read import parse_smiles
from biozoo.errors import BiozooError

__all__ = ["atom_symbols", "molecule_drawing"]

# ---------------------------------------------------------------- drawing


def atom_symbols(smiles: str, *, add_hs: bool = False) -> list[str]:
    """The element of each graph node of :func:`smiles_to_graph` (RDKit atom order)."""
    mol = parse_smiles(smiles, add_hs)
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

    mol = parse_smiles(smiles, add_hs)
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
