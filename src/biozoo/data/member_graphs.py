"""Ensemble members' graph minibatches padded to one shape, member dim first, for ``vmap``.

:class:`MemberGraphs` is what a stacked graph ensemble reads: ``M`` members' batches of ``b``
graphs each, padded to common node and edge counts. Two ways to build it give the same
tensors:

- :func:`member_graphs` pads ``M`` PyG ``Batch`` objects (one per member);
- :func:`gather_padded` gathers the members' graphs straight from packed tensors (every
  graph's nodes and edges concatenated) into the padded layout, with a handful of vectorised
  index operations for all members at once -- no per-member ``Batch`` is built, which is most
  of the cost of a training step's data when the step itself is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

if TYPE_CHECKING:
    from torch_geometric.data import Batch

__all__ = ["MemberGraphs", "gather_padded", "member_graphs"]


class MemberGraphs(NamedTuple):
    """Ensemble members' graph batches padded to one shape, member dim first, for ``vmap``.

    Member ``m``'s batch occupies its first ``n_m`` node rows and ``e_m`` edge columns; the
    padding is one or more extra nodes in an extra graph slot (index ``B``), joined by
    padding edges among themselves, so no message reaches a real node and a readout over
    ``B + 1`` graphs keeps the real ones apart. ``node_mask`` marks the real nodes (a batch
    norm takes its statistics over them only).

    Shape:
        - x ``[M, N, F]``, edge_index ``[M, 2, E]``, edge_attr ``[M, E, D]`` (``D = 0``
          without edge features), batch ``[M, N]``, node_mask ``[M, N]`` bool, graph_slots
          ``[M, B]`` (only its width is read: the number of graphs per member).
    """

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor
    batch: Tensor
    node_mask: Tensor
    graph_slots: Tensor

    def to(self, device: torch.device | str) -> MemberGraphs:
        """The same padded batches on ``device``."""
        return MemberGraphs(*(t.to(device) for t in self))


def member_graphs(batches: Sequence[Batch]) -> MemberGraphs:
    """Pad ``M`` PyG batches of the same number of graphs into one :class:`MemberGraphs`."""
    b = int(batches[0].num_graphs)
    if any(int(g.num_graphs) != b for g in batches):
        raise ValueError("member batches must hold the same number of graphs")
    n = max(int(g.x.shape[0]) for g in batches) + 1  # at least one padding node each
    e = max(int(g.edge_index.shape[1]) for g in batches)
    m, f = len(batches), batches[0].x.shape[1]
    ea = getattr(batches[0], "edge_attr", None)
    d = 0 if ea is None else ea.shape[1]
    x = batches[0].x.new_zeros(m, n, f)
    edge_index = torch.full((m, 2, e), n - 1, dtype=torch.long)
    edge_attr = x.new_zeros(m, e, d)
    batch = torch.full((m, n), b, dtype=torch.long)
    node_mask = torch.zeros(m, n, dtype=torch.bool)
    for i, g in enumerate(batches):
        k, j = g.x.shape[0], g.edge_index.shape[1]
        x[i, :k], edge_index[i, :, :j], batch[i, :k] = g.x, g.edge_index, g.batch
        node_mask[i, :k] = True
        if d:
            edge_attr[i, :j] = g.edge_attr
    slots = torch.ones(m, b, dtype=torch.bool)
    return MemberGraphs(x, edge_index, edge_attr, batch, node_mask, slots)


def gather_padded(
    x: Tensor,
    edge_index: Tensor,
    edge_attr: Tensor | None,
    node_ptr: Tensor,
    edge_ptr: Tensor,
    rows: Tensor,
) -> MemberGraphs:
    """Graphs ``rows`` (``[M, b]``, one row per member) of packed graphs, padded.

    The same tensors as :func:`member_graphs` of the members' ``Batch`` objects gathered one
    by one (graphs in row order, nodes and edges in each graph's own order).

    Args:
        x: every graph's node features, concatenated ``[N_all, F]``.
        edge_index: every graph's edges in its own node numbering ``[2, E_all]``.
        edge_attr: the edges' features ``[E_all, D]``, or None.
        node_ptr: graph ``i``'s nodes are ``node_ptr[i]:node_ptr[i + 1]`` (``[n + 1]``).
        edge_ptr: likewise for the edges.
        rows: the graphs of each member.
    """
    m, b = rows.shape
    flat = rows.reshape(-1)
    n_nodes = (node_ptr[flat + 1] - node_ptr[flat]).view(m, b)
    n_edges = (edge_ptr[flat + 1] - edge_ptr[flat]).view(m, b)
    node_total, edge_total = n_nodes.sum(1), n_edges.sum(1)  # (M,)
    n = int(node_total.max()) + 1  # at least one padding node each
    e = int(edge_total.max())
    # each graph's first node / edge within its member's padded rows
    node_off = torch.cumsum(n_nodes, 1) - n_nodes  # (M, b)
    edge_off = torch.cumsum(n_edges, 1) - n_edges
    member = torch.arange(m).unsqueeze(1)
    node_dst = _ranges(((member * n) + node_off).reshape(-1), n_nodes.reshape(-1))
    edge_dst = _ranges(((member * e) + edge_off).reshape(-1), n_edges.reshape(-1))
    node_src = _ranges(node_ptr[flat], n_nodes.reshape(-1))
    edge_src = _ranges(edge_ptr[flat], n_edges.reshape(-1))
    graph_of_node = torch.arange(m * b).repeat_interleave(n_nodes.reshape(-1))
    graph_of_edge = torch.arange(m * b).repeat_interleave(n_edges.reshape(-1))

    out_x = x.new_zeros(m * n, x.shape[1])
    out_x[node_dst] = x[node_src]
    out_batch = torch.full((m * n,), b, dtype=torch.long)
    out_batch[node_dst] = graph_of_node % b
    node_mask = torch.zeros(m * n, dtype=torch.bool)
    node_mask[node_dst] = True
    out_edges = torch.full((2, m * e), n - 1, dtype=torch.long)
    out_edges[:, edge_dst] = edge_index[:, edge_src] + node_off.reshape(-1)[graph_of_edge]
    d = 0 if edge_attr is None else edge_attr.shape[1]
    out_attr = x.new_zeros(m * e, d)
    if d:
        out_attr[edge_dst] = edge_attr[edge_src]
    return MemberGraphs(
        out_x.view(m, n, -1),
        out_edges.view(2, m, e).transpose(0, 1).contiguous(),
        out_attr.view(m, e, d),
        out_batch.view(m, n),
        node_mask.view(m, n),
        torch.ones(m, b, dtype=torch.bool),
    )


def _ranges(starts: Tensor, lengths: Tensor) -> Tensor:
    """``cat([arange(s, s + l) for s, l in zip(starts, lengths)])`` without a Python loop."""
    total = int(lengths.sum())
    ends = torch.cumsum(lengths, 0)
    offsets = torch.repeat_interleave(starts - (ends - lengths), lengths, output_size=total)
    return offsets + torch.arange(total)
