"""Link prediction: the held-out split leaks nothing; heuristics match hand computations."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from biozoo.errors import BiozooError
from biozoo.pipelines.link_prediction import (
    heuristic_scores,
    link_prediction,
    split_links,
    train_link_gnn,
)


def _communities(n_groups=4, size=15, p_in=0.5, p_out=0.01, seed=0):
    """A stochastic block model: dense inside groups, sparse between them."""
    rng = np.random.default_rng(seed)
    n = n_groups * size
    group = np.repeat(np.arange(n_groups), size)
    i, j = np.triu_indices(n, k=1)
    p = np.where(group[i] == group[j], p_in, p_out)
    keep = rng.random(len(p)) < p
    return pd.DataFrame({"a": [f"n{k}" for k in i[keep]], "b": [f"n{k}" for k in j[keep]]})


def _as_set(pairs):
    return {tuple(p) for p in np.asarray(pairs).tolist()}


def test_split_holds_out_edges_without_leakage():
    edges = _communities()
    split = split_links(edges, test_fraction=0.1, val_fraction=0.05, seed=3)
    names = {n: i for i, n in enumerate(split.nodes)}
    full = {tuple(sorted((names[a], names[b]))) for a, b in zip(edges.a, edges.b, strict=True)}
    train, val, test = _as_set(split.train), _as_set(split.val_pos), _as_set(split.test_pos)
    assert train | val | test == full and len(train) + len(val) + len(test) == len(full)
    assert not (train & test) and not (train & val) and not (val & test)
    assert len(test) == round(0.1 * len(full)) and len(val) == round(0.05 * len(full))
    val_neg, test_neg = _as_set(split.val_neg), _as_set(split.test_neg)
    assert len(val_neg) == len(val) and len(test_neg) == len(test)
    assert not (val_neg | test_neg) & full and not val_neg & test_neg  # true non-edges
    assert all(i < j for i, j in val_neg | test_neg)
    # the graph the GNN passes messages on holds training edges only, in both directions
    ei = split.train_edge_index()
    assert _as_set(ei.T.numpy()) == train | {(j, i) for i, j in train}
    again = split_links(edges, test_fraction=0.1, val_fraction=0.05, seed=3)
    np.testing.assert_array_equal(again.test_pos, split.test_pos)
    np.testing.assert_array_equal(again.test_neg, split.test_neg)
    other = split_links(edges, test_fraction=0.1, val_fraction=0.05, seed=4)
    assert _as_set(other.test_pos) != test


def test_heuristics_match_a_hand_computation():
    # 0-1, 0-2, 1-2, 1-3, 2-3, 3-4 (degrees 2, 3, 3, 3, 1)
    train = np.array([[0, 1], [0, 2], [1, 2], [1, 3], [2, 3], [3, 4]])
    pairs = np.array([[0, 3], [1, 4], [0, 4], [1, 2]])
    s = heuristic_scores(train, 5, pairs)
    # 0,3: common {1, 2}; 1,4: common {3}; 0,4: none; 1,2: common {0, 3}
    assert s["common_neighbours"].tolist() == [2, 1, 0, 2]
    aa = [2 / math.log(3), 1 / math.log(3), 0.0, 1 / math.log(2) + 1 / math.log(3)]
    np.testing.assert_allclose(s["adamic_adar"], aa)
    np.testing.assert_allclose(s["jaccard"], [2 / 3, 1 / 3, 0.0, 2 / 4])
    assert s["preferential_attachment"].tolist() == [6, 3, 2, 9]
    only = heuristic_scores(train, 5, pairs, ("adamic_adar",))
    assert list(only) == ["adamic_adar"]
    with pytest.raises(BiozooError, match="unknown link heuristic 'katz'"):
        heuristic_scores(train, 5, pairs, ("katz",))


def test_heuristics_see_only_the_training_graph():
    edges = _communities(seed=1)
    split = split_links(edges, seed=0)
    pos = split.test_pos
    on_train = heuristic_scores(split.train, split.n_nodes, pos)["common_neighbours"]
    with_test = heuristic_scores(np.concatenate([split.train, pos]), split.n_nodes, pos)
    assert (with_test["common_neighbours"] >= on_train).all()
    assert (with_test["preferential_attachment"] > 0).all()  # the test edge itself counts
    res = link_prediction(edges, seed=0, epochs=2, hidden=8)
    y = np.r_[np.ones(len(pos)), np.zeros(len(split.test_neg))]
    from sklearn.metrics import roc_auc_score

    s = heuristic_scores(split.train, split.n_nodes, np.concatenate([pos, split.test_neg]))
    assert res["adamic_adar"]["roc_auc"] == pytest.approx(roc_auc_score(y, s["adamic_adar"]))


def test_gnn_training_never_reads_test_pairs():
    split = split_links(_communities(seed=2), seed=0)
    net_a, info_a = train_link_gnn(split, hidden=8, epochs=5, seed=1)
    split.test_pos = np.zeros((3, 2), np.int64)  # garbage in place of the test pairs
    split.test_neg = np.ones((3, 2), np.int64)
    net_b, info_b = train_link_gnn(split, hidden=8, epochs=5, seed=1)
    assert info_a == info_b
    for a, b in zip(net_a.state_dict().values(), net_b.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(("model", "decoder"), [("gcn", "dot"), ("sage", "mlp")])
def test_link_prediction_learns_communities(model, decoder):
    res = link_prediction(
        _communities(seed=5),
        seed=0,
        model=model,
        decoder=decoder,
        hidden=16,
        epochs=60,
        patience=20,
    )
    assert set(res) == {
        "split",
        "gnn",
        "common_neighbours",
        "adamic_adar",
        "jaccard",
        "preferential_attachment",
    }
    assert res["gnn"]["roc_auc"] > 0.75, res["gnn"]
    assert res["adamic_adar"]["roc_auc"] > 0.75
    assert 0.0 <= res["gnn"]["average_precision"] <= 1.0


def test_node_features_are_used():
    edges = _communities(size=25, p_in=0.3, seed=6)
    nodes = sorted(set(edges.a) | set(edges.b))
    group = np.array([int(n[1:]) // 25 for n in nodes])
    auc = {}
    for kind, values in [
        ("community", np.eye(4)[group]),
        ("noise", np.random.default_rng(0).normal(size=(len(nodes), 4))),
    ]:
        feats = pd.DataFrame(values, index=nodes)
        res = link_prediction(edges, node_features=feats, hidden=16, epochs=40, heuristics=())
        assert set(res) == {"split", "gnn"}
        auc[kind] = res["gnn"]["roc_auc"]
    assert auc["community"] > 0.8 and auc["community"] > auc["noise"] + 0.05, auc
