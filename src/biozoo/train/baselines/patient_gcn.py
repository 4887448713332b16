"""``patient_gcn``: transductive node classification on a patient-similarity graph.

After MOGONET (Wang et al. 2021, Nat Commun 12:3445, https://doi.org/10.1038/s41467-021-23774-w):
samples are nodes, edges join samples with similar (fold-transformed) profiles by cosine
similarity, and a graph convolutional network (Kipf & Welling 2017,
https://arxiv.org/abs/1609.02907) classifies the nodes. The graph spans ALL samples of a split,
training and test, so test samples pass information along the graph, but the loss only sees
the training samples' labels: test labels are never given to the training code.

Two ways to pick edges:

- ``knn``: each sample's ``k`` most similar others (union of both directions);
- ``threshold``: MOGONET's adaptive threshold, the similarity above which ``k`` entries per
  sample remain on average (self-similarities included, as in MOGONET's
  ``cal_adj_mat_parameter``), then made symmetric.

Departures from MOGONET, kept simple on purpose: one view (the concatenated modalities the
baselines see) rather than one GCN per omics plus the VCDN view-correlation layer; training is
transductive (the graph includes test nodes) where MOGONET trains on the training-sample graph
and adds test nodes at inference; PyG's symmetric normalisation of ``A + I``; early stopping
on a validation part of the training samples.

It is registered as a classical-style baseline: ``fit(X_train, y_train)`` keeps the training
data and ``predict(X_test)`` builds the graph over both and trains there.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from biozoo.data.splits import inner_split
from biozoo.errors import BiozooError
from biozoo.train.baselines._base import BASELINES, Baseline

__all__ = ["PatientGCN", "PatientGCNBaseline", "similarity_graph", "transductive_gcn"]


def similarity_graph(
    X: np.ndarray, *, method: Literal["knn", "threshold"] = "knn", k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine-similarity graph between the rows of ``X``.

    Args:
        X: float ``[n, q]``, one row per sample (all samples of the split).
        method: ``knn`` or ``threshold`` (MOGONET's adaptive threshold).
        k: neighbours per sample, or the target number of edges per sample.

    Returns:
        ``(edge_index, weight)``: int64 ``[2, E]`` with both directions of every edge and no
        self loops; float32 ``[E]`` similarities clipped at 0.

    Shape:
        Memory ``O(n^2)``: fine for cohorts of up to tens of thousands of samples.
    """
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    unit = X / np.where(norm > 0, norm, 1.0)
    sim = unit @ unit.T  # (n, n)
    if method == "knn":
        kk = min(int(k), n - 1)
        sim_off = sim.copy()
        np.fill_diagonal(sim_off, -np.inf)
        nbr = np.argpartition(-sim_off, kk - 1, axis=1)[:, :kk] if kk > 0 else np.zeros((n, 0))
        adj = np.zeros((n, n), dtype=bool)
        adj[np.repeat(np.arange(n), kk), nbr.ravel().astype(np.int64)] = True
    elif method == "threshold":
        flat = np.sort(sim.ravel())[::-1]  # MOGONET counts the diagonal (self) entries too
        eps = flat[min(int(k) * n, len(flat)) - 1]
        adj = sim >= eps
    else:
        raise ValueError(f"method must be 'knn' or 'threshold', got {method!r}")
    adj = adj | adj.T
    np.fill_diagonal(adj, False)
    src, dst = np.nonzero(adj)
    weight = np.clip(sim[src, dst], 0.0, None).astype(np.float32)
    return np.stack([src, dst]).astype(np.int64), weight


class _GCN(nn.Module):
    def __init__(self, in_dim: int, hidden: list[int], n_out: int, dropout: float) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        dims = [in_dim, *hidden, n_out]
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, edge_index: Tensor, weight: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(self.dropout(x), edge_index, weight)
            if i < len(self.convs) - 1:
                x = x.relu()
        return x


def transductive_gcn(
    X: np.ndarray,
    y: np.ndarray,
    labelled: np.ndarray,
    *,
    task: str,
    n_classes: int | None = None,
    graph: Literal["knn", "threshold"] = "knn",
    k: int = 10,
    hidden: tuple[int, ...] = (64, 32),
    dropout: float = 0.5,
    lr: float = 0.005,
    weight_decay: float = 5e-4,
    epochs: int = 300,
    patience: int = 30,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> np.ndarray:
    """Train a GCN on the labelled nodes of a similarity graph over all rows; predict all rows.

    Only ``y[labelled]`` is read (copied once, at the start); the other entries of ``y`` may
    hold anything. The labelled samples are split (stratified, seeded) into a part whose labels
    enter the loss and a validation part for early stopping.

    Args:
        X: float ``[n, q]`` features of every sample (training and test).
        y: ``[n]`` class codes ``0..C-1`` or floats; only the labelled entries are used.
        labelled: bool ``[n]``, True for training samples.
        task: ``binary``, ``multiclass`` or ``regression``.
        n_classes: number of classes (default ``max(y[labelled]) + 1``).
        graph, k: see :func:`similarity_graph`.
        hidden: widths of the hidden GCN layers.
        dropout: dropout before each layer.
        lr, weight_decay: Adam settings.
        epochs: most full-batch epochs.
        patience: epochs without a better validation loss before stopping.
        val_fraction: fraction of the labelled samples used for early stopping.
        seed: seed of the validation split, initialisation and dropout.

    Returns:
        float64 ``[n, C]`` probabilities, or ``[n]`` predictions for regression.
    """
    labelled = np.asarray(labelled, dtype=bool)
    y_lab = np.array(np.asarray(y)[labelled])  # the only read of y
    idx = np.flatnonzero(labelled)
    if len(idx) < 2:
        raise BiozooError("patient_gcn needs at least two labelled samples.")
    classify = task != "regression"
    fit, val = inner_split(y_lab, task=task, val_fraction=val_fraction, seed=seed)
    if classify:
        y_t = torch.as_tensor(y_lab.astype(np.int64))
        n_out = int(n_classes or (y_t.max().item() + 1))
        loss_fn: nn.Module = nn.CrossEntropyLoss()
    else:
        mu, sd = float(y_lab[fit].mean()), float(y_lab[fit].std() or 1.0)
        y_t = torch.as_tensor((y_lab - mu) / sd, dtype=torch.float32)
        n_out, loss_fn = 1, nn.MSELoss()
    ei, w = similarity_graph(X, method=graph, k=k)
    x = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    ei_t, w_t = torch.from_numpy(ei), torch.from_numpy(w)
    node_fit, node_val = torch.from_numpy(idx[fit]), torch.from_numpy(idx[val])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = _GCN(x.shape[1], list(hidden), n_out, dropout)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        best, best_state, best_epoch = np.inf, None, 0
        for epoch in range(1, epochs + 1):
            net.train()
            out = _squeeze(net(x, ei_t, w_t), classify)
            loss = loss_fn(out[node_fit], y_t[fit])
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.eval()
            with torch.no_grad():
                val_loss = loss_fn(_squeeze(net(x, ei_t, w_t), classify)[node_val], y_t[val])
            if val_loss.item() < best:
                best, best_epoch, best_state = (
                    val_loss.item(),
                    epoch,
                    copy.deepcopy(net.state_dict()),
                )
            elif epoch - best_epoch >= patience:
                break
    assert best_state is not None
    net.load_state_dict(best_state)
    net.eval()
    with torch.no_grad():
        out = _squeeze(net(x, ei_t, w_t), classify)
    if classify:
        return torch.softmax(out.double(), dim=-1).numpy()  # rows sum to 1 in float64
    return out.double().numpy() * sd + mu


def _squeeze(out: Tensor, classify: bool) -> Tensor:
    return out if classify else out.squeeze(-1)


class PatientGCN:
    """scikit-learn-style wrapper: ``fit`` keeps the training rows, ``predict_proba`` trains.

    Args:
        task: ``binary``, ``multiclass`` or ``regression``.
        seed: seed of the training.
        **options: keyword options of :func:`transductive_gcn`.
    """

    def __init__(self, *, task: str, seed: int = 0, **options: Any) -> None:
        self.task, self.seed, self.options = task, seed, options
        self.classes_: np.ndarray | None = None
        self._X: np.ndarray | None = None
        self._y: np.ndarray | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> PatientGCN:
        self._X, self._y = np.asarray(X, dtype=np.float32), np.asarray(y)
        if self.task != "regression":
            self.classes_, self._y = np.unique(self._y, return_inverse=True)
        return self

    def _run(self, X: np.ndarray) -> np.ndarray:
        if self._X is None or self._y is None:
            raise RuntimeError("PatientGCN must be fitted before predict")
        X = np.asarray(X, dtype=np.float32)
        n_train = len(self._X)
        labelled = np.r_[np.ones(n_train, bool), np.zeros(len(X), bool)]
        y = np.r_[self._y, np.zeros(len(X), dtype=self._y.dtype)]  # test rows: placeholders
        n_classes = None if self.classes_ is None else len(self.classes_)
        out = transductive_gcn(
            np.concatenate([self._X, X]),
            y,
            labelled,
            task=self.task,
            n_classes=n_classes,
            seed=self.seed,
            **self.options,
        )
        return out[n_train:]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities ``[m, len(classes_)]`` of the test rows ``X``."""
        return self._run(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Regression predictions ``[m]``, or class codes for classification."""
        out = self._run(X)
        if self.task == "regression":
            return out
        assert self.classes_ is not None
        return self.classes_[out.argmax(axis=1)]


@BASELINES.register("patient_gcn")
class PatientGCNBaseline(Baseline):
    """MOGONET-style GCN on a cosine k-nearest-neighbour patient graph over train + test rows.

    Trained inside ``predict``: the graph needs the test rows' features (never their labels).
    """

    label = "patient GCN (MOGONET-style)"
    OPTIONS: ClassVar[dict[str, Any]] = {"graph": "knn", "k": 10}

    def _build(self, X: np.ndarray, y: np.ndarray) -> Any:
        return PatientGCN(task=self.task, seed=self.seed, **self.OPTIONS)
