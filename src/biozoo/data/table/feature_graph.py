"""A table on a graph: features (genes) are the nodes of one graph shared by every sample.

Each sample's fold-transformed values become the node values of the same graph, which a graph
encoder (``table_gnn``) reads as ``[B, p]`` node features plus one shared ``edge_index``. The
graph comes either from a user edge list (two columns of gene names and an optional weight;
e.g. a protein-protein interaction network) or from a co-expression graph learned on the
training rows of the fold only: ``k`` nearest neighbours by ``|Pearson r|``, or every pair
with ``|r| >= threshold``. Correlations are computed a block of features at a time, so the
``p x p`` matrix is never held (a few thousand genes take a few MB per block).

Example:
    >>> part = FeatureGraphTransform(coexpression="knn", k=5, table={"log1p": True})
    >>> x = part.fit(train_mod, y_train, TASKS.get("binary")()).transform(mod)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from biozoo.data.cohort import TableModality
from biozoo.data.table.matrix import table_matrix
from biozoo.data.table.transform import TableTransform
from biozoo.errors import BiozooError
from biozoo.inputs import FeatureGraphInput
from biozoo.tasks import Task

__all__ = ["FeatureGraphTransform", "coexpression_graph", "match_edges", "read_edge_list"]

log = logging.getLogger(__name__)

_BLOCK = 1024  # features per block of the correlation scan
_HEADER_WORDS = {
    *("source", "target", "from", "to", "gene", "gene1", "gene2", "genea", "geneb"),
    *("node1", "node2", "symbola", "symbolb", "protein1", "protein2"),
}
_CACHE: dict[tuple[str, int, int], pd.DataFrame] = {}


def read_edge_list(path: str | Path) -> pd.DataFrame:
    """Read an edge list: two columns of node names and an optional numeric weight.

    Tab-separated unless the name ends in ``.csv`` (``.csv.gz``); gzip is read by suffix. A
    first row is taken as a header when its weight field is not a number or its two names are
    usual header words (``source``/``target``, ``gene1``/``gene2``...). Extra columns beyond
    the third are ignored. Files are cached per path, size and modification time.

    Args:
        path: the edge list file.

    Returns:
        DataFrame with str columns ``source``, ``target`` and a float ``weight`` column (NaN
        when the file has no weights).

    Raises:
        BiozooError: the file is missing, has fewer than two columns or non-numeric weights.
    """
    path = Path(path)
    if not path.is_file():
        raise BiozooError(f"the edge list file {path} does not exist.")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _CACHE:
        _CACHE.clear()  # one file at a time is all a run needs
        _CACHE[key] = _read_edge_list(path)
    return _CACHE[key].copy()


def _read_edge_list(path: Path) -> pd.DataFrame:
    name = path.name.lower().removesuffix(".gz")
    sep = "," if name.endswith(".csv") else "\t"
    raw = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False)
    if raw.shape[1] < 2:
        raise BiozooError(f"the edge list {path} needs two columns of node names (sep {sep!r}).")
    raw = raw.iloc[:, :3]
    first = raw.iloc[0] if len(raw) else None
    if first is not None and (
        (raw.shape[1] == 3 and not _is_number(first.iloc[2]))
        or {first.iloc[0].strip().lower(), first.iloc[1].strip().lower()} <= _HEADER_WORDS
    ):
        raw = raw.iloc[1:]
    out = pd.DataFrame(
        {
            "source": raw.iloc[:, 0].str.strip().to_numpy(),
            "target": raw.iloc[:, 1].str.strip().to_numpy(),
        }
    )
    if raw.shape[1] == 3:
        weight = pd.to_numeric(raw.iloc[:, 2], errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(weight))
        if len(bad):
            raise BiozooError(
                f"the edge list {path} has a non-numeric weight {raw.iloc[bad[0], 2]!r} on "
                f"data row {bad[0] + 1}."
            )
        out["weight"] = weight
    else:
        out["weight"] = np.nan
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def match_edges(
    edges: pd.DataFrame, features: list[str], *, where: str = "the edge list"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Map an edge list's names to feature positions, as canonical undirected pairs.

    Self loops are dropped and duplicate pairs (in either direction) merged, keeping the
    largest weight. Endpoints naming no feature are reported in a ``logging`` warning (counts
    and a few examples).

    Args:
        edges: ``source``, ``target`` and ``weight`` columns (see :func:`read_edge_list`).
        features: the node names, one per feature.
        where: the edge list's name, for messages.

    Returns:
        ``(pairs, weight)``: int64 ``[E, 2]`` with ``pairs[:, 0] < pairs[:, 1]``, sorted; and
        float32 ``[E]`` weights, or None when the edge list has none.

    Raises:
        BiozooError: no edge joins two of the features.
    """
    pos = {f: i for i, f in enumerate(features)}
    src = edges["source"].map(pos)
    dst = edges["target"].map(pos)
    known = src.notna().to_numpy() & dst.notna().to_numpy()
    if not known.all():
        names = pd.concat([edges["source"][src.isna()], edges["target"][dst.isna()]])
        unknown = pd.unique(names)
        log.warning(
            "%s: %d of %d edges have an endpoint that is not a feature of the table "
            "(%d endpoint names unknown, e.g. %s); those edges are dropped.",
            where,
            int((~known).sum()),
            len(edges),
            len(unknown),
            ", ".join(repr(u) for u in unknown[:5]),
        )
    if not known.any():
        raise BiozooError(
            f"no edge of {where} joins two features of the table; check that its node names "
            f"are the table's feature names (e.g. {features[0]!r})."
        )
    a = src[known].to_numpy(np.int64)
    b = dst[known].to_numpy(np.int64)
    has_weight = not edges["weight"].isna().all()
    w = edges["weight"].to_numpy(np.float64)[known] if has_weight else np.ones(len(a))
    pairs, weight = _canonical(np.stack([a, b], axis=1), w)
    return pairs, (weight if has_weight else None)


def _canonical(pairs: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undirected pairs ``i < j`` without self loops, duplicates merged by max weight."""
    lo, hi = pairs.min(axis=1), pairs.max(axis=1)
    keep = lo != hi
    frame = pd.DataFrame({"i": lo[keep], "j": hi[keep], "w": weight[keep]})
    frame = frame.groupby(["i", "j"], sort=True, as_index=False)["w"].max()
    out = frame[["i", "j"]].to_numpy(np.int64).reshape(-1, 2)
    return out, frame["w"].to_numpy(np.float32)


def coexpression_graph(
    X: np.ndarray,
    *,
    method: Literal["knn", "threshold"] = "knn",
    k: int = 10,
    threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """A co-expression graph of the columns of ``X`` by ``|Pearson r|``.

    ``knn`` links each feature to its ``k`` most correlated others (the union over both
    directions, so degrees are at least ``k``); ``threshold`` links every pair with
    ``|r| >= threshold``. Correlations are computed ``1024`` features at a time against all:
    time ``O(n p^2)``, memory ``O(n p + 1024 p)``.

    Args:
        X: float ``[n, p]`` without NaN: the training rows only.
        method: ``knn`` or ``threshold``.
        k: neighbours per feature (``knn``).
        threshold: smallest ``|r|`` of an edge (``threshold``).

    Returns:
        ``(pairs, weight)``: int64 ``[E, 2]`` canonical pairs (``i < j``, sorted) and their
        float32 ``|r|``.
    """
    Z = np.asarray(X, dtype=np.float64)
    Z = Z - Z.mean(axis=0)
    norm = np.linalg.norm(Z, axis=0)
    Z = (Z / np.where(norm > 0, norm, 1.0)).astype(np.float32)  # unit columns; constant -> 0
    p = Z.shape[1]
    kk = min(int(k), p - 1)
    rows, cols, vals = [], [], []
    for start in range(0, p, _BLOCK):
        stop = min(start + _BLOCK, p)
        corr = np.abs(Z[:, start:stop].T @ Z)  # (c, p)
        corr[np.arange(stop - start), np.arange(start, stop)] = -1.0  # never link to itself
        if method == "knn":
            if kk < 1:
                continue
            nbr = np.argpartition(-corr, kk - 1, axis=1)[:, :kk]  # (c, kk)
            r, c = np.repeat(np.arange(stop - start), kk), nbr.ravel()
            ok = corr[r, c] > 0  # a constant feature correlates with nothing
            r, c = r[ok], c[ok]
        elif method == "threshold":
            r, c = np.nonzero(corr >= threshold)
        else:
            raise ValueError(f"method must be 'knn' or 'threshold', got {method!r}")
        rows.append(r + start)
        cols.append(c)
        vals.append(corr[r, c])
    if not rows:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    pairs = np.stack([np.concatenate(rows), np.concatenate(cols)], axis=1).astype(np.int64)
    return _canonical(pairs, np.concatenate(vals).astype(np.float64))


class FeatureGraphTransform:
    """Table transform plus a feature graph, fitted on the training rows of one fold.

    :meth:`fit` fits a :class:`~biozoo.data.transforms.TableTransform` (imputation, selection,
    scaling) on the training rows, then builds the graph: from ``edges`` (restricted to the
    selected features) or, without ``edges``, a co-expression graph of the training rows'
    transformed values. Test rows never enter the graph.

    Args:
        edges: an edge list file of gene names (see :func:`read_edge_list`); None builds a
            co-expression graph.
        coexpression: ``knn`` or ``threshold`` (used without ``edges``).
        k: neighbours per gene for ``knn``.
        threshold: smallest ``|Pearson r|`` of an edge for ``threshold``.
        table: keyword options of :class:`~biozoo.data.transforms.TableTransform`.
    """

    type: ClassVar[str] = "table/feature_graph"

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        edges: Path | None = None
        coexpression: Literal["knn", "threshold"] = "knn"
        k: PositiveInt = 10
        threshold: float = Field(0.5, gt=0.0, le=1.0)
        table: dict[str, Any] = Field(default_factory=dict)

    def __init__(
        self,
        edges: Path | str | None = None,
        coexpression: Literal["knn", "threshold"] = "knn",
        k: int = 10,
        threshold: float = 0.5,
        table: dict[str, Any] | None = None,
    ) -> None:
        opts = self.Config(
            edges=edges,
            coexpression=coexpression,
            k=k,
            threshold=threshold,
            table=dict(table or {}),
        )
        self.edges = opts.edges
        self.coexpression = opts.coexpression
        self.k, self.threshold = opts.k, opts.threshold
        self.table = TableTransform(**opts.table)
        self.pairs = np.zeros((0, 2), np.int64)  # canonical undirected pairs, output columns
        self.weight: np.ndarray | None = None
        self.graph_report: dict[str, int] = {}

    def __repr__(self) -> str:
        graph = (
            f"edges={str(self.edges)!r}" if self.edges else f"coexpression={self.coexpression!r}"
        )
        fitted = f", {self.table.n_out} nodes, {len(self.pairs)} edges" if self.table.fitted else ""
        return f"FeatureGraphTransform({graph}{fitted})"

    def fit(self, mod: TableModality, y: np.ndarray | None, task: Task) -> FeatureGraphTransform:
        """Fit the table transform and build the graph from the training rows ``mod``.

        Args:
            mod: the training samples' table (rows of absent samples are skipped).
            y: their targets (needed by ``top_k`` selection), one per row of ``mod``.
            task: the task of ``y`` (what ``top_k`` ranks features by).

        Returns:
            ``self``.

        Raises:
            BiozooError: no edge of the edge list joins two features of the table.
        """
        rows = slice(None) if mod.present.all() else mod.present
        yy = None if y is None else np.asarray(y)[rows]
        X = mod.values[rows]
        self.table.fit(X, yy, task=task, features=mod.features)
        selected = self.table.selected_features
        if self.edges is not None:
            where = f"edge list {self.edges}"
            pairs, weight = match_edges(read_edge_list(self.edges), list(mod.features), where=where)
            # renumber from table columns to output columns; drop edges to unselected genes
            pos = {f: i for i, f in enumerate(mod.features)}
            col = np.full(len(mod.features), -1, np.int64)
            col[[pos[f] for f in selected]] = np.arange(len(selected))
            sub = col[pairs]
            keep = (sub >= 0).all(axis=1)
            self.pairs = sub[keep]
            self.weight = None if weight is None else weight[keep]
            self.graph_report = {"matched_edges": len(pairs), "edges": int(keep.sum())}
        else:
            Xt = self.table.transform(X)
            self.pairs, self.weight = coexpression_graph(
                Xt, method=self.coexpression, k=self.k, threshold=self.threshold
            )
            self.graph_report = {"edges": len(self.pairs)}
        self.graph_report["nodes"] = len(selected)
        self.graph_report["isolated_nodes"] = len(selected) - len(np.unique(self.pairs))
        log.info("feature graph: %s", self.graph_report)
        return self

    def matrix(self, mod: TableModality) -> np.ndarray:
        """Transformed float32 ``[n, p]``; zero rows where a sample lacks the modality."""
        return table_matrix(self.table, mod)

    def transform(self, mod: TableModality) -> torch.Tensor:
        """Node values of every sample: float32 ``[n, p]`` (column ``j`` is node ``j``)."""
        return torch.from_numpy(self.matrix(mod))

    def flat(self, mod: TableModality) -> np.ndarray:
        """The transformed table, for the classical baselines."""
        return self.matrix(mod)

    @property
    def edge_index(self) -> np.ndarray:
        """int64 ``[2, 2E]``: every undirected edge in both directions (PyG's convention)."""
        p = self.pairs
        return np.concatenate([p, p[:, ::-1]], axis=0).T.copy()

    @property
    def input(self) -> FeatureGraphInput:
        """What ``table_gnn`` is built from: node count, edges and weights."""
        w = None if self.weight is None else np.concatenate([self.weight, self.weight])
        return FeatureGraphInput(
            n_features=self.table.n_out,
            edge_index=tuple(map(tuple, self.edge_index.tolist())),
            edge_weight=None if w is None else tuple(float(v) for v in w),
        )

    def feature_names(self) -> list[str] | None:
        """None: the encoder's input is not a matrix of named features."""
        return None

    def token_names(self) -> list[str] | None:
        """None: the nodes are not read as a sequence of tokens."""
        return None

    @property
    def report(self) -> dict[str, Any]:
        return {**self.table.report, **self.graph_report}

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The table transform's arrays (prefixed ``table.``), the pairs and the weights."""
        t_arrays, t_meta = self.table.state()
        arrays = {f"table.{k}": v for k, v in t_arrays.items()}
        arrays["pairs"] = np.ascontiguousarray(self.pairs)
        if self.weight is not None:
            arrays["weight"] = np.ascontiguousarray(self.weight)
        meta = {
            "kind": "FeatureGraphTransform",
            "options": {
                "edges": None if self.edges is None else os.fspath(self.edges),
                "coexpression": self.coexpression,
                "k": self.k,
                "threshold": self.threshold,
                "table": t_meta["options"],
            },
            "table": t_meta,
            "graph_report": dict(self.graph_report),
        }
        return arrays, meta

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> FeatureGraphTransform:
        """Rebuild a fitted transform from :meth:`state`'s output (the edge file is not read)."""
        if meta.get("kind") != "FeatureGraphTransform":
            raise ValueError("not the saved state of a FeatureGraphTransform")
        part = cls(**meta["options"])
        t_arrays = {
            k.removeprefix("table."): v for k, v in arrays.items() if k.startswith("table.")
        }
        part.table = TableTransform.from_state(t_arrays, meta["table"])
        part.pairs = np.asarray(arrays["pairs"], np.int64).reshape(-1, 2)
        part.weight = np.asarray(arrays["weight"], np.float32) if "weight" in arrays else None
        part.graph_report = {k: int(v) for k, v in meta["graph_report"].items()}
        return part
