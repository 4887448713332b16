"""Readers for sample x feature tables and label columns.

Every table reader returns the same thing: a :class:`pandas.DataFrame` with one row per sample
(index of str sample ids named ``sample_id``), one column per feature (str names) and float32
values, NaN marking a missing value. Problems with the file (missing, unparseable, duplicate ids,
non-numeric values...) raise :class:`~biozoo.errors.BiozooError` with one sentence naming the
file.

Formats: CSV and TSV (``.csv``, ``.tsv``, ``.txt``, each optionally ``.gz``), parquet
(``.parquet``, ``.pq``), AnnData (``.h5ad``) and one modality of a MuData file (``.h5mu``).
Tables stored with features as rows (methylation arrays: 450k CpGs x a few hundred samples)
are read with ``transpose=True``. Big tables are read without a float64 copy: CSV/TSV values
are parsed straight to float32 (tables of more than 10,000 columns a line at a time, since
pandas' cost grows with the number of columns), parquet a group of columns at a time.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import defaultdict
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from biozoo.errors import BiozooError

__all__ = ["read_labels", "read_table", "resolve_format"]

_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".h5ad": "h5ad",
    ".h5mu": "h5mu",
}
_FORMATS = ("csv", "tsv", "parquet", "h5ad", "h5mu")
_GROUP_VALUES = 1 << 24  # parquet values decoded at a time: bounds the float64 temporaries
_WIDE = 10_000  # delimited tables with more value columns are parsed a line at a time
_INDEX_NAME = "sample_id"


def resolve_format(path: Path, format: str = "auto") -> str:
    """The reader format for ``path``: ``format`` itself, or guessed from the suffix.

    Args:
        path: the file.
        format: ``auto`` (guess from the suffix, ignoring a final ``.gz``) or one of ``csv``,
            ``tsv``, ``parquet``, ``h5ad``, ``h5mu``.

    Returns:
        One of ``csv``, ``tsv``, ``parquet``, ``h5ad``, ``h5mu``.

    Raises:
        BiozooError: the format is unknown or cannot be guessed from the suffix.
    """
    if format != "auto":
        if format not in _FORMATS:
            raise BiozooError(
                f"unknown table format {format!r} for {path}; use one of {', '.join(_FORMATS)}."
            )
        return format
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise BiozooError(
        f"cannot tell the format of {path} from its suffix; use .csv, .tsv, .txt, .parquet, "
        f".pq, .h5ad or .h5mu, or set 'format'."
    )


def read_table(
    path: Path,
    *,
    format: str = "auto",
    transpose: bool = False,
    id_column: str | None = None,
    mod: str | None = None,
    layer: str | None = None,
) -> pd.DataFrame:
    """Read a samples x features table of numbers.

    Args:
        path: the file (CSV/TSV, optionally gzipped; parquet; ``.h5ad``; ``.h5mu``).
        format: ``auto`` to decide by suffix, or ``csv``, ``tsv``, ``parquet``, ``h5ad``,
            ``h5mu``.
        transpose: the file holds features as rows and samples as columns, the first column
            (or ``id_column``) holding feature names. CSV/TSV/parquet only.
        id_column: the column of sample ids (feature names when ``transpose``); default the
            first column. CSV/TSV/parquet only.
        mod: the modality of a ``.h5mu`` file (required there).
        layer: an AnnData layer to read instead of ``X`` (``.h5ad``/``.h5mu``).

    Returns:
        DataFrame ``[n_samples, n_features]`` of float32, index = str sample ids named
        ``sample_id``, columns = str feature names.

    Raises:
        BiozooError: the file is missing or unreadable, a value is not numeric, a feature is
            all missing, sample ids or feature names repeat, or the table is empty.
    """
    path = Path(path)
    fmt = resolve_format(path, format)
    if not path.is_file():
        raise BiozooError(f"table file {path} does not exist.")
    if fmt in ("h5ad", "h5mu"):
        if transpose or id_column is not None:
            raise BiozooError(
                f"'transpose' and 'id_column' do not apply to {fmt} file {path}; "
                f"AnnData stores samples as obs and features as var."
            )
        ids, features, values = _read_anndata(path, fmt, mod=mod, layer=layer)
    elif fmt == "parquet":
        ids, features, values = _read_parquet(path, transpose=transpose, id_column=id_column)
    else:
        ids, features, values = _read_delimited(
            path, "," if fmt == "csv" else "\t", transpose=transpose, id_column=id_column
        )
    return _finish(path, ids, features, values)


# ---------------------------------------------------------------- CSV / TSV


def _open_text(path: Path) -> IO[str]:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, which is not part of an id
    return opener(path, "rt", newline="", encoding="utf-8-sig")


def _raw_header(path: Path, sep: str) -> list[str]:
    """The first line's fields as written (pandas would rename duplicates to ``a.1``)."""
    try:
        with _open_text(path) as f:
            return next(csv.reader(f, delimiter=sep), [])
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as err:
        raise BiozooError(f"table file {path} could not be read as text: {_why(err)}.") from None


def _read_delimited(
    path: Path, sep: str, *, transpose: bool, id_column: str | None
) -> tuple[pd.Index, pd.Index, np.ndarray]:
    header = _raw_header(path, sep)
    key_pos = header.index(_key_column(path, header, id_column))
    names = header[:key_pos] + header[key_pos + 1 :]
    _check_unique(path, pd.Index(names), "sample id" if transpose else "feature name")
    read = _read_by_rows if len(names) > _WIDE else _read_by_columns
    try:
        keys, values = read(path, sep, header, key_pos, transpose)
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as err:
        raise BiozooError(f"table file {path} could not be parsed: {_why(err)}.") from None
    if transpose:
        return pd.Index(names), pd.Index(keys), values.T
    return pd.Index(keys), pd.Index(names), values


def _read_by_columns(
    path: Path, sep: str, header: list[str], key_pos: int, transpose: bool
) -> tuple[pd.Index, np.ndarray]:
    """pandas' parser, float32 straight from the text: for tables of up to ``_WIDE`` columns."""
    key = header[key_pos] or f"Unnamed: {key_pos}"  # pandas' name for a blank header
    dtypes = defaultdict(lambda: np.float32, {key: str})
    _check_row_lengths(path, sep, len(header))
    try:
        frame = pd.read_csv(path, sep=sep, index_col=key, dtype=dtypes, encoding="utf-8-sig")
    except pd.errors.ParserError:
        raise
    except ValueError:  # a value that is not a number: re-read untyped to name it
        loose = pd.read_csv(
            path, sep=sep, index_col=key, dtype={key: str}, low_memory=False, encoding="utf-8-sig"
        )
        loose.columns = pd.Index(header[:key_pos] + header[key_pos + 1 :])
        _raise_non_numeric(path, loose, transpose)
        frame = loose.astype(np.float32)
    return pd.Index(frame.index), frame.to_numpy(dtype=np.float32, copy=False)


def _check_row_lengths(path: Path, sep: str, width: int) -> None:
    """Every non-blank line has as many fields as the header (pandas pads short ones)."""
    try:
        with _open_text(path) as f:
            for lineno, row in enumerate(csv.reader(f, delimiter=sep), start=1):
                if row and len(row) != width:
                    raise BiozooError(
                        f"line {lineno} of {path} has {len(row)} fields but its header has "
                        f"{width}."
                    )
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as err:
        raise BiozooError(f"table file {path} could not be read as text: {_why(err)}.") from None


def _read_by_rows(
    path: Path, sep: str, header: list[str], key_pos: int, transpose: bool
) -> tuple[pd.Index, np.ndarray]:
    """One line at a time, its fields parsed as one column: pandas' cost is per column, so a
    450k-column line costs one call instead of 450k column conversions."""
    names = header[:key_pos] + header[key_pos + 1 :]
    keys: list[str] = []
    rows: list[np.ndarray] = []
    with _open_text(path) as f:
        next(f)
        for lineno, line in enumerate(f, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            parts = line.split(sep, key_pos + 1)
            keys.append(parts[key_pos].strip('"') if len(parts) > key_pos else "")
            text = sep.join(parts[:key_pos] + parts[key_pos + 1 :]).replace(sep, "\n") + "\n"
            row = _parse_row(path, text, names, keys[-1], transpose)
            if len(row) != len(names):
                raise BiozooError(
                    f"line {lineno} of {path} has {len(row) + 1} fields but its header has "
                    f"{len(header)}."
                )
            rows.append(row)
    values = np.vstack(rows) if rows else np.empty((0, len(names)), dtype=np.float32)
    return pd.Index(keys), values


def _parse_row(path: Path, text: str, names: list[str], key: str, transpose: bool) -> np.ndarray:
    options = {"header": None, "names": ["v"], "skip_blank_lines": False}
    try:
        return pd.read_csv(io.StringIO(text), dtype=np.float32, **options)["v"].to_numpy()
    except ValueError:
        raw = pd.read_csv(io.StringIO(text), dtype=str, **options)["v"]
        bad = (raw.notna() & pd.to_numeric(raw, errors="coerce").isna()).to_numpy()
        if not bad.any():
            raise
        j = int(np.flatnonzero(bad)[0])
        raise _non_numeric(path, names[j], raw.iloc[j], key, transpose) from None


def _raise_non_numeric(path: Path, frame: pd.DataFrame, transpose: bool) -> None:
    """Raise naming the first column holding a value that is not a number."""
    for col in [c for c, t in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]:
        raw = frame[col]
        bad = (raw.notna() & pd.to_numeric(raw, errors="coerce").isna()).to_numpy()
        if bad.any():
            raise _non_numeric(path, col, raw[bad].iloc[0], raw.index[bad][0], transpose)


def _non_numeric(path: Path, column: str, value: object, row: str, transpose: bool) -> BiozooError:
    where = f"feature {row!r} of sample column {column!r}" if transpose else f"column {column!r}"
    return BiozooError(
        f"{where} of {path} holds a non-numeric value ({value!r}); tables must hold numbers "
        f"only, with empty cells or NA for missing values."
    )


# ---------------------------------------------------------------- parquet


def _read_parquet(
    path: Path, *, transpose: bool, id_column: str | None
) -> tuple[pd.Index, pd.Index, np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        why = _why(err)
        raise BiozooError(f"table file {path} is not a readable parquet file: {why}.") from None
    schema = pfile.schema_arrow
    header = [str(n) for n in schema.names]
    key = _key_column(path, header, id_column or _pandas_index_column(schema))
    key_pos = header.index(key)
    names = header[:key_pos] + header[key_pos + 1 :]
    _check_unique(path, pd.Index(names), "sample id" if transpose else "feature name")
    types = schema.types
    if not all(_is_numeric(t) for t in set(types[:key_pos] + types[key_pos + 1 :])):
        _check_parquet_types(path, pfile, key, transpose)

    n_rows = pfile.metadata.num_rows
    # Stored columns x rows, like a pandas block; filled a group of columns at a time so that
    # only one group is ever decoded (in float64 if stored so) besides the float32 output.
    store = np.empty((len(names), n_rows), dtype=np.float32)
    group = max(1, _GROUP_VALUES // max(n_rows, 1))
    try:
        keys = pfile.read(columns=[key]).column(0).cast(pa.string())
        keys = keys.to_numpy(zero_copy_only=False)
        for start in range(0, len(names), group):
            table = pfile.read(columns=names[start : start + group])
            if set(table.schema.types) != {pa.float32()}:
                fields = [pa.field(n, pa.float32()) for n in table.column_names]
                table = table.cast(pa.schema(fields))
            # to_pandas builds one (group, n_rows) float32 block; .to_numpy().T is that block
            store[start : start + table.num_columns] = table.to_pandas().to_numpy().T
            del table
    except pa.ArrowException as err:
        raise BiozooError(f"table file {path} could not be read: {_why(err)}.") from None
    if transpose:
        return pd.Index(names), pd.Index(keys), store
    return pd.Index(keys), pd.Index(names), store.T


def _pandas_index_column(schema: object) -> str | None:
    """The column pandas stored its named index in (pandas puts it last), if any."""
    meta = schema.pandas_metadata or {}  # type: ignore[attr-defined]
    index = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    return index[0] if len(index) == 1 else None


def _is_numeric(t: object) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    )


def _check_parquet_types(path: Path, pfile: object, key: str, transpose: bool) -> None:
    """Raise for the first non-numeric column whose values do not all parse as numbers."""
    schema = pfile.schema_arrow  # type: ignore[attr-defined]
    odd = [f.name for f in schema if f.name != key and not _is_numeric(f.type)]
    table = pfile.read(columns=[key, *odd])  # type: ignore[attr-defined]
    frame = table.to_pandas().set_index(key)
    frame = frame.astype(object)
    _raise_non_numeric(path, frame, transpose)
    for col in odd:
        text = frame[col].dropna()
        if len(text) and not isinstance(text.iloc[0], str):
            raise BiozooError(
                f"column {col!r} of {path} holds a non-numeric value ({text.iloc[0]!r}); "
                f"tables must hold numbers only."
            )


# ---------------------------------------------------------------- AnnData / MuData


def _read_anndata(
    path: Path, fmt: str, *, mod: str | None, layer: str | None
) -> tuple[pd.Index, pd.Index, np.ndarray]:
    import anndata

    try:
        adata = _read_mudata_mod(path, mod) if fmt == "h5mu" else anndata.read_h5ad(path)
    except BiozooError:
        raise
    except Exception as err:  # h5py/anndata raise many types for a bad file
        raise BiozooError(f"{fmt} file {path} could not be read: {_why(err)}.") from None
    if layer is None:
        matrix = adata.X
    elif layer in adata.layers:
        matrix = adata.layers[layer]
    else:
        have = ", ".join(adata.layers.keys()) or "none"
        raise BiozooError(f"layer {layer!r} is not in {path} (layers: {have}).")
    if matrix is None:
        raise BiozooError(f"{fmt} file {path} has no X matrix; name a layer with 'layer'.")
    if hasattr(matrix, "toarray"):  # sparse: cast the stored values, then densify once
        matrix = matrix.astype(np.float32).toarray()
    values = np.asarray(matrix, dtype=np.float32)
    return pd.Index(adata.obs_names), pd.Index(adata.var_names), values


def _h5mu_mods(path: Path) -> list[str]:
    import h5py

    with h5py.File(path, "r") as f:
        return list(f["mod"].keys()) if "mod" in f else []


def _read_mudata_mod(path: Path, mod: str | None) -> object:
    import mudata

    mods = _h5mu_mods(path)
    if mod is None or mod not in mods:
        what = "no 'mod' was given" if mod is None else f"modality {mod!r} is not there"
        raise BiozooError(
            f"{what} for MuData file {path} (modalities: {', '.join(mods) or 'none'})."
        )
    return mudata.read_h5ad(path, mod)


# ---------------------------------------------------------------- shared checks


def _finish(path: Path, ids: pd.Index, features: pd.Index, values: np.ndarray) -> pd.DataFrame:
    ids = _str_index(path, ids, "sample id")
    features = _str_index(path, features, "feature name")
    if len(ids) == 0 or len(features) == 0:
        raise BiozooError(
            f"table file {path} is empty ({len(ids)} samples x {len(features)} features)."
        )
    _check_unique(path, ids, "sample id")
    _check_unique(path, features, "feature name")
    empty = _all_nan_columns(values)
    if empty.any():
        first = features[int(np.flatnonzero(empty)[0])]
        others = int(empty.sum()) - 1
        also = f" (nor do {others} other features)" if others else ""
        raise BiozooError(
            f"feature {first!r} of {path} has no values{also}; remove such features from the table."
        )
    _check_finite(path, features, values)
    ids.name = _INDEX_NAME
    return pd.DataFrame(values, index=ids, columns=features, copy=False)


def _check_finite(path: Path, features: pd.Index, values: np.ndarray, rows: int = 256) -> None:
    """No infinite values (NaN is a missing value; inf is not a number one can train on)."""
    for start in range(0, values.shape[0], rows):
        inf = np.isinf(values[start : start + rows]).any(axis=0)
        if inf.any():
            col = features[int(np.flatnonzero(inf)[0])]
            raise BiozooError(
                f"column {col!r} of {path} holds an infinite value; use a number, or leave "
                "the cell empty for a missing value."
            )


def _all_nan_columns(values: np.ndarray, rows: int = 256) -> np.ndarray:
    """Per column: True where every row is NaN; works in row chunks to keep temporaries small."""
    empty = np.ones(values.shape[1], dtype=bool)
    for start in range(0, values.shape[0], rows):
        empty &= np.isnan(values[start : start + rows]).all(axis=0)
        if not empty.any():
            break
    return empty


def _str_index(path: Path, index: pd.Index, what: str) -> pd.Index:
    text = pd.Index(index.astype(str), dtype=object)
    if index.hasnans or (text == "").any():
        raise BiozooError(f"{path} has a missing {what}; every {what} must be set.")
    return text


def _check_unique(path: Path, index: pd.Index, what: str) -> None:
    dup = index.duplicated(keep=False)
    if dup.any():
        repeated = index[dup]
        first = repeated[0]
        count = int((index == first).sum())
        others = repeated.nunique() - 1
        also = f" ({others} other {what}s repeat too)" if others else ""
        raise BiozooError(
            f"{what} {first!r} appears {count} times in {path}{also}; each {what} must be unique."
        )


def _key_column(path: Path, header: list[str], id_column: str | None) -> str:
    if not header:
        raise BiozooError(f"table file {path} is empty (it has no header line).")
    if id_column is None:
        return header[0]
    if id_column not in header:
        shown = ", ".join(repr(h) for h in header[:5]) + (", ..." if len(header) > 5 else "")
        raise BiozooError(f"id column {id_column!r} is not in {path} (columns: {shown}).")
    return id_column


def _why(err: BaseException) -> str:
    """The library's reason, trimmed to fit inside one sentence."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = text.split("C error: ")[-1]  # pandas: "Error tokenizing data. C error: Expected..."
    return text.replace(". ", "; ").rstrip(".")


# ---------------------------------------------------------------- labels


def read_labels(
    path: Path, column: str, *, format: str = "auto", id_column: str | None = None
) -> pd.Series:
    """Read one label column, indexed by sample id.

    Args:
        path: CSV/TSV/parquet with a sample-id column, or ``.h5ad``/``.h5mu`` (an ``obs``
            column; ids are the obs names).
        column: the label column.
        format: ``auto`` to decide by suffix, or an explicit format.
        id_column: the sample-id column (default: the first column); tables only.

    Returns:
        Series named ``column``, index = str sample ids named ``sample_id``, values as read
        (str, int, float or bool; NaN where missing).

    Raises:
        BiozooError: the file is missing or unreadable, the column is absent, or ids repeat.
    """
    path = Path(path)
    fmt = resolve_format(path, format)
    if not path.is_file():
        raise BiozooError(f"label file {path} does not exist.")
    if fmt in ("h5ad", "h5mu"):
        frame = _read_obs(path)
    elif fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several types for a bad file
            raise BiozooError(f"label file {path} could not be read: {_why(err)}.") from None
        if id_column is None and not isinstance(frame.index, pd.RangeIndex):
            pass  # pandas restored the index it wrote: those are the ids
        elif id_column is None or id_column != frame.index.name:
            frame = frame.set_index(_key_column(path, [str(c) for c in frame.columns], id_column))
    else:
        sep = "," if fmt == "csv" else "\t"
        header = _raw_header(path, sep)
        key_pos = header.index(_key_column(path, header, id_column))
        key = header[key_pos] or f"Unnamed: {key_pos}"
        try:
            frame = pd.read_csv(path, sep=sep, dtype={key: str}, index_col=key)
        except (ValueError, OSError, UnicodeDecodeError, EOFError) as err:
            raise BiozooError(f"label file {path} could not be parsed: {_why(err)}.") from None
    if column not in frame.columns:
        cols = [str(c) for c in frame.columns]
        shown = ", ".join(repr(c) for c in cols[:8]) + (", ..." if len(cols) > 8 else "")
        raise BiozooError(f"label column {column!r} is not in {path} (columns: {shown or 'none'}).")
    labels = frame[column]
    if isinstance(labels.dtype, pd.CategoricalDtype):
        labels = pd.Series(labels.to_numpy(dtype=object), index=labels.index)
    ids = _str_index(path, pd.Index(labels.index), "sample id")
    _check_unique(path, ids, "sample id")
    ids.name = _INDEX_NAME
    return pd.Series(labels.to_numpy(), index=ids, name=column)


def _read_obs(path: Path) -> pd.DataFrame:
    """The ``obs`` table of an AnnData or MuData file, without reading the matrices."""
    import h5py

    try:
        from anndata.io import read_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import read_elem
    try:
        with h5py.File(path, "r") as f:
            return read_elem(f["obs"])
    except Exception as err:  # h5py/anndata raise many types for a bad file
        raise BiozooError(f"label file {path} could not be read: {_why(err)}.") from None
