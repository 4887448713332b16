"""Graph readouts: node states ``[N, d]`` -> one vector per graph ``[G, d]``.

Thin wrappers over PyTorch Geometric's aggregation modules (``MeanAggregation``,
``MaxAggregation``, ``SumAggregation``, ``AttentionalAggregation``), called with the number of
graphs so that a graph with no nodes (an absent sample) still gets its row, filled with zeros.
All four are invariant to the order of the nodes within a graph.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn
from torch_geometric.nn.aggr import (
    AttentionalAggregation,
    MaxAggregation,
    MeanAggregation,
    SumAggregation,
)

__all__ = ["READOUTS", "GraphReadout"]

Readout = Literal["mean", "max", "sum", "attention"]
READOUTS: tuple[str, ...] = ("mean", "max", "sum", "attention")


class GraphReadout(nn.Module):
    """Pool the node states of each graph of a batch.

    ``attention`` is the gated global attention pooling of Li et al. (2016,
    https://arxiv.org/abs/1511.05493): ``sum_i softmax_i(gate(h_i)) * transform(h_i)``, with a
    small MLP gate and a linear transform.

    Args:
        kind: ``mean``, ``max``, ``sum`` or ``attention``.
        dim: width of the node states (used by ``attention`` only).

    Shape:
        - x: ``[N, dim]``; batch: ``[N]`` graph index of each node (sorted);
          output ``[num_graphs, dim]``, zeros for graphs with no nodes.
    """

    def __init__(self, kind: Readout, dim: int) -> None:
        super().__init__()
        if kind not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {kind!r}")
        self.kind = kind
        if kind == "mean":
            self.aggr: nn.Module = MeanAggregation()
        elif kind == "max":
            self.aggr = MaxAggregation()
        elif kind == "sum":
            self.aggr = SumAggregation()
        else:
            # no bias on the score: softmax ignores a shift, so it would get no gradient
            gate = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 1, bias=False))
            self.aggr = AttentionalAggregation(gate_nn=gate, nn=nn.Linear(dim, dim))

    def reset_parameters(self) -> None:
        self.aggr.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        return self.aggr(x, index=batch, dim_size=num_graphs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind!r})"
