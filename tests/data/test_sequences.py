"""Tests of the sequence reader and SequenceTransform (k-mer tokens fitted on training only)."""

from __future__ import annotations

import inspect
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load, save

from biozoo.data.sequence.part import SequenceTransform
from biozoo.data.sequence.read import SequenceOptions, read_sequences
from biozoo.errors import BiozooError
from biozoo.inputs import TokensInput

FILES = Path(__file__).parent / "files"
PROTEIN = "ACDEFGHIKLMNPQRSTVWY"


@dataclass
class Records:
    """Stand-in for the cohort's RecordModality (the fields the transforms read)."""

    name: str
    kind: str
    records: np.ndarray
    present: np.ndarray
    source: str = "test"
    meta: dict = field(default_factory=dict)

    def subset(self, index: np.ndarray) -> Records:
        return Records(
            self.name, self.kind, self.records[index], self.present[index], self.source, self.meta
        )


def seqs(*records: str | None) -> Records:
    arr = np.empty(len(records), dtype=object)
    arr[:] = list(records)
    present = np.array([r is not None for r in records])
    return Records("pep", "sequence", arr, present)


def reference_ids(t: SequenceTransform, record: str) -> list[int]:
    """Ids by the slow path: split into k-mers, look each up, truncate, add [CLS]."""
    vocab = {tok: i + 3 for i, tok in enumerate(t.vocab)}
    toks = [vocab.get(x, 1) for x in t.coder.split(record)]
    keep = t.length - int(t.options.cls_token)
    extra = max(len(toks) - keep, 0)
    first = {"head": 0, "tail": extra, "center": extra // 2}[t.options.truncate]
    return [2] * t.options.cls_token + toks[first : first + keep]


# ---------------------------------------------------------------- reader


def test_read_fasta_ids_multiline_and_uppercase() -> None:
    s = read_sequences(FILES / "peptides.fasta")
    assert list(s.index) == ["P1", "P2", "P3", "P4"]
    assert s.index.name == "sample_id"
    assert s["P1"] == "GIGKFLHSAKKFGKAFVGEIMNS"
    assert s["P2"] == "ACDEFGHIK"  # upper-cased
    assert s["P4"] == "MKTAYIAKQRQISFVKSHFSRQ"
    with pytest.raises(BiozooError, match="'P2'.* 'a' at position 1"):
        read_sequences(FILES / "peptides.fasta", options=SequenceOptions(uppercase=False))


def test_read_csv_column_keeps_na_peptide(error_naming) -> None:
    path = FILES / "peptides.csv"
    s = read_sequences(path, options=SequenceOptions(column="sequence"))
    assert s.to_dict() == {"A1": "GIGKFLHSAK", "A2": "NA", "A3": "KWKLFKKI"}
    error_naming(lambda: read_sequences(path), path, "'column'")  # two candidate columns
    error_naming(
        lambda: read_sequences(path, id_column="nope", options=SequenceOptions(column="sequence")),
        path,
        "'nope'",
    )
    by_length = read_sequences(path, id_column="length", options=SequenceOptions(column="sequence"))
    assert list(by_length.index) == ["10", "2", "8"]


def test_alphabet_error_names_record_letter_position_and_file(error_naming) -> None:
    path = FILES / "bad_letter.fasta"
    msg = error_naming(lambda: read_sequences(path), path, "'P123'", "'X'", "position 17")
    assert "protein alphabet (ACDEFGHIKLMNPQRSTVWY)" in msg
    assert "1 other record has" in msg
    literal = SequenceOptions(alphabet=PROTEIN + "XB")
    assert read_sequences(path, options=literal)["P124"] == "ACDBX"


def test_dna_rna_alphabets(write_text) -> None:
    path = write_text("g.fa", ">s1\nACGTN\n")
    with pytest.raises(BiozooError, match="'N' at position 5, not in the dna alphabet"):
        read_sequences(path, options=SequenceOptions(alphabet="dna"))
    with pytest.raises(BiozooError, match="'T' at position 4, not in the rna alphabet"):
        read_sequences(path, options=SequenceOptions(alphabet="rna"))
    assert read_sequences(path, options=SequenceOptions(alphabet="ACGTN"))["s1"] == "ACGTN"


@pytest.mark.parametrize(
    ("name", "text", "parts"),
    [
        ("dup.fasta", ">a\nAC\n>b x\nDE\n>a y\nFG\n", ["'a'", "2 times"]),
        ("empty.fasta", ">a\nAC\n>b\n\n>c\nDE\n", ["'b'", "empty sequence"]),
        ("nohead.fasta", "ACDE\n>a\nAC\n", ["'>'"]),
        ("blank.fasta", ">a\nAC\n>\nDE\n", ["record 2", "empty header"]),
        ("empty.csv", "id,seq\na,AC\nb,\n", ["'b'", "empty sequence"]),
        ("dup.csv", "id,seq\na,AC\na,DE\n", ["'a'", "2 times"]),
        ("peps.xyz", ">a\nAC\n", ["suffix"]),
    ],
)
def test_reader_errors(error_naming, write_text, name, text, parts) -> None:
    path = write_text(name, text)
    error_naming(lambda: read_sequences(path), path, *parts)


def test_missing_file_and_bad_alphabet_option(error_naming, tmp_path) -> None:
    error_naming(lambda: read_sequences(tmp_path / "none.fasta"), tmp_path / "none.fasta")
    with pytest.raises(ValueError, match="alphabet"):
        SequenceOptions(alphabet="AAC")
    with pytest.raises(ValueError, match="extra"):
        SequenceOptions(colum="x")


def test_reader_many_records_in_order(tmp_path) -> None:
    rng = np.random.default_rng(0)
    letters = np.array(list(PROTEIN))
    records = ["".join(letters[rng.integers(0, 20, size=n)]) for n in rng.integers(1, 30, 2000)]
    path = tmp_path / "many.fa"
    path.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(records)))
    s = read_sequences(path)
    assert list(s) == records


# ---------------------------------------------------------------- transform


def test_config_matches_signature() -> None:
    params = inspect.signature(SequenceTransform).parameters
    fields = SequenceTransform.Config.model_fields
    assert list(params) == list(fields)
    assert {k: p.default for k, p in params.items()} == {k: f.default for k, f in fields.items()}


def test_k1_ids_cls_padding_and_absent_samples() -> None:
    mod = seqs("ACD", None, "WY")
    t = SequenceTransform(kmer=1).fit(mod)
    assert t.vocab == list(PROTEIN)  # k = 1: the alphabet, in order
    out = t.transform(mod)
    assert out["tokens"].tolist() == [[2, 3, 4, 5], [0, 0, 0, 0], [2, 21, 22, 0]]
    assert out["mask"].tolist() == [[True] * 4, [False] * 4, [True, True, True, False]]
    assert t.input == TokensInput(vocab=23, max_len=4)
    assert t.report == {"vocab": 23, "length": 4}
    no_cls = SequenceTransform(cls_token=False).fit(mod)
    assert no_cls.transform(mod)["tokens"].tolist() == [[3, 4, 5], [0, 0, 0], [21, 22, 0]]


def test_width_max_len_keeps_records_longer_than_any_training_one() -> None:
    t = SequenceTransform(max_len=8, width="max_len", cls_token=False).fit(seqs("ACD", "WY"))
    assert t.length == 8 and t.input == TokensInput(vocab=23, max_len=8)
    longer = t.transform(seqs("ACDEFGHI"))["tokens"]
    assert t.decode(longer[0]) == "ACDEFGHI"
    assert SequenceTransform.from_state(*t.state()).length == 8


@pytest.mark.parametrize(
    ("truncate", "kept"), [("head", "ACDE"), ("tail", "HIKL"), ("center", "EFGH")]
)
def test_truncation_keeps_the_named_part(truncate, kept) -> None:
    mod = seqs("ACDEFGHIKL", "MN")
    t = SequenceTransform(max_len=5, truncate=truncate).fit(mod)  # [CLS] + 4 letters
    out = t.transform(mod)
    assert out["tokens"].shape == (2, 5)
    assert t.decode(out["tokens"][0]) == kept
    assert t.tokens_of(mod)[0] == ["[CLS]", *kept]
    assert t.decode(out["tokens"][1]) == "MN"


@pytest.mark.parametrize(
    ("k", "overlap"), [(1, True), (2, True), (3, True), (3, False), (4, False)]
)
def test_round_trip_and_fast_path_matches_reference(k, overlap) -> None:
    rng = np.random.default_rng(k)
    letters = np.array(list(PROTEIN))
    records = ["".join(letters[rng.integers(0, 6, size=n)]) for n in [1, 2, 3, 5, 8, 13, 21]]
    mod = seqs(*records)
    t = SequenceTransform(kmer=k, overlap=overlap, max_len=64).fit(mod)
    out = t.transform(mod)
    for i, record in enumerate(records):
        row = out["tokens"][i]
        assert t.decode(row) == record
        assert row[out["mask"][i]].tolist() == reference_ids(t, record)
        assert len(t.tokens_of(mod)[i]) == int(out["mask"][i].sum())
    n_tok = [max(len(r) - k + 1, 1) if overlap else -(-len(r) // k) for r in records]
    assert t.length == max(n_tok) + 1


def test_vocabulary_from_training_records_only() -> None:
    mod = seqs("ACDA", "CDAC", "WWYY", None)
    train = mod.subset(np.array([0, 1, 3]))
    t = SequenceTransform(kmer=2).fit(train)
    assert t.vocab == ["AC", "CD", "DA"]
    out = t.transform(mod)
    assert out["tokens"][2].tolist()[:4] == [2, 1, 1, 1]  # WW, WY, YY unseen: [UNK]
    assert t.tokens_of(mod)[2] == ["[CLS]", "WW", "WY", "YY"]  # text kept for export
    garbage = train.records.copy()
    garbage[2] = "YYYYYYYYYYYYYYYYYY"
    other = Records("pep", "sequence", garbage, np.array([True, True, False]))
    t2 = SequenceTransform(kmer=2).fit(other)  # an absent sample's record is never read
    assert t2.vocab == t.vocab and t2.length == t.length


def test_unknown_letter_at_transform_maps_to_unk() -> None:
    t = SequenceTransform(kmer=1).fit(seqs("ACD"))
    out = t.transform(seqs("AXD", "aZ"))
    assert out["tokens"].tolist() == [[2, 3, 1, 5], [2, 3, 1, 0]]


@pytest.mark.parametrize("k", [1, 2])
def test_flat_is_kmer_composition(k) -> None:
    records = ["ACCA", "GGAC", "AAAAAC"]
    mod = seqs(*records, None)
    t = SequenceTransform(kmer=k).fit(seqs(*records[:2]))
    flat = t.flat(mod)
    assert flat.dtype == np.float32 and flat.shape == (4, len(t.vocab))
    for i, r in enumerate(records):
        toks = t.coder.split(r)
        counts = Counter(toks)
        expected = [counts[v] / len(toks) for v in t.vocab]
        np.testing.assert_allclose(flat[i], expected, rtol=1e-6)
    assert not flat[3].any()
    if k == 1:
        assert flat[0, PROTEIN.index("C")] == pytest.approx(0.5)


def test_state_round_trip_through_safetensors() -> None:
    mod = seqs("ACDEFGH", "KLMNPQ", None, "ACDQQQ")
    t = SequenceTransform(kmer=3, overlap=False, max_len=8, truncate="tail").fit(mod)
    arrays, meta = t.state()
    meta = json.loads(json.dumps(meta))
    t2 = SequenceTransform.from_state(load(save(arrays)) if arrays else {}, meta)
    new = seqs("ACDACDKLM", "QQQ")
    for a, b in zip(t.transform(new).values(), t2.transform(new).values(), strict=True):
        assert (a == b).all()
    np.testing.assert_array_equal(t.flat(new), t2.flat(new))
    assert t2.input == t.input
    with pytest.raises(ValueError):
        SequenceTransform.from_state({}, {"kind": "other"})


def test_fit_errors() -> None:
    with pytest.raises(BiozooError, match="no training sample"):
        SequenceTransform().fit(seqs(None, None))
    with pytest.raises(RuntimeError, match="not fitted"):
        SequenceTransform().transform(seqs("AC"))
    with pytest.raises(BiozooError, match="too long"):
        SequenceTransform(kmer=12, alphabet="".join(chr(c) for c in range(65, 125)))


# ---------------------------------------------------------------- benchmark source


def test_amp_peptides_source(tmp_path) -> None:
    pytest.importorskip("modlamp")
    from benchmarks._sources.bench_sources import write_amp_peptides

    paths = write_amp_peptides(tmp_path)
    s = read_sequences(paths["sequences"])
    labels = pd.read_csv(paths["labels"], index_col="id")
    assert list(labels.index) == list(s.index)
    assert s.is_unique  # deduplicated
    assert labels["label"].value_counts().to_dict() == {1: 2540, 0: 2080}
    assert set(labels.loc[labels["label"] == 1].index.str[:3]) == {"AMP"}
