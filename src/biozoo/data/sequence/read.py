"""Reading a ``sequence`` modality: protein or nucleotide strings from FASTA or a CSV column.

:class:`SequenceOptions` holds the modality's options (the reader's ``column``, ``alphabet``
and ``uppercase``, and the tokens' ``kmer``, ``max_len``...); :func:`read_sequences` checks
every letter against the alphabet, naming the record, letter and position of a bad one.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from biozoo.alphabets import ALPHABETS, alphabet_letters
from biozoo.errors import BiozooError

SPECIALS = {"pad": 0, "unk": 1, "cls": 2}
_FIRST = 3  # id of the first vocabulary token
_CHUNK = 4096  # records encoded at a time
_DENSE = 1 << 22  # k-mer code spaces up to this size get a dense code -> id table
_FASTA = (".fasta", ".fa", ".faa", ".fna", ".ffn", ".fas", ".fsa")
_DELIMITED = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv"}


__all__ = [
    "ALPHABETS",
    "SequenceOptions",
    "alphabet_letters",
    "checked_sequences",
    "is_fasta",
    "read_fasta_labels",
    "read_sequences",
]


class SequenceOptions(BaseModel):
    """Options of a ``sequence`` modality (reader and tokens); ``SequenceTransform.Config``.

    Attributes:
        column: the CSV/TSV column holding the strings (default: the only non-id column).
        alphabet: ``protein`` (20 amino acids), ``dna`` (ACGT), ``rna`` (ACGU), or the allowed
            letters written out (e.g. ``ACDEFGHIKLMNPQRSTVWYX``).
        kmer: letters per token.
        overlap: overlapping k-mers (stride 1) or consecutive chunks (stride ``kmer``).
        max_len: most tokens per record, ``[CLS]`` included.
        truncate: the part KEPT of a longer record: ``head`` (its first tokens, N-/5'-end),
            ``tail`` (its last tokens) or ``center`` (the middle window).
        uppercase: upper-case the letters before checking and tokenizing.
        cls_token: put ``[CLS]`` (id 2) at position 0.
        width: the token width of every record: ``train`` (the longest training record,
            at most ``max_len``) or ``max_len`` (always ``max_len``, so records longer than
            any training one, scored later, are not cut).
    """

    model_config = ConfigDict(extra="forbid")
    column: str | None = None
    alphabet: str = "protein"
    kmer: int = Field(1, ge=1, le=12)
    overlap: bool = True
    max_len: int = Field(512, ge=2)
    truncate: Literal["head", "tail", "center"] = "head"
    uppercase: bool = True
    cls_token: bool = True
    width: Literal["train", "max_len"] = "train"

    @field_validator("alphabet")
    @classmethod
    def _letters(cls, v: str) -> str:
        if v in ALPHABETS:
            return v
        if not v or not v.isascii() or not v.isprintable() or " " in v or len(set(v)) != len(v):
            raise ValueError(
                f"alphabet must be one of {', '.join(ALPHABETS)} or distinct printable ASCII "
                f"letters, got {v!r}"
            )
        return v


# ---------------------------------------------------------------- reader


def read_sequences(
    path: Path,
    *,
    fmt: Literal["fasta", "csv", "tsv", "auto"] = "auto",
    id_column: str | None = None,
    options: SequenceOptions | None = None,
) -> pd.Series:
    """Read one string per sample from a FASTA file or a CSV/TSV column.

    Args:
        path: ``.fasta``/``.fa``/``.faa``/``.fna``... or ``.csv``/``.tsv``, optionally ``.gz``.
        fmt: ``fasta``, ``csv``, ``tsv`` or ``auto`` (by suffix).
        id_column: the CSV/TSV id column (default: the first column). FASTA ids are the first
            word of each header (``>P123 some protein`` -> ``P123``).
        options: the modality's options (``column``, ``alphabet``, ``uppercase``).

    Returns:
        Series of str (object dtype), index = str sample ids named ``sample_id``, in file order.

    Raises:
        BiozooError: the file is missing or malformed, an id repeats or is empty, a sequence is
            empty, or a letter is outside the alphabet (naming the record, letter and position).
    """
    path, options = Path(path), options or SequenceOptions()
    if not path.is_file():
        raise BiozooError(f"sequence file {path} does not exist.")
    fmt = _resolve(path, fmt)
    if fmt == "fasta":
        if id_column is not None or options.column is not None:
            raise BiozooError(f"'id_column' and 'column' apply to CSV/TSV files, not FASTA {path}.")
        ids, seqs = _read_fasta(path)
    else:
        ids, seqs = _read_column(path, "," if fmt == "csv" else "\t", id_column, options.column)
    return checked_sequences(ids, seqs, str(path), options)


def checked_sequences(
    ids: list[str], seqs: list[str], source: str, options: SequenceOptions
) -> pd.Series:
    """The records as :func:`read_sequences` returns them, checked the same way.

    Raises:
        BiozooError: an id repeats or is empty, a sequence is empty, or a letter is outside
            the alphabet (naming ``source``, the record, letter and position).
    """
    if options.uppercase:
        seqs = [s.upper() for s in seqs]
    index = pd.Index(ids, dtype=object, name="sample_id")
    _check_records(source, index, seqs)
    _check_alphabet(source, ids, seqs, options.alphabet, options.uppercase)
    return pd.Series(seqs, index=index, dtype=object, name=options.column or "sequence")


def is_fasta(path: Path) -> bool:
    """Whether ``path`` has a FASTA suffix (optionally ``.gz``)."""
    suffixes = [x.lower() for x in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in _FASTA


def read_fasta_labels(path: Path) -> pd.Series:
    """The records of a FASTA file as labels (e.g. target sequences), indexed by id.

    Letters are upper-cased and not checked here (the task checks them against its own
    alphabet); ids repeating or empty and empty records are errors, as for sequences.
    """
    ids, seqs = _read_fasta(Path(path))
    seqs = [x.upper() for x in seqs]
    _check_records(path, pd.Index(ids, dtype=object, name="sample_id"), seqs)
    return pd.Series(seqs, index=pd.Index(ids, dtype=object, name="sample_id"), dtype=object)


def _resolve(path: Path, fmt: str) -> str:
    if fmt != "auto":
        if fmt not in ("fasta", "csv", "tsv"):
            raise BiozooError(f"unknown sequence format {fmt!r} for {path}; use fasta, csv or tsv.")
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in _FASTA:
        return "fasta"
    if last in _DELIMITED:
        return _DELIMITED[last]
    raise BiozooError(
        f"cannot tell the format of sequence file {path} from its suffix; use .fasta, .fa, .faa, "
        f".fna, .csv or .tsv, or set 'format'."
    )


def _read_text(path: Path) -> str:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", newline="") as f:
            return f.read()
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise BiozooError(f"sequence file {path} could not be read as text: {err}.") from None


def _read_fasta(path: Path) -> tuple[list[str], list[str]]:
    text = _read_text(path).replace("\r", "")
    body = text.lstrip("\n")
    if not body.startswith(">"):
        raise BiozooError(f"FASTA file {path} must start with a '>' header line.")
    ids, seqs = [], []
    for number, chunk in enumerate(body[1:].split("\n>"), start=1):
        header, _, lines = chunk.partition("\n")
        words = header.split(None, 1)
        if not words:
            raise BiozooError(f"record {number} of FASTA file {path} has an empty header.")
        ids.append(words[0])
        if ";" in lines:  # old-style comment lines
            lines = "\n".join(x for x in lines.split("\n") if not x.startswith(";"))
        seqs.append("".join(lines.split()))
    return ids, seqs


def _read_column(
    path: Path, sep: str, id_column: str | None, column: str | None
) -> tuple[list[str], list[str]]:
    try:  # no NA parsing: "NA" is the peptide Asn-Ala
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as err:
        raise BiozooError(f"sequence file {path} could not be parsed: {err}.") from None
    cols = [str(c) for c in frame.columns]
    shown = ", ".join(repr(c) for c in cols[:8]) + (", ..." if len(cols) > 8 else "")
    key = cols[0] if id_column is None else id_column
    if not cols or key not in cols:
        raise BiozooError(f"id column {key!r} is not in {path} (columns: {shown or 'none'}).")
    if column is None:
        others = [c for c in cols if c != key]
        if len(others) != 1:
            raise BiozooError(
                f"sequence file {path} has {len(others)} columns besides the ids ({shown}); "
                f"name the one holding the sequences with 'column'."
            )
        column = others[0]
    if column not in cols:
        raise BiozooError(f"sequence column {column!r} is not in {path} (columns: {shown}).")
    ids = [s.strip() for s in frame[key].tolist()]
    return ids, ["".join(s.split()) for s in frame[column].tolist()]


def _check_records(path: Path | str, index: pd.Index, seqs: list[str]) -> None:
    if len(index) == 0:
        raise BiozooError(f"sequence file {path} holds no record.")
    if (index == "").any():
        raise BiozooError(f"{path} has a record with an empty id; every record needs an id.")
    dup = index.duplicated()
    if dup.any():
        first = index[dup][0]
        count = int((index == first).sum())
        raise BiozooError(
            f"record id {first!r} appears {count} times in {path}; ids must be unique."
        )
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    if (lengths == 0).any():
        empty = np.flatnonzero(lengths == 0)
        also = f" ({len(empty) - 1} other records are empty too)" if len(empty) > 1 else ""
        raise BiozooError(f"record {index[empty[0]]!r} of {path} has an empty sequence{also}.")


def _check_alphabet(
    path: Path | str, ids: list[str], seqs: list[str], alphabet: str, uppercase: bool
) -> None:
    letters = alphabet_letters(alphabet, uppercase)
    joined = "".join(seqs)
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    if joined.isascii():
        ok = np.zeros(256, dtype=bool)
        ok[np.frombuffer(letters.encode("ascii"), dtype=np.uint8)] = True
        bad = ~ok[np.frombuffer(joined.encode("ascii"), dtype=np.uint8)]
    else:  # rare: compare characters one by one
        allowed = set(letters)
        bad = np.fromiter((c not in allowed for c in joined), dtype=bool, count=len(joined))
    if not bad.any():
        return
    ends = np.cumsum(lengths)
    where = np.flatnonzero(bad)
    records = np.unique(np.searchsorted(ends, where, side="right"))
    first, i = int(records[0]), int(where[0])
    pos = i - int(ends[first] - lengths[first])
    name = f"the {alphabet} alphabet" if alphabet in ALPHABETS else "the alphabet"
    more = len(records) - 1
    verb = "records have" if more > 1 else "record has"
    also = f"; {more} other {verb} such letters too" if more else ""
    raise BiozooError(
        f"record {ids[first]!r} of {path} has {joined[i]!r} at position {pos + 1}, not in "
        f"{name} ({letters}){also}."
    )
