"""Property-based fuzzing of the readers and the config loader: any input either loads or is
refused with one sentence (a BiozooError), never a traceback."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biozoo.config import load_config
from biozoo.data.molecule.read import MoleculeOptions, read_smiles
from biozoo.data.sequence.read import read_sequences
from biozoo.data.series.read import read_series
from biozoo.data.table.read import read_table
from biozoo.errors import BiozooError

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples every run: the test is deterministic
    suppress_health_check=[HealthCheck.too_slow],
)

# text that looks like the files it fuzzes: separators, quotes, numbers, gaps, odd bytes
CELLS = st.one_of(
    st.sampled_from(["", "1", "-2.5", "nan", "NA", "inf", "1e400", "x", '"', "a,b", " ", "\t"]),
    st.text(max_size=6),
)
ROWS = st.lists(st.lists(CELLS, max_size=5), max_size=6)


def _delimited(rows: list[list[str]], sep: str = ",") -> str:
    return "".join(sep.join(r) + "\n" for r in rows)


def _outcome(read: Callable[[Path], object], path: Path) -> None:
    """``read(path)`` either returns or raises a one-sentence BiozooError."""
    try:
        read(path)
    except BiozooError as err:
        message = str(err)
        assert message and "\n" not in message and "Traceback" not in message, message


def _write(suffix: str, content: str | bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="biozoo-fuzz-"))
    path = folder / f"input{suffix}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    return path


@FUZZ
@given(rows=ROWS, header=st.lists(CELLS, min_size=1, max_size=5))
def test_any_csv_table_loads_or_is_refused_in_one_sentence(rows, header):
    _outcome(read_table, _write(".csv", _delimited([header, *rows])))


@FUZZ
@given(content=st.binary(max_size=200))
def test_any_bytes_as_a_table_load_or_are_refused(content):
    _outcome(read_table, _write(".tsv", content))


FASTA_LINES = st.lists(
    st.one_of(
        st.sampled_from([">", ">s1", ">s1 x", ">s2", "ACGT", "KWK", "", "*", "acgu", "\x00"]),
        st.text(max_size=8),
    ),
    max_size=8,
)


@FUZZ
@given(lines=FASTA_LINES)
def test_any_fasta_loads_or_is_refused_in_one_sentence(lines):
    path = _write(".fasta", "\n".join(lines) + "\n")
    _outcome(read_sequences, path)


@FUZZ
@given(rows=ROWS)
def test_any_sequence_csv_loads_or_is_refused(rows):
    _outcome(read_sequences, _write(".csv", _delimited([["id", "sequence"], *rows])))


SMILES = st.one_of(
    st.sampled_from(["CCO", "c1ccccc1", "C1CC", "[Na+]", "", "X", "C(", "CC#N", "ñ", '"']),
    st.text(max_size=10),
)


@FUZZ
@given(rows=st.lists(st.tuples(st.text(max_size=4), SMILES), max_size=6))
def test_any_smiles_table_loads_or_is_refused_in_one_sentence(rows):
    path = _write(".csv", _delimited([["id", "smiles"], *[list(r) for r in rows]]))
    _outcome(lambda p: read_smiles(p, options=MoleculeOptions()), path)


@FUZZ
@given(rows=ROWS)
def test_any_long_series_file_loads_or_is_refused_in_one_sentence(rows):
    path = _write(".csv", _delimited([["id", "day", "a"], *rows]))
    _outcome(read_series, path)


YAML_TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from([
            "name: x", "data:", "  modalities:", "    a: {path: a.csv}", "  target:",
            "    column: y", "    task: binary", "models: {}", "baselines: []", "name: y",
            "training: {lr: -1}", "- 1", ": :", "models:", "  ../x: {}", "\t", "&a [*a]",
        ]),
        max_size=10,
    ).map("\n".join),
)


@FUZZ
@given(text=YAML_TEXT)
def test_any_config_file_loads_or_is_refused_in_one_sentence(text):
    _outcome(load_config, _write(".yaml", text))


@pytest.mark.parametrize("content", [b"\xff\xfename: x\n", b"name: \x80\n"])
def test_a_config_that_is_not_utf8_is_refused(content):
    with pytest.raises(BiozooError, match="not UTF-8"):
        load_config(_write(".yaml", content))


def test_an_excel_byte_order_mark_is_accepted_with_ids_intact():
    path = _write(".csv", "\ufeffid,a,b\ns1,1,2\ns2,3,4\n".encode())
    table = read_table(path)
    assert list(table.index) == ["s1", "s2"] and list(table.columns) == ["a", "b"]
    tsv = _write(".tsv", "\ufeffid\ta\ns1\t1\n".encode())
    assert list(read_table(tsv).index) == ["s1"]


@pytest.mark.parametrize(
    ("content", "culprit"),
    [("id,a,b\ns1,1,2\ns2,3\n", "line 3"), ("id,a,b\ns1,1,inf\ns2,3,4\n", "column 'b'")],
)
def test_short_rows_and_infinite_values_are_refused(content, culprit):
    with pytest.raises(BiozooError, match=culprit):
        read_table(_write(".csv", content))
