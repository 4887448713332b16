"""Tests of the omics tokenizers (gene_rank, omics_groups) and of the GMT reader."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load, save

from biozoo.data.cohort import TableModality
from biozoo.data.table.gene_rank import ColumnScaler, GeneRankTokenizer, top_genes
from biozoo.data.table.gmt import read_gmt
from biozoo.data.table.omics_groups import OmicsGroupsTokenizer
from biozoo.errors import BiozooError
from biozoo.inputs import GroupsInput, TokensInput

FILES = Path(__file__).parent / "files"
NAN = np.nan


def table(values, features=None, present=None) -> TableModality:
    values = np.asarray(values, dtype=np.float32)
    features = features or [f"G{j + 1}" for j in range(values.shape[1])]
    present = np.ones(len(values), bool) if present is None else np.asarray(present, bool)
    values = values.copy()
    values[~present] = NAN
    return TableModality("rna", values, features, present, "rna.csv")


def round_trip(tok, arrays_meta):
    arrays, meta = arrays_meta
    return type(tok).from_state(load(save(arrays)), json.loads(json.dumps(meta)))


@pytest.mark.parametrize("cls", [GeneRankTokenizer, OmicsGroupsTokenizer])
def test_config_matches_signature(cls) -> None:
    params = inspect.signature(cls).parameters
    fields = cls.Config.model_fields
    assert list(params) == list(fields)
    for k, p in params.items():
        if p.default is inspect.Parameter.empty:
            assert fields[k].is_required(), k
        else:
            assert p.default == fields[k].default, k


# ---------------------------------------------------------------- gene_rank


def test_top_genes_matches_sorting_reference() -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(-2, 4, size=(30, 12)).astype(np.float32)  # many ties
    X[rng.random(X.shape) < 0.15] = NAN
    for k, floor in [(1, 0.0), (5, 0.0), (20, 0.0), (4, -1.5)]:
        top = top_genes(X, k, floor)
        assert top.shape == (30, k)
        for i, row in enumerate(X):
            ok = [j for j in range(12) if row[j] > floor]
            ref = sorted(ok, key=lambda j: (-row[j], j))[:k]
            assert [j for j in top[i] if j >= 0] == ref


def test_gene_rank_tokens_are_genes_in_descending_order() -> None:
    X = [
        [0.0, 5.0, 1.0, 5.0, 2.0],  # tie G2 / G4: table order
        [3.0, 0.0, 0.0, NAN, 9.0],  # two expressed genes only
        [1.0, 1.0, 1.0, 1.0, 1.0],
    ]
    mod = table(X, present=[True, True, False])
    tok = GeneRankTokenizer(top_k=3).fit(mod)
    out = tok.transform(mod)
    names = ["[PAD]", "[UNK]", "[CLS]", *tok.genes]
    decoded = [[names[i] for i in row if i] for row in out["tokens"].tolist()]
    assert decoded == [["[CLS]", "G2", "G4", "G5"], ["[CLS]", "G5", "G1"], []]
    assert out["mask"].tolist() == [[True] * 4, [True, True, True, False], [False] * 4]
    assert tok.tokens_of(mod) == decoded
    assert tok.genes == ["G1", "G2", "G4", "G5"]  # G3 is in no top-3; sample 3 is absent
    assert tok.report == {"genes": 4, "features": 5}
    assert tok.input == TokensInput(vocab=7, max_len=4)


def test_gene_rank_vocabulary_from_training_samples_only() -> None:
    X = np.array([[5, 4, 0, 0], [4, 5, 0, 0], [0, 0, 9, 8]], dtype=np.float32)
    mod = table(X)
    train = mod.subset(np.array([0, 1]))
    tok = GeneRankTokenizer(top_k=2, cls_token=False).fit(train)
    assert tok.genes == ["G1", "G2"]
    assert tok.transform(mod)["tokens"][2].tolist() == [1, 1]  # G3, G4 only top in test
    assert tok.tokens_of(mod)[2] == ["G3", "G4"]
    garbage = mod.values.copy()
    garbage[2] = [1e6, -5, 7, 1e9]
    refit = GeneRankTokenizer(top_k=2, cls_token=False).fit(
        TableModality("rna", garbage, mod.features, np.array([1, 1, 0], bool))
    )
    a1, m1 = tok.state()
    a2, m2 = refit.state()
    assert m1 == m2 and all(np.array_equal(a1[k], a2[k]) for k in a1)


def test_gene_rank_flat_median_impute_and_standardise() -> None:
    X = np.array([[1.0, 2.0], [NAN, 4.0], [5.0, NAN], [3.0, 8.0]], dtype=np.float32)
    tok = GeneRankTokenizer(top_k=1).fit(table(X[:3]))
    flat = tok.flat(table(X, present=[1, 1, 1, 0]))
    c0 = np.array([1.0, 3.0, 5.0])  # NaN -> training median 3
    c1 = np.array([2.0, 4.0, 3.0])
    expected = np.column_stack([(c0 - c0.mean()) / c0.std(), (c1 - c1.mean()) / c1.std()])
    np.testing.assert_allclose(flat[:3], expected, rtol=1e-5)
    assert not flat[3].any()


def test_gene_rank_matches_genes_by_name_and_state_round_trip() -> None:
    rng = np.random.default_rng(1)
    X = rng.gamma(1.0, size=(12, 6)).astype(np.float32)
    X[X < 0.5] = 0
    mod = table(X)
    tok = GeneRankTokenizer(top_k=3).fit(mod)
    order = [5, 2, 0, 1, 4, 3]
    shuffled = table(X[:, order], [mod.features[j] for j in order])
    assert (tok.transform(shuffled)["tokens"] == tok.transform(mod)["tokens"]).all()
    np.testing.assert_allclose(tok.flat(shuffled), tok.flat(mod))
    back = round_trip(tok, tok.state())
    assert (back.transform(mod)["tokens"] == tok.transform(mod)["tokens"]).all()
    np.testing.assert_array_equal(back.flat(mod), tok.flat(mod))
    assert back.input == tok.input


def test_gene_rank_errors() -> None:
    with pytest.raises(BiozooError, match="no training sample"):
        GeneRankTokenizer().fit(table([[0.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(RuntimeError, match="not fitted"):
        GeneRankTokenizer().transform(table([[1.0]]))


@pytest.mark.parametrize("impute", ["median", "mean"])
def test_column_scaler_matches_numpy(impute, monkeypatch) -> None:
    from biozoo.data.table import gene_rank as tokenizers_rank

    monkeypatch.setattr(tokenizers_rank, "_BLOCK", 64)  # many small blocks
    rng = np.random.default_rng(2)
    X = rng.normal(size=(41, 7)).astype(np.float32)
    X[rng.random(X.shape) < 0.2] = NAN
    X[:, 5] = NAN  # never observed: filled with 0
    X[:, 6] = 3.0  # constant: sd 1
    names = [f"f{j}" for j in range(7)]
    sc = ColumnScaler(impute).fit(X, names)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        X64 = X.astype(float)
        ref = np.nanmedian(X64, 0) if impute == "median" else np.nanmean(X64, 0)
    fill = np.nan_to_num(ref, nan=0.0)
    filled = np.where(np.isnan(X), fill, X.astype(float))
    sd = np.where(filled.std(0) > 0, filled.std(0), 1.0)
    np.testing.assert_allclose(sc.fill, fill, rtol=1e-6)
    expected = (filled - filled.mean(0)) / sd
    np.testing.assert_allclose(sc.transform(X, names), expected, rtol=1e-5, atol=1e-6)
    flipped = sc.transform(X[:, ::-1], names[::-1])  # matched by name
    np.testing.assert_allclose(flipped, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(BiozooError, match="lacks 1 of the 7 features.*'f6'"):
        sc.transform(X[:, :6], names[:6], source="new.csv")


# ---------------------------------------------------------------- GMT


def test_read_gmt() -> None:
    sets = read_gmt(FILES / "sets.gmt")
    assert list(sets) == ["HALLMARK_A", "HALLMARK_B", "HALLMARK_C"]
    assert sets["HALLMARK_B"] == ["G3", "G4", "G5"]  # repeated gene kept once
    assert sets["HALLMARK_A"][-1] == "NOT_IN_TABLE"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("A\tdesc\tG1\nA\tdesc\tG2\n", ["'A'", "lines 1 and 2"]),
        ("A\tdesc\tG1\nB desc G2\n", ["line 2", "tabs"]),
        ("A\tdesc\t\n", ["line 1"]),
        ("# only a comment\n\n", ["no gene set"]),
    ],
)
def test_gmt_errors(error_naming, write_text, text, parts) -> None:
    path = write_text("bad.gmt", text)
    error_naming(lambda: read_gmt(path), path, *parts)


# ---------------------------------------------------------------- omics_groups


def blocks(n: int = 40, seed: int = 0) -> np.ndarray:
    """Three blocks of correlated features (0-3, 4-6, 7-11), interleaved in the table."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 3))
    which = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 2, 2]
    return (factors[:, which] + 0.1 * rng.normal(size=(n, 12))).astype(np.float32)


def test_gmt_groups_overlap_other_and_report() -> None:
    X = np.arange(8 * 8, dtype=np.float32).reshape(8, 8) % 7
    tok = OmicsGroupsTokenizer(groups="gmt", gmt=FILES / "sets.gmt", min_size=2).fit(table(X))
    assert tok.group_names == ["HALLMARK_A", "HALLMARK_B", "other"]  # C has 1 gene: dropped
    feats = [f"G{j + 1}" for j in range(8)]
    members = [[feats[j] for j in row if j >= 0] for row in tok.index]
    assert members == [["G1", "G2", "G3"], ["G3", "G4", "G5"], ["G6", "G7", "G8"]]
    assert tok.report["gmt_genes_not_in_table"] == 3
    assert tok.report["gmt_genes_not_in_table_examples"] == ["G9", "NOT_IN_TABLE", "MISSING_GENE"]
    assert tok.report["sets_too_small"] == 1
    assert tok.input == GroupsInput(groups=3, size=3)


def test_gmt_other_split_no_wider_than_largest_set(write_text) -> None:
    path = write_text("s.gmt", "S1\tna\tG1\tG2\n")
    tok = OmicsGroupsTokenizer(groups="gmt", gmt=path).fit(table(np.eye(7)))
    assert tok.group_names == ["S1", "other_1", "other_2", "other_3"]
    assert tok.index.shape == (4, 2)
    assert sorted(j for j in tok.index[1:].ravel() if j >= 0) == [2, 3, 4, 5, 6]


def test_groups_layout_masks_and_absent_samples() -> None:
    X = blocks(10)
    mod = table(X, present=[True] * 9 + [False])
    tok = OmicsGroupsTokenizer(groups="random", n_groups=5, min_size=2, seed=3).fit(mod)
    out = tok.transform(mod)
    v, m = out["values"].numpy(), out["mask"].numpy()
    G, S = tok.index.shape
    assert v.shape == m.shape == (10, G, S) and tok.input.groups == G == 5
    flat = tok.flat(mod)
    for g in range(G):
        for s in range(S):
            j = tok.index[g, s]
            if j >= 0:
                np.testing.assert_array_equal(v[:9, g, s], flat[:9, j])
                assert m[:9, g, s].all()
            else:
                assert not m[:, g, s].any() and not v[:, g, s].any()
    assert not m[9].any() and not v[9].any()
    ref = (X[:9] - X[:9].mean(0)) / X[:9].std(0)
    np.testing.assert_allclose(flat[:9], ref, rtol=1e-4, atol=1e-5)


def test_random_groups_partition_seeded() -> None:
    mod = table(blocks())
    a = OmicsGroupsTokenizer(groups="random", n_groups=4, seed=0).fit(mod)
    b = OmicsGroupsTokenizer(groups="random", n_groups=4, seed=0).fit(mod)
    c = OmicsGroupsTokenizer(groups="random", n_groups=4, seed=1).fit(mod)
    assert np.array_equal(a.index, b.index) and not np.array_equal(a.index, c.index)
    assert sorted(a.index[a.index >= 0].tolist()) == list(range(12))


def test_correlation_groups_recover_blocks_deterministic_training_only() -> None:
    X = blocks()
    mod = table(np.vstack([X, np.zeros((5, 12))]))
    train = mod.subset(np.arange(40))
    tok = OmicsGroupsTokenizer(groups="correlation", n_groups=3, min_size=2).fit(train)
    found = sorted(sorted(j for j in row if j >= 0) for row in tok.index)
    assert found == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8, 10, 11]]
    again = OmicsGroupsTokenizer(groups="correlation", n_groups=3, min_size=2).fit(train)
    assert np.array_equal(tok.index, again.index)
    garbage = mod.values.copy()
    garbage[40:] = np.random.default_rng(9).normal(size=(5, 12)) * 1e3
    absent = np.r_[np.ones(40, bool), np.zeros(5, bool)]
    refit = OmicsGroupsTokenizer(groups="correlation", n_groups=3, min_size=2).fit(
        TableModality("rna", garbage, mod.features, absent)
    )
    a1, m1 = tok.state()
    a2, m2 = refit.state()
    assert m1 == m2 and all(np.array_equal(a1[k], a2[k]) for k in a1)


def test_groups_state_round_trip() -> None:
    mod = table(blocks())
    tok = OmicsGroupsTokenizer(groups="gmt", gmt=FILES / "sets.gmt").fit(mod)
    back = round_trip(tok, tok.state())
    for k in ("values", "mask"):
        assert (back.transform(mod)[k] == tok.transform(mod)[k]).all()
    assert back.input == tok.input and back.report == tok.report


def test_groups_errors(write_text) -> None:
    with pytest.raises(ValueError, match="gmt"):
        OmicsGroupsTokenizer(groups="gmt")
    with pytest.raises(ValueError, match="gmt"):
        OmicsGroupsTokenizer(groups="random", gmt=FILES / "sets.gmt")
    with pytest.raises(BiozooError, match="needs 64 features.*has 12"):
        OmicsGroupsTokenizer(groups="random").fit(table(blocks()))
    path = write_text("other.gmt", "S\tna\tTP53\tBRCA1\n")
    with pytest.raises(BiozooError, match="no gene set"):
        OmicsGroupsTokenizer(groups="gmt", gmt=path).fit(table(blocks()))
