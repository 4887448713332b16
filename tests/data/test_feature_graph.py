"""Feature graphs: edge lists matched to genes, co-expression from training rows only."""

import gzip
import logging

import numpy as np
import pandas as pd
import pytest

from biozoo.data.cohort import TableModality
from biozoo.data.table import feature_graph as fg
from biozoo.data.table.feature_graph import (
    FeatureGraphTransform,
    coexpression_graph,
    match_edges,
    read_edge_list,
)
from biozoo.errors import BiozooError
from biozoo.inputs import FeatureGraphInput
from biozoo.tasks import TASKS

BINARY, REGRESSION = TASKS.get("binary")(), TASKS.get("regression")()

GENES = [f"G{i}" for i in range(8)]


def _mod(values, present=None, features=GENES):
    values = np.asarray(values, dtype=np.float32)
    present = np.ones(len(values), bool) if present is None else present
    return TableModality("rna", values, list(features), present, "test")


def _dense_knn(X, k):
    """Reference: |corrcoef| kNN graph, union of both directions, as a set of pairs."""
    r = np.abs(np.corrcoef(X, rowvar=False))
    np.fill_diagonal(r, -1)
    pairs = set()
    for i in range(r.shape[0]):
        for j in np.argsort(-r[i], kind="stable")[:k]:
            pairs.add((min(i, j), max(i, j)))
    return pairs


def test_read_edge_list_header_weights_and_gzip(tmp_path):
    tsv = tmp_path / "net.tsv"
    tsv.write_text("gene1\tgene2\tscore\nG0\tG1\t0.5\nG2\tG3\t2\n")
    e = read_edge_list(tsv)
    assert list(e.columns) == ["source", "target", "weight"]
    assert e["source"].tolist() == ["G0", "G2"] and e["weight"].tolist() == [0.5, 2.0]
    gz = tmp_path / "net.csv.gz"
    with gzip.open(gz, "wt") as f:
        f.write("G0,G1\nG1,G2\n")
    e = read_edge_list(gz)
    assert e["target"].tolist() == ["G1", "G2"] and e["weight"].isna().all()


def test_read_edge_list_errors(tmp_path):
    with pytest.raises(BiozooError, match="does not exist"):
        read_edge_list(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("G0\tG1\t0.5\nG1\tG2\thigh\n")
    with pytest.raises(BiozooError, match="non-numeric weight 'high'"):
        read_edge_list(bad)


def test_match_edges_reports_unknown_genes_and_merges_duplicates(caplog):
    edges = pd.DataFrame(
        {
            "source": ["G0", "G1", "TP53", "G2", "G3", "G4"],
            "target": ["G1", "G0", "G2", "G2", "MYC", "G5"],
            "weight": [0.2, 0.9, 1.0, 1.0, 1.0, 0.4],
        }
    )
    with caplog.at_level(logging.WARNING):
        pairs, w = match_edges(edges, GENES, where="net.tsv")
    assert pairs.tolist() == [[0, 1], [4, 5]]  # self loop dropped, (0,1)/(1,0) merged
    assert w.tolist() == pytest.approx([0.9, 0.4])  # max weight of the duplicates
    msg = caplog.text
    assert "2 of 6 edges" in msg and "'TP53'" in msg and "'MYC'" in msg


def test_match_edges_errors_when_no_gene_matches():
    edges = pd.DataFrame({"source": ["A", "B"], "target": ["C", "G0"], "weight": [np.nan] * 2})
    with pytest.raises(BiozooError, match="no edge of net joins two features"):
        match_edges(edges, GENES, where="net")


@pytest.mark.parametrize("block", [3, 1024])
def test_coexpression_knn_matches_dense_reference(monkeypatch, block):
    monkeypatch.setattr(fg, "_BLOCK", block)  # exercise the chunked scan
    X = np.random.default_rng(0).normal(size=(30, 8))
    pairs, w = coexpression_graph(X, method="knn", k=2)
    assert set(map(tuple, pairs.tolist())) == _dense_knn(X, 2)
    r = np.abs(np.corrcoef(X, rowvar=False))
    np.testing.assert_allclose(w, r[pairs[:, 0], pairs[:, 1]], rtol=1e-5)


def test_coexpression_threshold_matches_dense_reference():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(40, 3))
    X = np.repeat(base, 3, axis=1) + 0.5 * rng.normal(size=(40, 9))
    pairs, _ = coexpression_graph(X, method="threshold", threshold=0.6)
    r = np.abs(np.corrcoef(X, rowvar=False))
    ref = {(i, j) for i in range(9) for j in range(i + 1, 9) if r[i, j] >= 0.6}
    assert set(map(tuple, pairs.tolist())) == ref and len(ref) > 0


def test_coexpression_graph_uses_training_rows_only():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 8)).astype(np.float32)
    X[:, 1] = X[:, 0] + 0.3 * rng.normal(size=50)  # a real co-expressed pair
    train, test = np.arange(35), np.arange(35, 50)
    part = FeatureGraphTransform(coexpression="knn", k=2).fit(_mod(X[train]), None, BINARY)
    garbage = X.copy()
    garbage[test] = rng.normal(scale=100.0, size=(15, 8))
    garbage[test, 5] = garbage[test, 6]  # the test rows now tie genes 5 and 6
    again = FeatureGraphTransform(coexpression="knn", k=2).fit(_mod(garbage[train]), None, BINARY)
    np.testing.assert_array_equal(part.pairs, again.pairs)
    np.testing.assert_array_equal(part.weight, again.weight)
    assert part.input == again.input
    assert set(map(tuple, part.pairs.tolist())) == _dense_knn(X[train], 2)
    fitted_on_all = FeatureGraphTransform(coexpression="knn", k=2).fit(
        _mod(garbage), None, BINARY
    )
    assert not np.array_equal(fitted_on_all.pairs, part.pairs)  # the check can fail
    # training rows come out the same whatever the test rows hold
    np.testing.assert_array_equal(
        part.transform(_mod(X))[train].numpy(), part.transform(_mod(garbage))[train].numpy()
    )


def test_edge_file_graph_is_restricted_to_selected_features(tmp_path):
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 20)
    X = rng.normal(size=(40, 8)).astype(np.float32)
    X[:, [2, 5, 7]] += 3.0 * y[:, None]  # top_k=3 keeps G2, G5, G7
    net = tmp_path / "net.tsv"
    net.write_text("G2\tG5\nG5\tG7\nG0\tG2\nG1\tG3\nG7\tFOO\n")
    part = FeatureGraphTransform(edges=net, table={"top_k": 3}).fit(_mod(X), y, BINARY)
    assert part.table.selected_features == ["G2", "G5", "G7"]
    assert part.pairs.tolist() == [[0, 1], [1, 2]]  # renumbered to output columns
    assert part.input == FeatureGraphInput(
        n_features=3, edge_index=((0, 1, 1, 2), (1, 2, 0, 1)), edge_weight=None
    )
    assert part.report["matched_edges"] == 4 and part.report["edges"] == 2


def test_transform_zeroes_absent_rows_and_state_round_trips(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 8)).astype(np.float32)
    present = np.ones(20, bool)
    present[[3, 7]] = False
    X[~present] = np.nan
    net = tmp_path / "net.tsv"
    net.write_text("a\tb\tw\nG0\tG1\t0.7\nG1\tG2\t0.2\n")
    part = FeatureGraphTransform(edges=net).fit(_mod(X, present), None, REGRESSION)
    x = part.transform(_mod(X, present))
    assert x.shape == (20, 8) and x.dtype.is_floating_point
    assert (x[~present] == 0).all() and not x.isnan().any()
    np.testing.assert_array_equal(part.flat(_mod(X, present)), x.numpy())
    assert part.input.edge_weight == pytest.approx([0.7, 0.2, 0.7, 0.2])
    arrays, meta = part.state()
    net.unlink()  # a saved transform never reads the edge file again
    back = FeatureGraphTransform.from_state(arrays, meta)
    assert back.input == part.input
    np.testing.assert_array_equal(back.transform(_mod(X, present)).numpy(), x.numpy())


def test_config_matches_signature():
    import inspect

    params = inspect.signature(FeatureGraphTransform.__init__).parameters
    assert set(FeatureGraphTransform.Config.model_fields) == set(params) - {"self"}
