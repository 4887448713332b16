"""Model inputs of one part of a fold: :class:`FoldData`, and graph inputs (one PyG ``Data``
per sample) for the training data feed.

The training loop indexes every modality's input with sample positions. Tables are tensors
and are indexed directly; a graph modality is a :class:`GraphSource`, which answers the same
requests with PyTorch Geometric ``Batch`` objects, one per ensemble member. A sample that
lacks the modality is an empty graph (0 nodes): it still counts in ``Batch.num_graphs``, so
the encoder's output keeps one row per sample, and the presence mask zeroes its embedding.

Batching: graphs holding only ``x``, ``edge_index`` and ``edge_attr`` (molecules, feature
graphs) are packed once into concatenated tensors, and a batch is gathered from them with a
handful of vectorised index operations -- the same ``Batch`` as ``Batch.from_data_list``
(same tensors, ``batch``, ``ptr`` and slicing information, so ``get_example`` works) at a
fraction of the cost, which matters when a training step is itself cheap. Graphs with other
attributes go through ``Batch.from_data_list``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from biozoo.data.member_graphs import MemberGraphs, gather_padded, member_graphs

if TYPE_CHECKING:  # PyG is imported when a graph is built: a run of tables never loads it
    from torch_geometric.data import Batch, Data

__all__ = [
    "FoldData",
    "GraphSource",
    "MemberGraphs",
    "TakesPadded",
    "empty_graph",
    "member_graphs",
    "repeat_rows",
    "take_rows",
    "to_device",
]

_PACKABLE = ({"x", "edge_index"}, {"x", "edge_index", "edge_attr"})


@dataclass
class FoldData:
    """Inputs of one part of a fold, modalities already transformed.

    Attributes:
        inputs: modality -> the encoder's input for every row: a float32 ``[n, p]`` table
            (zeros where the modality is absent), a dict of tensors (tokens and mask...), or
            a graph source (anything with ``take(index)`` and ``repeat(m)``).
        present: modality -> bool ``[n]``.
        y: ``[n]`` int64 class codes or float32 standardized targets; None when scoring.
        augment: modality -> its part, where the part can augment training batches
            (:class:`~biozoo.data.protocol.Augments`); only the training feed uses it
            (:meth:`augmented`).
        labelled: bool ``[n]``, False where ``y`` is a placeholder for a missing label (the
            row counts in unsupervised losses only); None when every row is labelled.
    """

    inputs: dict[str, Any]
    present: dict[str, Tensor]
    y: Tensor | None = None
    augment: dict[str, Any] = field(default_factory=dict)
    labelled: Tensor | None = None

    def __len__(self) -> int:
        return len(next(iter(self.present.values())))

    def take(self, index: Tensor, *, padded: bool = False) -> FoldData:
        """Rows ``index``; an index ``[M, b]`` gives member-stacked inputs ``[M, b, ...]``.

        With ``padded``, graph inputs that can (:class:`TakesPadded`, and not augmented)
        come as one :class:`MemberGraphs` instead of ``M`` batches (for a stacked ensemble).
        """
        pad = {k: padded and k not in self.augment for k in self.inputs}
        return FoldData(
            {k: take_rows(v, index, padded=pad[k]) for k, v in self.inputs.items()},
            {k: v[index] for k, v in self.present.items()},
            None if self.y is None else self.y[index],
            self.augment,
            None if self.labelled is None else self.labelled[index],
        )

    def repeat(self, n_members: int) -> FoldData:
        """The same rows for every member: ``[M, n, ...]`` views, no copy."""
        return FoldData(
            {k: repeat_rows(v, n_members) for k, v in self.inputs.items()},
            {k: repeat_rows(v, n_members) for k, v in self.present.items()},
            None if self.y is None else repeat_rows(self.y, n_members),
            self.augment,
            None if self.labelled is None else repeat_rows(self.labelled, n_members),
        )

    def to(self, device: torch.device | str) -> FoldData:
        """The same rows on ``device`` (inputs, masks, targets; tensors already there are
        not copied, and a member repeat is moved once, see :func:`to_device`)."""
        return FoldData(
            to_device(self.inputs, device),
            to_device(self.present, device),
            to_device(self.y, device),
            self.augment,
            to_device(self.labelled, device),
        )

    def augmented(self, generators: Sequence[torch.Generator]) -> FoldData:
        """Member-stacked rows (``[M, b, ...]``, from a 2-D :meth:`take`) with each
        augmentable input changed at random, member ``m`` drawing from ``generators[m]``."""
        if not self.augment:
            return self
        inputs = dict(self.inputs)
        for name, part in self.augment.items():
            x = inputs[name]
            inputs[name] = torch.stack([part.augment(x[m], g) for m, g in enumerate(generators)])
        return FoldData(inputs, self.present, self.y, self.augment, self.labelled)


@runtime_checkable
class TakesPadded(Protocol):
    """A graph input that hands members' rows ``[M, b]`` out already padded."""

    def take_padded(self, index: Tensor) -> MemberGraphs: ...


def take_rows(value: Any, index: Tensor, *, padded: bool = False) -> Any:
    """Rows ``index`` of one encoder input: a tensor, a dict of tensors or a graph source
    (padded into :class:`MemberGraphs` when ``padded``, the index is ``[M, b]`` and the
    source can)."""
    if isinstance(value, Tensor):
        return value[index]
    if isinstance(value, dict):
        return {k: take_rows(v, index, padded=padded) for k, v in value.items()}
    if padded and index.dim() == 2 and isinstance(value, TakesPadded):
        return value.take_padded(index)
    return value.take(index)


def repeat_rows(value: Any, m: int) -> Any:
    """One encoder input repeated for ``m`` members, ``[m, n, ...]`` (no copy for tensors)."""
    if isinstance(value, Tensor):
        return value.unsqueeze(0).expand(m, *value.shape)
    if isinstance(value, dict):
        return {k: repeat_rows(v, m) for k, v in value.items()}
    return value.repeat(m)


def to_device(value: Any, device: torch.device | str) -> Any:
    """One encoder input (or mask) on ``device``: a tensor, a dict or list of them, or a graph
    batch (anything with ``to``); None and other objects are handed back as they are.

    A member repeat (:func:`repeat_rows`, stride 0 on the member dim) moves one copy and is
    expanded again on ``device``.
    """
    if isinstance(value, Tensor):
        if value.dim() and value.stride(0) == 0 and value.device != torch.device(device):
            return value[0].to(device).expand(value.shape)
        return value.to(device)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if callable(getattr(value, "to", None)):  # a graph batch, padded member batches
        return value.to(device)
    if isinstance(value, list | tuple):
        return type(value)(to_device(v, device) for v in value)
    return value


def empty_graph(node_dim: int, edge_dim: int = 0) -> Data:
    """A graph with no nodes and no edges, with feature widths ``node_dim`` / ``edge_dim``.

    It stands for an absent sample; it batches with ordinary graphs of the same widths.
    """
    from torch_geometric.data import Data

    # no explicit num_nodes (x gives 0): Batch.from_data_list wants the same keys everywhere
    data = Data(x=torch.zeros(0, node_dim), edge_index=torch.zeros(2, 0, dtype=torch.long))
    if edge_dim > 0:
        data.edge_attr = torch.zeros(0, edge_dim)
    return data


class GraphSource:
    """The graphs of a set of samples, in sample order, handed out as PyG batches.

    Args:
        graphs: one ``Data`` per sample (``x [n_i, F]``, ``edge_index [2, e_i]``, optionally
            ``edge_attr [e_i, E]``); all with the same attributes and feature widths.

    Example:
        >>> src = GraphSource(graphs)                  # n samples
        >>> part = src.take(torch.tensor([0, 2]))      # a GraphSource of 2 samples
        >>> per_member = src.take(torch.randint(0, len(src), (5, 32)))  # 5 Batches of 32
        >>> everything = src.repeat(5)                 # 5 x the Batch of all n samples
    """

    def __init__(self, graphs: Sequence[Data]) -> None:
        self.graphs: list[Data] = list(graphs)
        self._full: Batch | None = None
        self._packed: _Packed | None = None
        self._rows: np.ndarray | None = None  # this source's rows of a shared _Packed

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int) -> Data:
        return self.graphs[i]

    def __repr__(self) -> str:
        return f"GraphSource({len(self)} graphs)"

    def take(self, index: Tensor | np.ndarray | Sequence[int]) -> GraphSource | list[Batch]:
        """The samples at ``index``.

        Args:
            index: 1-D positions (or a 1-D boolean mask), or 2-D ``[M, b]``: one row of
                positions per ensemble member.

        Returns:
            A :class:`GraphSource` of the selected samples for a 1-D index (sharing this
            one's graphs and packed tensors, no copy); a list of ``M`` ``Batch`` objects of
            ``b`` graphs each (in row order) for a 2-D index.
        """
        idx = _as_positions(index)
        if idx.ndim == 1:
            part = GraphSource([self.graphs[i] for i in idx])
            packed, rows = self._packing()
            if packed is not None:
                part._packed, part._rows = packed, rows[idx]
            return part
        if idx.ndim == 2:
            return [self._collate(row) for row in idx]
        raise ValueError(f"index must be 1-D or 2-D, got {idx.ndim} dimensions")

    def batch(self, index: Tensor | np.ndarray | Sequence[int] | None = None) -> Batch:
        """One ``Batch`` of the samples at ``index`` (all samples when None; cached)."""
        if index is None:
            if self._full is None:
                self._full = self._collate(np.arange(len(self)))
            return self._full
        return self._collate(_as_positions(index))

    def repeat(self, m: int) -> list[Batch]:
        """The whole set as one ``Batch``, for each of ``m`` members (the same cached object)."""
        full = self.batch()
        return [full] * m

    def take_padded(self, index: Tensor | np.ndarray | Sequence[int]) -> MemberGraphs:
        """The graphs at ``index`` (``[M, b]``, one row per member), padded into one
        :class:`MemberGraphs` -- the same tensors as ``member_graphs(self.take(index))``,
        gathered for all members at once when the graphs are packable."""
        idx = _as_positions(index)
        if idx.ndim != 2:
            raise ValueError(f"take_padded needs a 2-D index [M, b], got {idx.ndim} dimensions")
        packed, rows = self._packing()
        if packed is None:
            return member_graphs(self.take(idx))
        p = packed
        rows_t = torch.from_numpy(np.ascontiguousarray(rows[idx]))
        return gather_padded(p.x, p.edge_index, p.edge_attr, p.node_ptr, p.edge_ptr, rows_t)

    def _packing(self) -> tuple[_Packed | None, np.ndarray]:
        if self._packed is None and self._rows is None:
            self._packed = _Packed.build(self.graphs)
            self._rows = np.arange(len(self))
        assert self._rows is not None
        return self._packed, self._rows

    def _collate(self, positions: np.ndarray) -> Batch:
        packed, rows = self._packing()
        if packed is None:
            from torch_geometric.data import Batch

            return Batch.from_data_list([self.graphs[i] for i in positions])
        return packed.gather(rows[positions])


@dataclass
class _Packed:
    """All graphs' tensors concatenated, edges in each graph's own node numbering."""

    x: Tensor  # (N_all, F)
    edge_index: Tensor  # (2, E_all), local node ids
    edge_attr: Tensor | None  # (E_all, D)
    node_ptr: Tensor  # (n + 1,)
    edge_ptr: Tensor  # (n + 1,)

    @classmethod
    def build(cls, graphs: list[Data]) -> _Packed | None:
        """Pack ``graphs``; None when some graph has other attributes or odd shapes."""
        if not graphs:
            return None
        keys = set(graphs[0].keys())
        if keys not in _PACKABLE:
            return None
        for g in graphs:
            if set(g.keys()) != keys or g.x.dim() != 2 or g.num_nodes != g.x.shape[0]:
                return None
        has_attr = "edge_attr" in keys
        n_nodes = torch.tensor([g.x.shape[0] for g in graphs])
        n_edges = torch.tensor([g.edge_index.shape[1] for g in graphs])
        return cls(
            x=torch.cat([g.x for g in graphs]),
            edge_index=torch.cat([g.edge_index for g in graphs], dim=1),
            edge_attr=torch.cat([g.edge_attr for g in graphs]) if has_attr else None,
            node_ptr=_ptr(n_nodes),
            edge_ptr=_ptr(n_edges),
        )

    def gather(self, rows: np.ndarray) -> Batch:
        """The ``Batch`` of graphs ``rows`` (in that order), as ``Batch.from_data_list``."""
        rows_t = torch.from_numpy(np.ascontiguousarray(rows))
        b = len(rows_t)
        n_nodes = self.node_ptr[rows_t + 1] - self.node_ptr[rows_t]  # (b,)
        n_edges = self.edge_ptr[rows_t + 1] - self.edge_ptr[rows_t]
        node_ptr, edge_ptr = _ptr(n_nodes), _ptr(n_edges)
        node_idx = _ranges(self.node_ptr[rows_t], n_nodes, node_ptr)
        edge_idx = _ranges(self.edge_ptr[rows_t], n_edges, edge_ptr)
        graph_of_edge = torch.repeat_interleave(torch.arange(b), n_edges)
        edge_index = self.edge_index[:, edge_idx] + node_ptr[graph_of_edge]
        from torch_geometric.data import Batch

        out = Batch(
            x=self.x[node_idx],
            edge_index=edge_index,
            batch=torch.repeat_interleave(torch.arange(b), n_nodes),
            ptr=node_ptr,
        )
        slices = {"x": node_ptr, "edge_index": edge_ptr}
        incs = {"x": torch.zeros(b, dtype=torch.long), "edge_index": node_ptr[:-1]}
        if self.edge_attr is not None:
            out.edge_attr = self.edge_attr[edge_idx]
            slices["edge_attr"], incs["edge_attr"] = edge_ptr, incs["x"]
        out._num_graphs = b
        out._slice_dict, out._inc_dict = slices, incs
        return out


def _ptr(counts: Tensor) -> Tensor:
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def _ranges(starts: Tensor, lengths: Tensor, out_ptr: Tensor) -> Tensor:
    """``cat([arange(s, s + l) for s, l in zip(starts, lengths)])`` without a Python loop."""
    total = int(out_ptr[-1])
    offsets = torch.repeat_interleave(starts - out_ptr[:-1], lengths, output_size=total)
    return offsets + torch.arange(total)


def _as_positions(index: Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    if isinstance(index, Tensor):
        index = index.detach().cpu().numpy()
    idx = np.asarray(index)
    if idx.dtype == bool:  # a 1-D mask selects like a tensor would
        if idx.ndim != 1:
            raise ValueError("a boolean index must be 1-D")
        return np.flatnonzero(idx)
    return idx.astype(np.int64, copy=False)
