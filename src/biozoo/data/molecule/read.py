"""Reading a ``molecule`` modality: a column of SMILES keyed by sample id.

Every SMILES is checked with RDKit (:func:`read_smiles`), so a typo is reported with its row
and sample before any training starts. :class:`MoleculeOptions` holds the modality's options
(reader and featurisation).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveInt
from rdkit import Chem, rdBase

from biozoo.data.table.read import resolve_format
from biozoo.errors import BiozooError

__all__ = ["MoleculeOptions", "parse_smiles", "read_smiles"]

log = logging.getLogger(__name__)


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
    bad = [i for i in rows if parse_smiles(str(text.iloc[i])) is None]
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


def parse_smiles(smiles: str, add_hs: bool = False) -> Chem.Mol | None:
    """RDKit's molecule, or None when it cannot be parsed (RDKit's own log silenced)."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is not None and add_hs:
        mol = Chem.AddHs(mol)
    return mol
