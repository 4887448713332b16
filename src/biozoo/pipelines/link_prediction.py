"""Link prediction on an undirected network with held-out edges: a GNN against classical scores.

Protocol (Liben-Nowell & Kleinberg 2007, https://doi.org/10.1002/asi.20591; the GNN as in
Kipf & Welling's graph auto-encoder, https://arxiv.org/abs/1611.07308):

1. the undirected edges are shuffled (seeded); ``test_fraction`` of them are held out as test
   positives and ``val_fraction`` as validation positives; the rest is the *training graph*;
2. as many negatives (pairs that are not edges of the full network) are drawn for validation
   and for test with PyTorch Geometric's ``negative_sampling``;
3. the GNN (GCN or GraphSAGE over learned node embeddings, or over given node features, with a
   dot-product or MLP decoder) passes messages on the training graph only, is trained on its
   edges against fresh negatives every epoch, and stops early on validation ROC AUC;
4. common neighbours, Adamic-Adar, Jaccard and preferential attachment are computed on the
   training graph only (scipy sparse rows, never an ``n x n`` dense matrix);
5. every method scores the same test pairs: ROC AUC and average precision.

The GNN trains and scores on the device ``accelerator`` names (:mod:`biozoo.train.device`:
``auto``, ``cpu`` or ``cuda``); the negatives are drawn on the CPU, so a seed draws the same
pairs on any device.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor, nn

from biozoo.errors import BiozooError
from biozoo.train.device import Accelerator, module_device, resolve_device

__all__ = [
    "LinkGNN",
    "LinkSplit",
    "heuristic_scores",
    "link_prediction",
    "split_links",
    "train_link_gnn",
]

log = logging.getLogger(__name__)

HEURISTICS = ("common_neighbours", "adamic_adar", "jaccard", "preferential_attachment")


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch and Python's ``random`` (PyG's sampler uses both), restoring them after."""
    state = random.getstate()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            random.setstate(state)


@dataclass
class LinkSplit:
    """Held-out edges of one network; pairs are int64 ``[m, 2]`` node positions, ``i < j``.

    Attributes:
        nodes: node names, position = index.
        train: edges of the training graph (everything the methods may look at).
        val_pos, val_neg: validation edges and non-edges (for early stopping).
        test_pos, test_neg: test edges and non-edges (for the reported metrics).
    """

    nodes: list[str]
    train: np.ndarray
    val_pos: np.ndarray
    val_neg: np.ndarray
    test_pos: np.ndarray
    test_neg: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    def train_edge_index(self) -> Tensor:
        """The training graph in PyG's form: long ``[2, 2E]``, both directions."""
        t = torch.from_numpy(self.train)
        return torch.cat([t, t.flip(1)], dim=0).T.contiguous()


def split_links(
    edges: pd.DataFrame, *, test_fraction: float = 0.1, val_fraction: float = 0.05, seed: int = 0
) -> LinkSplit:
    """Hold out validation and test edges, and draw as many non-edges for each.

    Args:
        edges: an undirected network; its first two columns name the endpoints (self loops
            and duplicates, in either direction, are dropped).
        test_fraction: fraction of edges held out for test.
        val_fraction: fraction of edges held out for validation.
        seed: seed of the shuffle and of the negative sampling.

    Returns:
        The :class:`LinkSplit`.

    Raises:
        BiozooError: too few edges, or too few non-edges to draw the negatives.
    """
    if edges.shape[1] < 2:
        raise BiozooError("the network needs two columns naming the endpoints of each edge.")
    a = edges.iloc[:, 0].astype(str).to_numpy()
    b = edges.iloc[:, 1].astype(str).to_numpy()
    nodes, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    pairs = np.stack([codes[: len(a)], codes[len(a) :]], axis=1).astype(np.int64)
    pairs = np.sort(pairs, axis=1)
    pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)
    m = len(pairs)
    n_test, n_val = round(test_fraction * m), round(val_fraction * m)
    if min(n_test, n_val) < 1 or m - n_test - n_val < 1:
        raise BiozooError(
            f"the network has {m} edges, too few to hold out {test_fraction} and {val_fraction} "
            "of them and keep some for training."
        )
    perm = np.random.default_rng(seed).permutation(m)
    test, val, train = np.split(pairs[perm], [n_test, n_test + n_val])
    neg = _negatives(pairs, len(nodes), n_val + n_test, seed)
    return LinkSplit(
        nodes=[str(x) for x in nodes],
        train=np.ascontiguousarray(train),
        val_pos=np.ascontiguousarray(val),
        val_neg=neg[:n_val],
        test_pos=np.ascontiguousarray(test),
        test_neg=neg[n_val:],
    )


def _negatives(pairs: np.ndarray, n: int, count: int, seed: int) -> np.ndarray:
    """``count`` distinct pairs ``i < j`` that are not edges of ``pairs`` (all of them)."""
    from torch_geometric.utils import negative_sampling

    t = torch.from_numpy(pairs)
    full = torch.cat([t, t.flip(1)], dim=0).T  # every edge, both directions
    found = np.zeros((0, 2), np.int64)
    with _seeded(seed):
        for _ in range(5):  # the sampler over-draws; a second round is rarely needed
            need = count - len(found)
            neg = negative_sampling(full, n, num_neg_samples=2 * (need + 16), force_undirected=True)
            neg = neg.T.numpy()
            neg = neg[neg[:, 0] < neg[:, 1]]
            both = np.concatenate([found, neg])
            _, first = np.unique(both, axis=0, return_index=True)
            found = both[np.sort(first)]  # distinct, in drawing order
            if len(found) >= count:
                return np.ascontiguousarray(found[:count])
    raise BiozooError(f"the network has too few non-edges to draw {count} negative pairs.")


def heuristic_scores(
    train: np.ndarray,
    n_nodes: int,
    pairs: np.ndarray,
    methods: tuple[str, ...] = HEURISTICS,
) -> dict[str, np.ndarray]:
    """Classical link scores of ``pairs`` on the graph ``train``.

    Common neighbours ``|N(u) & N(v)|``; Adamic-Adar ``sum_{w in N(u) & N(v)} 1 / log deg(w)``
    (Adamic & Adar 2003); Jaccard ``|N(u) & N(v)| / |N(u) | N(v)|``; preferential attachment
    ``deg(u) deg(v)``. Rows of the sparse adjacency are multiplied pair by pair: memory
    ``O(E + sum of the pairs' degrees)``.

    Args:
        train: undirected edges ``[E, 2]`` (each once).
        n_nodes: number of nodes.
        pairs: ``[m, 2]`` pairs to score.
        methods: which scores to compute.

    Returns:
        Method name -> float64 scores ``[m]``.
    """
    _check_heuristics(methods)
    u, v = train[:, 0], train[:, 1]
    ones = np.ones(2 * len(train))
    adj = sp.csr_matrix(
        (ones, (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n_nodes, n_nodes)
    )
    adj.data[:] = 1.0  # duplicates were summed
    deg = np.asarray(adj.sum(axis=1)).ravel()
    du, dv = deg[pairs[:, 0]], deg[pairs[:, 1]]
    if methods == ("preferential_attachment",):
        return {"preferential_attachment": du * dv}
    common = adj[pairs[:, 0]].multiply(adj[pairs[:, 1]]).tocsr()  # (m, n)
    cn = np.asarray(common.sum(axis=1)).ravel()
    out = {"common_neighbours": cn, "preferential_attachment": du * dv}
    if "adamic_adar" in methods:
        inv_log = np.zeros(n_nodes)
        hub = deg > 1  # a common neighbour has degree >= 2
        inv_log[hub] = 1.0 / np.log(deg[hub])
        out["adamic_adar"] = common @ inv_log
    if "jaccard" in methods:
        union = du + dv - cn
        out["jaccard"] = np.divide(cn, union, out=np.zeros_like(cn), where=union > 0)
    return {m: out[m] for m in methods}


def _check_heuristics(methods: tuple[str, ...]) -> None:
    unknown = sorted(set(methods) - set(HEURISTICS))
    if unknown:
        raise BiozooError(f"unknown link heuristic {unknown[0]!r}; known: {', '.join(HEURISTICS)}.")


class LinkGNN(nn.Module):
    """Node encoder (GCN or GraphSAGE) and pair decoder (dot product or MLP).

    Args:
        n_nodes: number of nodes.
        in_dim: width of given node features, or None to learn an embedding per node.
        model: ``gcn`` (Kipf & Welling 2017) or ``sage`` (Hamilton et al. 2017, mean).
        hidden: width of every layer (and of the learned embeddings).
        layers: number of message-passing layers.
        decoder: ``dot`` (``<z_u, z_v>``) or ``mlp`` (an MLP on ``z_u * z_v``).
        dropout: dropout between layers.
    """

    def __init__(
        self,
        n_nodes: int,
        in_dim: int | None,
        *,
        model: Literal["gcn", "sage"] = "gcn",
        hidden: int = 64,
        layers: int = 2,
        decoder: Literal["dot", "mlp"] = "dot",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv, SAGEConv

        self.embedding = nn.Embedding(n_nodes, hidden) if in_dim is None else None
        dims = [hidden if in_dim is None else in_dim] + [hidden] * layers
        make = (lambda i, o: GCNConv(i, o, cached=True)) if model == "gcn" else SAGEConv
        self.convs = nn.ModuleList(make(i, o) for i, o in zip(dims[:-1], dims[1:], strict=True))
        self.dropout = nn.Dropout(dropout)
        self.mlp = (
            nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
            if decoder == "mlp"
            else None
        )

    def encode(self, edge_index: Tensor, x: Tensor | None = None) -> Tensor:
        """Node embeddings ``[n, hidden]`` from messages along ``edge_index``."""
        h = self.embedding.weight if self.embedding is not None else x
        for i, conv in enumerate(self.convs):
            h = conv(self.dropout(h), edge_index)
            if i < len(self.convs) - 1:
                h = h.relu()
        return h

    def decode(self, z: Tensor, pairs: Tensor) -> Tensor:
        """Logits ``[m]`` of the pairs ``[m, 2]``."""
        prod = z[pairs[:, 0]] * z[pairs[:, 1]]
        return prod.sum(-1) if self.mlp is None else self.mlp(prod).squeeze(-1)


def train_link_gnn(
    split: LinkSplit,
    *,
    node_features: np.ndarray | None = None,
    model: Literal["gcn", "sage"] = "gcn",
    decoder: Literal["dot", "mlp"] = "dot",
    hidden: int = 64,
    layers: int = 2,
    dropout: float = 0.0,
    lr: float = 0.01,
    epochs: int = 300,
    patience: int = 30,
    seed: int = 0,
    accelerator: Accelerator = "auto",
) -> tuple[LinkGNN, dict[str, Any]]:
    """Train a :class:`LinkGNN` on the training graph; early stopping on validation ROC AUC.

    The test pairs of ``split`` are never read. Each epoch is one full-batch step: messages
    along the training edges, the training edges as positives and as many fresh uniform
    non-edges of the training graph as negatives.

    Args:
        split: the held-out split.
        node_features: float ``[n_nodes, f]`` or None (learned embeddings).
        model, decoder, hidden, layers, dropout: see :class:`LinkGNN`.
        lr: Adam learning rate.
        epochs: most epochs.
        patience: epochs without a better validation AUC before stopping.
        seed: seed of the initialisation and of the negative sampling.
        accelerator: ``auto``, ``cpu`` or ``cuda``: where the model trains.

    Returns:
        The model with its best weights, on the device it trained on, and
        ``{"best_epoch", "epochs", "val_roc_auc"}``.

    Raises:
        BiozooError: ``accelerator`` is ``cuda`` on a machine without CUDA.
    """
    device = resolve_device(accelerator, where="accelerator")
    ei_cpu = split.train_edge_index()  # the negatives are drawn on the CPU
    ei = ei_cpu.to(device)
    pos = torch.from_numpy(split.train).to(device)
    x = None if node_features is None else torch.as_tensor(node_features, dtype=torch.float32)
    x = None if x is None else x.to(device)
    val = torch.from_numpy(np.concatenate([split.val_pos, split.val_neg])).to(device)
    val_y = np.r_[np.ones(len(split.val_pos)), np.zeros(len(split.val_neg))]
    bce = nn.BCEWithLogitsLoss()
    with _seeded(seed):
        net = LinkGNN(
            split.n_nodes,
            None if x is None else x.shape[1],
            model=model,
            hidden=hidden,
            layers=layers,
            decoder=decoder,
            dropout=dropout,
        ).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        best, best_state, best_epoch, epoch = -1.0, None, 0, 0
        for epoch in range(1, epochs + 1):
            net.train()
            neg = _train_negatives(ei_cpu, split.n_nodes, len(pos)).to(device)
            z = net.encode(ei, x)
            logits = torch.cat([net.decode(z, pos), net.decode(z, neg)])
            target = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).to(device)
            loss = bce(logits, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.eval()
            with torch.no_grad():
                auc = roc_auc_score(val_y, net.decode(net.encode(ei, x), val).cpu().numpy())
            if auc >= best:  # ties go to the later, longer-trained epoch
                best, best_epoch, best_state = auc, epoch, copy.deepcopy(net.state_dict())
            elif epoch - best_epoch >= patience:
                break
    assert best_state is not None
    net.load_state_dict(best_state)
    net.eval()
    return net, {"best_epoch": best_epoch, "epochs": epoch, "val_roc_auc": float(best)}


def _train_negatives(edge_index: Tensor, n: int, count: int) -> Tensor:
    """``[count, 2]`` uniform random pairs (``i != j``) that are not edges of ``edge_index``.

    Vectorised rejection sampling with torch's global generator. PyG's ``negative_sampling``
    draws the same distribution but through Python's ``random.sample``, which took 40% of an
    epoch on BioPlex (0.55 s of 1.4 s), so the per-epoch negatives come from here.
    """
    keys = torch.sort(edge_index[0] * n + edge_index[1]).values
    out = torch.zeros((0, 2), dtype=torch.long)
    while len(out) < count:
        cand = torch.randint(0, n, (int(1.2 * (count - len(out))) + 16, 2))
        key = cand[:, 0] * n + cand[:, 1]
        hit = torch.searchsorted(keys, key).clamp(max=len(keys) - 1)
        ok = (cand[:, 0] != cand[:, 1]) & (keys[hit] != key)
        out = torch.cat([out, cand[ok]])
    return out[:count]


@torch.no_grad()
def _gnn_scores(
    net: LinkGNN, split: LinkSplit, feats: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The GNN's logits of the test edges and non-edges, computed on its device (the
    messages pass along the training graph only)."""
    device = module_device(net)
    x = None if feats is None else torch.from_numpy(feats).to(device)
    z = net.encode(split.train_edge_index().to(device), x)
    pos = net.decode(z, torch.from_numpy(split.test_pos).to(device)).cpu().numpy()
    neg = net.decode(z, torch.from_numpy(split.test_neg).to(device)).cpu().numpy()
    return pos, neg


def _metrics(pos: np.ndarray, neg: np.ndarray) -> dict[str, float]:
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    s = np.r_[pos, neg]
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "average_precision": float(average_precision_score(y, s)),
    }


def link_prediction(
    edges: pd.DataFrame,
    *,
    test_fraction: float = 0.1,
    val_fraction: float = 0.05,
    seed: int = 0,
    node_features: pd.DataFrame | None = None,
    heuristics: tuple[str, ...] = HEURISTICS,
    accelerator: Accelerator = "auto",
    **gnn: Any,
) -> dict[str, dict[str, Any]]:
    """Hold out edges, train the GNN and score the classical heuristics on the same pairs.

    Args:
        edges: the undirected network, endpoint names in its first two columns.
        test_fraction: fraction of edges held out as test positives.
        val_fraction: fraction of edges held out as validation positives (early stopping).
        seed: seed of the split, the negatives, the initialisation and the training.
        node_features: optional features indexed by node name (missing nodes get zeros).
        heuristics: classical scores to compute (see :func:`heuristic_scores`).
        accelerator: ``auto``, ``cpu`` or ``cuda``: where the GNN trains and scores.
        **gnn: options of :func:`train_link_gnn` (``model``, ``decoder``, ``hidden``...).

    Returns:
        ``{"gnn": {...}, "<heuristic>": {...}, "split": {...}}``: each method's test
        ``roc_auc``, ``average_precision`` and ``seconds`` (the GNN's also ``best_epoch``,
        ``epochs`` and ``val_roc_auc``); ``split`` counts nodes and edges of each part.
    """
    _check_heuristics(heuristics)
    t0 = time.perf_counter()
    split = split_links(edges, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed)
    out: dict[str, dict[str, Any]] = {
        "split": {
            "nodes": split.n_nodes,
            "edges": len(split.train) + len(split.val_pos) + len(split.test_pos),
            "train": len(split.train),
            "val": len(split.val_pos),
            "test": len(split.test_pos),
            "seconds": time.perf_counter() - t0,
        }
    }
    feats = None
    if node_features is not None:
        frame = node_features.set_axis(node_features.index.astype(str), axis=0)
        feats = frame.reindex(split.nodes).to_numpy(np.float32)
        missing = np.isnan(feats).any(axis=1)
        if missing.any():
            log.warning("%d of %d nodes lack features; zeros used", missing.sum(), len(missing))
        feats = np.nan_to_num(feats)
    t0 = time.perf_counter()
    net, info = train_link_gnn(
        split, node_features=feats, seed=seed, accelerator=accelerator, **gnn
    )
    pos, neg = _gnn_scores(net, split, feats)
    out["gnn"] = {**_metrics(pos, neg), "seconds": time.perf_counter() - t0, **info}
    for name in heuristics:
        t0 = time.perf_counter()
        pairs = np.concatenate([split.test_pos, split.test_neg])
        scores = heuristic_scores(split.train, split.n_nodes, pairs, (name,))[name]
        pos_s, neg_s = scores[: len(split.test_pos)], scores[len(split.test_pos) :]
        out[name] = {**_metrics(pos_s, neg_s), "seconds": time.perf_counter() - t0}
    return out
