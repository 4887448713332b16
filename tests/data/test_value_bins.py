"""Value bins of gene tokens: per-gene quantiles of the training samples, matched by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from safetensors.numpy import load, save

from biozoo.data.cohort import TableModality
from biozoo.data.table.gene_rank import GeneRankTokenizer
from biozoo.data.table.value_bins import ValueBins
from biozoo.inputs import VALUE_FIRST, TokensInput


def table(values, features=None) -> TableModality:
    values = np.asarray(values, dtype=np.float32)
    features = features or [f"G{j + 1}" for j in range(values.shape[1])]
    return TableModality("rna", values, features, np.ones(len(values), bool), "rna.csv")


def test_edges_are_per_gene_quantiles_of_expressed_values() -> None:
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, size=(40, 3))
    X[X < 1.0] = 0.0
    X[:, 2] = 0.0  # never expressed: everything in the first bin
    bins = ValueBins(4).fit(X)
    for j in range(2):
        v = X[:, j][X[:, j] > 0]
        np.testing.assert_allclose(bins.edges[j], np.quantile(v, [0.25, 0.5, 0.75]))
    assert np.isinf(bins.edges[2]).all()
    cols = np.array([[0, 1, 2, -1]] * len(X))
    ids = bins.transform(X, cols)
    assert (ids[:, 3] == 0).all() and ((ids[:, :3] >= VALUE_FIRST) & (ids[:, :3] < 6)).all()
    expected = VALUE_FIRST + (X[:, [0]] >= bins.edges[0]).sum(axis=1)
    np.testing.assert_array_equal(ids[:, 0], expected)


def test_value_bins_are_fitted_on_training_cells_only() -> None:
    rng = np.random.default_rng(1)
    X = rng.gamma(2.0, size=(30, 8)).astype(np.float32)
    train = np.arange(20)
    tok = GeneRankTokenizer(top_k=4, value_bins=5).fit(table(X[train]))
    spoiled = X.copy()
    spoiled[20:] = rng.gamma(2.0, size=(10, 8)) * 1e4  # test cells far above every edge
    other = GeneRankTokenizer(top_k=4, value_bins=5).fit(table(spoiled[train]))
    np.testing.assert_array_equal(tok.bins.edges, other.bins.edges)
    np.testing.assert_array_equal(tok.bins.edges, ValueBins(5).fit(X[train]).edges)
    out = tok.transform(table(spoiled))
    assert (out["values"][20:, 1:] == VALUE_FIRST + 4).all()  # the top bin, not refitted
    ref = tok.transform(table(X))["values"][:20]
    assert (out["values"][:20] == ref).all()


def test_values_follow_the_gene_by_name_and_round_trip() -> None:
    rng = np.random.default_rng(2)
    X = rng.gamma(1.0, size=(12, 6)).astype(np.float32)
    X[X < 0.5] = 0
    mod = table(X)
    tok = GeneRankTokenizer(top_k=3, value_bins=4).fit(mod)
    assert tok.input == TokensInput(vocab=tok.vocab_size, max_len=4, values=VALUE_FIRST + 4)
    order = [5, 2, 0, 1, 4, 3]
    shuffled = table(X[:, order], [mod.features[j] for j in order])
    a, b = tok.transform(shuffled), tok.transform(mod)
    assert (a["tokens"] == b["tokens"]).all() and (a["values"] == b["values"]).all()
    arrays, meta = tok.state()
    back = GeneRankTokenizer.from_state(load(save(arrays)), json.loads(json.dumps(meta)))
    assert (back.transform(mod)["values"] == b["values"]).all() and back.input == tok.input


def test_without_value_bins_nothing_changes() -> None:
    X = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0]], dtype=np.float32)
    tok = GeneRankTokenizer(top_k=2).fit(table(X))
    assert set(tok.transform(table(X))) == {"tokens", "mask"}
    assert "value_edges" not in tok.state()[0]
    assert tok.input == TokensInput(vocab=tok.vocab_size, max_len=3)


def test_one_bin_is_refused() -> None:
    with pytest.raises(ValidationError, match="value_bins"):
        GeneRankTokenizer(value_bins=1)
