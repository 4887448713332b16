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
data and ``predict(X_test)`` builds the graph over both and trains there, on the device its
``accelerator`` names (a run's ``training.accelerator``; see :mod:`biozoo.train.device`).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from biozoo.data.splits import inner_split
from biozoo.errors import BiozooError
from biozoo.tasks import BaselineModel, Task
from biozoo.train.baselines._base import BASELINES, Baseline
from biozoo.train.device import resolve_device

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
    task: Task,
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
    device: torch.device | None = None,
) -> np.ndarray:
    """Train a GCN on the labelled nodes of a similarity graph over all rows; predict all rows.

    Only ``y[labelled]`` is read (copied once, at the start); the other entries of ``y`` may
    hold anything. The labelled samples are split (stratified as the task says, seeded) into a
    part whose labels enter the loss and a validation part for early stopping. The task's head
    gives the loss and the predictions, on the target transform fitted on the loss part.

    Args:
        X: float ``[n, q]`` features of every sample (training and test).
        y: the target of every row (as the cohort holds it); only the labelled rows are used.
        labelled: bool ``[n]``, True for training samples.
        task: the task of ``y``.
        n_classes: number of classes of a classification task.
        graph, k: see :func:`similarity_graph`.
        hidden: widths of the hidden GCN layers.
        dropout: dropout before each layer.
        lr, weight_decay: Adam settings.
        epochs: most full-batch epochs.
        patience: epochs without a better validation loss before stopping.
        val_fraction: fraction of the labelled samples used for early stopping.
        seed: seed of the validation split, initialisation and dropout.
        device: where the GCN trains and predicts (default the CPU); the predictions are
            handed back on the CPU.

    Returns:
        The task's float64 predictions of every row (``[n, C]`` probabilities, ``[n]``
        values or risk scores).
    """
    labelled = np.asarray(labelled, dtype=bool)
    y_lab = np.array(np.asarray(y)[labelled])  # the only read of y
    idx = np.flatnonzero(labelled)
    if len(idx) < 2:
        raise BiozooError("patient_gcn needs at least two labelled samples.")
    fit, val = inner_split(
        y_lab, stratify=task.stratify_labels(y_lab), val_fraction=val_fraction, seed=seed
    )
    device = device or torch.device("cpu")
    transform = task.fit_target(y_lab[fit])
    y_t = torch.from_numpy(transform.transform(y_lab)).to(device)
    head = task.head(n_classes).to(device)
    ei, w = similarity_graph(X, method=graph, k=k)
    x = torch.as_tensor(np.asarray(X), dtype=torch.float32).to(device)
    ei_t, w_t = torch.from_numpy(ei).to(device), torch.from_numpy(w).to(device)
    node_fit = torch.from_numpy(idx[fit]).to(device)
    node_val = torch.from_numpy(idx[val]).to(device)
    one_view = torch.ones(len(x), 1, dtype=torch.bool, device=device)

    def loss(out: Tensor, nodes: Tensor, rows: np.ndarray) -> Tensor:
        return head(out[nodes].unsqueeze(1), one_view[nodes], y_t[rows]).loss

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = _GCN(x.shape[1], list(hidden), head.n_outputs, dropout).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        best, best_state, best_epoch = np.inf, None, 0
        for epoch in range(1, epochs + 1):
            net.train()
            fit_loss = loss(net(x, ei_t, w_t), node_fit, fit)
            opt.zero_grad()
            fit_loss.backward()
            opt.step()
            net.eval()
            with torch.no_grad():
                val_loss = loss(net(x, ei_t, w_t), node_val, val).item()
            if val_loss < best:
                best, best_epoch, best_state = val_loss, epoch, copy.deepcopy(net.state_dict())
            elif epoch - best_epoch >= patience:
                break
    assert best_state is not None
    net.load_state_dict(best_state)
    net.eval()
    with torch.no_grad():
        # float64 through the head, so that probabilities sum to 1 to machine precision
        pred = head(net(x, ei_t, w_t).double().unsqueeze(1), one_view).prediction.cpu()
    return np.asarray(transform.inverse_transform(pred.double().numpy()), dtype=np.float64)


class PatientGCN:
    """scikit-learn-style wrapper: ``fit`` keeps the training rows, ``predict`` trains.

    Args:
        task: the task of the targets.
        n_classes: number of classes of a classification task.
        seed: seed of the training.
        accelerator: ``auto``, ``cpu`` or ``cuda``: where it trains (a plain string, kept
            in the saved baseline; a saved run sets it to its serving device).
        **options: keyword options of :func:`transductive_gcn`.
    """

    accelerator: str = "auto"  # also the value of a saved baseline written without one

    def __init__(
        self,
        *,
        task: Task,
        n_classes: int | None = None,
        seed: int = 0,
        accelerator: str = "auto",
        **options: Any,
    ) -> None:
        self.task, self.n_classes, self.seed, self.options = task, n_classes, seed, options
        self.accelerator = accelerator
        self._X: np.ndarray | None = None
        self._y: np.ndarray | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> PatientGCN:
        self._X, self._y = np.asarray(X, dtype=np.float32), np.asarray(y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The task's predictions of the test rows ``X``."""
        if self._X is None or self._y is None:
            raise RuntimeError("PatientGCN must be fitted before predict")
        X = np.asarray(X, dtype=np.float32)
        n_train = len(self._X)
        labelled = np.r_[np.ones(n_train, bool), np.zeros(len(X), bool)]
        placeholders = np.zeros((len(X), *self._y.shape[1:]), dtype=self._y.dtype)
        out = transductive_gcn(
            np.concatenate([self._X, X]),
            np.concatenate([self._y, placeholders]),  # test rows: never read
            labelled,
            task=self.task,
            n_classes=self.n_classes,
            seed=self.seed,
            device=resolve_device(self.accelerator),
            **self.options,
        )
        return out[n_train:]


@BASELINES.register("patient_gcn")
class PatientGCNBaseline(Baseline):
    """MOGONET-style GCN on a cosine k-nearest-neighbour patient graph over train + test rows,
    trained with the task's head.

    Trained inside ``predict``: the graph needs the test rows' features (never their labels).
    """

    family = "patient_gcn"
    LABEL: ClassVar[str] = "patient GCN (MOGONET-style)"
    OPTIONS: ClassVar[dict[str, Any]] = {"graph": "knn", "k": 10}

    @classmethod
    def label_for(cls, task: Task) -> str:
        return cls.LABEL

    def _fit(self, X: np.ndarray, y: np.ndarray, n_classes: int | None) -> BaselineModel:
        model = PatientGCN(
            task=self.task,
            n_classes=n_classes,
            seed=self.seed,
            accelerator=self.accelerator,
            **self.OPTIONS,
        )
        return model.fit(X, y)
