"""Graph neural network encoders on PyTorch Geometric: ChebNet, GCN, GAT, GIN.

Each encoder reads a PyG ``Batch`` (one graph per sample; an absent sample is a graph with no
nodes) and returns one embedding per graph. They share one layout:

```
node features --Linear--> h                                   # (N, hidden)
repeat `layers` times:  h = h + dropout(act(norm(conv(h))))    # residual=False: h = ...
readout (mean | max | sum | attention) over each graph's nodes # (G, hidden)
Linear -> embedding                                           # (G, out_dim)
```

Only the graph convolution differs:

- ``chebnet``: spectral filters, Chebyshev polynomials of the normalised Laplacian of order
  ``K`` (Defferrard et al., 2016, https://arxiv.org/abs/1606.09375) -- the lecture's
  ``p_w(L) x`` in a better-conditioned basis (see ``biozoo.layers.graph_filter``);
- ``gcn``: first-order spectral approximation (Kipf & Welling, 2017,
  https://arxiv.org/abs/1609.02907);
- ``gat``: attention over neighbours (Velickovic et al., 2018,
  https://arxiv.org/abs/1710.10903; ``v2`` for Brody et al., 2022,
  https://arxiv.org/abs/2105.14491), using edge features when there are any;
- ``gin``: sum aggregation with an MLP (Xu et al., 2019, https://arxiv.org/abs/1810.00826),
  GINE (Hu et al., 2020, https://arxiv.org/abs/1905.12265) when there are edge features.

``chebnet`` and ``gcn`` ignore edge features (their propagation takes a scalar edge weight
only).

Ensembles: ``gin`` is ``stackable``. Its members train together under ``torch.func.vmap``:
each member's own minibatch of graphs is padded to a common size
(:class:`~biozoo.data.batch.MemberGraphs`: padding nodes in an extra graph slot, reached by
no real edge; batch norm takes statistics over the real nodes only), and PyG's GIN/GINE
message passing (gather, then scatter-sum) runs under vmap. ``chebnet``, ``gcn`` and ``gat``
are ``stackable = False`` (their normalisation and self-loop handling index with boolean
masks, which vmap cannot batch): their members are trained one after the other.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator
from torch import Tensor, nn
from torch_geometric.nn import ChebConv, GATConv, GATv2Conv, GCNConv, GINConv, GINEConv
from torch_geometric.nn.norm import BatchNorm, GraphNorm

from biozoo.activations import ACTIVATIONS
from biozoo.encoders._registry import ENCODERS
from biozoo.inputs import GraphInput
from biozoo.layers.graph_ops import gin_messages
from biozoo.layers.readout import GraphReadout, Readout

__all__ = ["ChebNetEncoder", "GATEncoder", "GCNEncoder", "GINEncoder", "GraphEncoder"]

Norm = Literal["batch", "layer", "graph", "none"]


class _GraphOptions(BaseModel):
    """Options every graph encoder has."""

    model_config = ConfigDict(extra="forbid")
    hidden: PositiveInt = 64
    layers: PositiveInt = 3
    out_dim: PositiveInt = 64
    readout: Literal["mean", "max", "sum", "attention"] = "mean"
    norm: Norm = "batch"
    residual: bool = True
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    activation: str = "relu"

    @field_validator("activation")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ACTIVATIONS:
            raise ValueError(ACTIVATIONS.unknown_message(v))
        return v


class GraphEncoder(nn.Module):
    """The shared stack: input projection, ``layers`` convolutions, readout, projection.

    Subclasses set :meth:`_make_conv` (one convolution ``hidden -> hidden``) and
    :meth:`_call_conv`; they are registered under their own names.

    Args:
        input: the graphs' :class:`~biozoo.inputs.GraphInput` (node and edge widths).
        hidden: width of the node states.
        layers: number of graph convolutions (each adds one hop of context, ``K - 1`` hops
            for ChebNet).
        out_dim: size of the graph embedding.
        readout: ``mean``, ``max``, ``sum`` or ``attention`` pooling over a graph's nodes.
        norm: ``batch`` (BatchNorm over the nodes of the batch), ``layer`` (per node),
            ``graph`` (GraphNorm, per graph) or ``none``.
        residual: add each layer's output to its input.
        dropout: dropout on node states after each layer.
        activation: activation name (see ``biozoo.activations.ACTIVATIONS``).

    Shape:
        - x: a PyG ``Batch`` with ``x [N, F]``, ``edge_index [2, E_tot]``, ``edge_attr
          [E_tot, E]`` (when ``E > 0``), ``batch [N]`` and ``num_graphs = B``;
          mask: ``[B]`` bool or None; output ``[B, out_dim]``, zero for graphs with no nodes
          and where ``mask`` is False.
    """

    reads: ClassVar[tuple[type, ...]] = (GraphInput,)
    stackable: ClassVar[bool] = False
    uses_edge_features: ClassVar[bool] = False

    def __init__(
        self,
        input: GraphInput,
        *,
        hidden: int = 64,
        layers: int = 3,
        out_dim: int = 64,
        readout: Readout = "mean",
        norm: Norm = "batch",
        residual: bool = True,
        dropout: float = 0.1,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if not isinstance(input, GraphInput):
            raise ValueError(f"{type(self).__name__} reads graphs (a GraphInput), got {input!r}")
        self.node_dim = input.node_dim
        self.edge_dim = input.edge_dim if self.uses_edge_features else 0
        self.input, self.hidden, self.out_dim = input, hidden, out_dim
        self.residual, self.norm_kind = residual, norm
        self.embed = nn.Linear(self.node_dim, hidden)
        self.convs = nn.ModuleList(self._make_conv() for _ in range(layers))
        self.norms = nn.ModuleList(_make_norm(norm, hidden) for _ in range(layers))
        self.act = ACTIVATIONS.get(activation)()
        self.drop = nn.Dropout(dropout)
        self.readout = GraphReadout(readout, hidden)
        self.project = nn.Linear(hidden, out_dim)

    def _make_conv(self) -> nn.Module:
        raise NotImplementedError

    def _call_conv(
        self, conv: nn.Module, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None
    ) -> Tensor:
        return conv(h, edge_index)

    def _call_padded_conv(
        self, conv: nn.Module, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None
    ) -> Tensor:
        """The convolution on one member's padded graphs (under ``vmap``)."""
        return self._call_conv(conv, h, edge_index, edge_attr)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def node_states(self, x: Any) -> Tensor:
        """The node states after the last layer, ``[N, hidden]`` (before the readout)."""
        h = self.embed(x.x.to(self.embed.weight.dtype))
        batch, num_graphs = _batch_vector(x)
        edge_attr = None
        if self.edge_dim > 0:
            edge_attr = getattr(x, "edge_attr", None)
            if edge_attr is None:
                raise ValueError(f"{type(self).__name__} was built for edge features; none given")
            edge_attr = edge_attr.to(h.dtype)
        node_mask = getattr(x, "node_mask", None)
        slots = num_graphs + (node_mask is not None)  # padded members: one padding graph
        call = self._call_conv if node_mask is None else self._call_padded_conv
        for conv, norm in zip(self.convs, self.norms, strict=True):
            z = call(conv, h, x.edge_index, edge_attr)
            z = self.drop(self.act(_apply_norm(norm, z, batch, slots, node_mask)))
            h = h + z if self.residual else z
        return h

    def forward(self, x: Any, mask: Tensor | None = None) -> Tensor:
        batch, num_graphs = _batch_vector(x)
        padded = getattr(x, "node_mask", None) is not None
        if x.x.shape[0] == 0:  # every graph empty: nothing to propagate
            return self.project.weight.new_zeros(num_graphs, self.out_dim)
        h = self.node_states(x)
        pooled = self.readout(h, batch, num_graphs + padded)[:num_graphs]
        z = self.project(pooled)  # (B, out_dim)
        if padded:  # no bincount under vmap (its size depends on the data)
            graphs = torch.arange(num_graphs, device=batch.device)
            keep = (batch.unsqueeze(0) == graphs.unsqueeze(1)).any(1)
        else:
            keep = torch.bincount(batch, minlength=num_graphs) > 0
        if mask is not None:
            keep = keep & mask.to(torch.bool)
        return z * keep.unsqueeze(-1).to(z.dtype)

    def extra_repr(self) -> str:
        return f"node_dim={self.node_dim}, edge_dim={self.edge_dim}, out_dim={self.out_dim}"


def _batch_vector(x: Any) -> tuple[Tensor, int]:
    """The graph index of each node and the number of graphs (a lone ``Data`` is one graph)."""
    batch = getattr(x, "batch", None)
    slots = getattr(x, "graph_slots", None)
    if slots is not None:  # one member's slice of MemberGraphs
        return batch, int(slots.shape[0])
    if batch is None:
        return x.x.new_zeros(x.x.shape[0], dtype=torch.long), 1
    num_graphs = getattr(x, "num_graphs", None)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    return batch, int(num_graphs)


def _make_norm(kind: Norm, dim: int) -> nn.Module:
    if kind == "batch":
        return BatchNorm(dim, allow_single_element=True)
    if kind == "layer":
        return nn.LayerNorm(dim)
    if kind == "graph":
        return GraphNorm(dim)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be batch, layer, graph or none, got {kind!r}")


def _apply_norm(
    norm: nn.Module, z: Tensor, batch: Tensor, num_graphs: int, node_mask: Tensor | None = None
) -> Tensor:
    if isinstance(norm, GraphNorm):
        return norm(z, batch, num_graphs)
    if node_mask is not None and isinstance(norm, BatchNorm):
        return _masked_batch_norm(norm.module, z, node_mask)
    return norm(z)


def _masked_batch_norm(bn: nn.BatchNorm1d, z: Tensor, node_mask: Tensor) -> Tensor:
    """``bn`` over the rows where ``node_mask`` holds (padding rows take no part in the
    statistics), updating the running statistics as ``bn`` would on those rows alone."""
    w = node_mask.to(z.dtype).unsqueeze(-1)  # (N, 1)
    n = w.sum()
    if bn.training and z.shape[0] > 1:
        mean = (z * w).sum(0) / n
        var = ((z - mean).pow(2) * w).sum(0) / n
        if bn.track_running_stats and bn.running_mean is not None:
            momentum = 0.1 if bn.momentum is None else bn.momentum
            with torch.no_grad():
                bn.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                unbiased = var.detach() * n / (n - 1).clamp(min=1)
                bn.running_var.mul_(1 - momentum).add_(momentum * unbiased)
                bn.num_batches_tracked.add_(1)
    else:
        mean, var = bn.running_mean, bn.running_var
    out = (z - mean) / torch.sqrt(var + bn.eps)
    if bn.affine:
        out = out * bn.weight + bn.bias
    return out


@ENCODERS.register("chebnet")
class ChebNetEncoder(GraphEncoder):
    """ChebNet: Chebyshev spectral graph convolutions (PyG ``ChebConv``).

    Each layer is ``sum_{k<K} T_k(L~) h W_k`` with ``L~ = 2 L / lambda_max - I`` of the
    symmetric normalised Laplacian (``lambda_max = 2``, its upper bound), so a layer sees
    ``K - 1`` hops. Edge features are not used. Other options: :class:`GraphEncoder`.

    Args:
        K: Chebyshev filter size (number of polynomial terms; PyG's ``K``).
    """

    class Config(_GraphOptions):
        K: PositiveInt = 3

    def __init__(
        self,
        input: GraphInput,
        *,
        hidden: int = 64,
        layers: int = 3,
        out_dim: int = 64,
        readout: Readout = "mean",
        norm: Norm = "batch",
        residual: bool = True,
        dropout: float = 0.1,
        activation: str = "relu",
        K: int = 3,
    ) -> None:
        self.K = K
        super().__init__(
            input, hidden=hidden, layers=layers, out_dim=out_dim, readout=readout, norm=norm,
            residual=residual, dropout=dropout, activation=activation,
        )  # fmt: skip

    def _make_conv(self) -> nn.Module:
        return ChebConv(self.hidden, self.hidden, K=self.K, normalization="sym")

    def _call_conv(
        self, conv: nn.Module, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None
    ) -> Tensor:
        # lambda_max given: PyG would otherwise take a max over an empty edge list
        return conv(h, edge_index, lambda_max=2.0)


@ENCODERS.register("gcn")
class GCNEncoder(GraphEncoder):
    """GCN: ``D^-1/2 (A + I) D^-1/2 h W`` per layer (PyG ``GCNConv``); edge features unused.

    Options: :class:`GraphEncoder`.
    """

    class Config(_GraphOptions):
        pass

    def __init__(
        self,
        input: GraphInput,
        *,
        hidden: int = 64,
        layers: int = 3,
        out_dim: int = 64,
        readout: Readout = "mean",
        norm: Norm = "batch",
        residual: bool = True,
        dropout: float = 0.1,
        activation: str = "relu",
    ) -> None:
        super().__init__(
            input, hidden=hidden, layers=layers, out_dim=out_dim, readout=readout, norm=norm,
            residual=residual, dropout=dropout, activation=activation,
        )  # fmt: skip

    def _make_conv(self) -> nn.Module:
        return GCNConv(self.hidden, self.hidden)


@ENCODERS.register("gat")
class GATEncoder(GraphEncoder):
    """GAT: multi-head attention over each node's neighbours (PyG ``GATConv``/``GATv2Conv``).

    Heads are concatenated, each ``hidden // heads`` wide; edge features enter the attention
    scores. Other options: :class:`GraphEncoder`.

    Args:
        heads: attention heads (must divide ``hidden``).
        v2: use GATv2's dynamic attention instead of the original GAT's.
    """

    uses_edge_features = True

    class Config(_GraphOptions):
        heads: PositiveInt = 4
        v2: bool = False

    def __init__(
        self,
        input: GraphInput,
        *,
        hidden: int = 64,
        layers: int = 3,
        out_dim: int = 64,
        readout: Readout = "mean",
        norm: Norm = "batch",
        residual: bool = True,
        dropout: float = 0.1,
        activation: str = "relu",
        heads: int = 4,
        v2: bool = False,
    ) -> None:
        if hidden % heads:
            raise ValueError(f"gat: heads ({heads}) must divide hidden ({hidden})")
        self.heads, self.v2 = heads, v2
        super().__init__(
            input, hidden=hidden, layers=layers, out_dim=out_dim, readout=readout, norm=norm,
            residual=residual, dropout=dropout, activation=activation,
        )  # fmt: skip

    def _make_conv(self) -> nn.Module:
        conv = GATv2Conv if self.v2 else GATConv
        edge_dim = self.edge_dim or None
        return conv(self.hidden, self.hidden // self.heads, heads=self.heads, edge_dim=edge_dim)

    def _call_conv(
        self, conv: nn.Module, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None
    ) -> Tensor:
        return conv(h, edge_index, edge_attr=edge_attr)


@ENCODERS.register("gin")
class GINEncoder(GraphEncoder):
    """GIN: ``MLP((1 + eps) h_i + sum_j h_j)`` per layer (PyG ``GINConv``); with edge features,
    GINE's ``sum_j relu(h_j + W e_ij)`` (PyG ``GINEConv``). Other options:
    :class:`GraphEncoder`.

    Its readout defaults to ``sum`` (the other graph encoders': ``mean``): GIN's sum
    aggregation is meant to be read out by a sum (Xu et al.), and on molecular regression it
    is measured better (``benchmarks/molecule_gnn.py``: test RMSE, 3 random 80/20 splits,
    FreeSolv 1.03 vs 1.14, solubility 0.67 vs 0.71).

    Args:
        train_eps: learn ``eps`` instead of fixing it at 0.
    """

    uses_edge_features = True
    stackable: ClassVar[bool] = True

    class Config(_GraphOptions):
        readout: Readout = "sum"
        train_eps: bool = False

    def __init__(
        self,
        input: GraphInput,
        *,
        hidden: int = 64,
        layers: int = 3,
        out_dim: int = 64,
        readout: Readout = "sum",
        norm: Norm = "batch",
        residual: bool = True,
        dropout: float = 0.1,
        activation: str = "relu",
        train_eps: bool = False,
    ) -> None:
        self.train_eps = train_eps
        self._activation = activation
        super().__init__(
            input, hidden=hidden, layers=layers, out_dim=out_dim, readout=readout, norm=norm,
            residual=residual, dropout=dropout, activation=activation,
        )  # fmt: skip

    def _make_conv(self) -> nn.Module:
        h = self.hidden
        mlp = nn.Sequential(nn.Linear(h, h), ACTIVATIONS.get(self._activation)(), nn.Linear(h, h))
        if self.edge_dim > 0:
            return GINEConv(mlp, train_eps=self.train_eps, edge_dim=self.edge_dim)
        return GINConv(mlp, train_eps=self.train_eps)

    def _call_conv(
        self, conv: nn.Module, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None
    ) -> Tensor:
        if edge_attr is None:
            return conv(h, edge_index)
        return conv(h, edge_index, edge_attr)

    def _call_padded_conv(
        self, conv: nn.Module, h: Tensor, edge_index: Tensor, edge_attr: Tensor | None
    ) -> Tensor:
        # the same layer with row gathers / scatters that fold the member dim under vmap
        return gin_messages(conv, h, edge_index, edge_attr)
