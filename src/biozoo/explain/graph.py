"""Explanatory subgraphs of graph models: which nodes and edges a prediction rests on.

PyTorch Geometric's :class:`~torch_geometric.explain.Explainer` with
:class:`~torch_geometric.explain.algorithm.GNNExplainer` (Ying et al., 2019,
https://arxiv.org/abs/1903.03894) learns, for one graph at a time, a soft mask over its nodes
and one over its edges that keep the model's prediction while being small; a node's (edge's)
importance is its mask value in ``[0, 1]`` (0 for nodes and edges the prediction does not
depend on at all). For molecules the atoms' importances are drawn on the structure
(:func:`~biozoo.data.molecule.draw.molecule_drawing`).

The model is the one used at training time, a :class:`~biozoo.model.MultiModalModel` with
its fusion's output layer, seen as a function of ``(x, edge_index, edge_attr, batch)`` that
returns the raw outputs (logit(s), or the standardised regression value) by
:class:`GraphModelFunction`. Limitation: this covers models of a single graph modality only;
in a multi-modal model the other modalities' inputs would have to be held fixed per sample,
which is not done here (use ``biozoo.explain.attributions`` for table modalities).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.explain import Explainer, GNNExplainer

from biozoo.errors import BiozooError
from biozoo.train.device import module_device

__all__ = ["GraphExplanation", "GraphModelFunction", "explain_graphs"]


class GraphModelFunction(nn.Module):
    """A single-graph-modality model as ``f(x, edge_index, edge_attr, batch) -> [G, n_out]``.

    Args:
        model: a :class:`~biozoo.model.MultiModalModel` whose only modality is ``modality``
            (anything called as ``model(inputs, present)`` returning ``(outputs [G, K, o],
            view_mask)`` works).
        modality: the graph modality's name.

    Shape:
        - x ``[N, F]``, edge_index ``[2, E]``, edge_attr ``[E, D]`` or None, batch ``[N]``
          or None (one graph); output ``[G, n_outputs]``: the first view's raw outputs.
    """

    def __init__(self, model: nn.Module, modality: str) -> None:
        super().__init__()
        names = list(getattr(model, "modalities", [modality]))
        if names != [modality]:
            raise BiozooError(
                f"graph explanations cover models of one graph modality only, but this model "
                f"reads {', '.join(map(repr, names))}; train a model on {modality!r} alone to "
                f"explain it."
            )
        self.model, self.modality = model, modality

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        batch: Tensor | None = None,
    ) -> Tensor:
        if batch is None:
            batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        num_graphs = int(batch.max()) + 1 if batch.numel() else 1
        graphs = Batch(x=x, edge_index=edge_index, batch=batch)
        if edge_attr is not None:
            graphs.edge_attr = edge_attr
        graphs._num_graphs = num_graphs
        present = torch.ones(num_graphs, dtype=torch.bool, device=x.device)
        outputs = self.model({self.modality: graphs}, {self.modality: present})[0]
        return outputs[:, 0, :]  # (G, n_outputs): one view


@dataclass
class GraphExplanation:
    """Node and edge importances of the explained samples.

    Attributes:
        nodes: one row per node: ``sample_id``, ``node``, ``importance`` (and ``atom``, the
            element, for molecules).
        edges: one row per directed edge: ``sample_id``, ``edge``, ``source``, ``target``,
            ``importance``.
        drawings: sample id -> SVG of the molecule with its important atoms highlighted.
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    drawings: dict[str, str] = field(default_factory=dict)

    def write(self, folder: Path | str) -> list[Path]:
        """Write ``node_importance.csv``, ``edge_importance.csv`` and ``molecules/*.svg``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / "node_importance.csv", folder / "edge_importance.csv"]
        self.nodes.to_csv(written[0], index=False)
        self.edges.to_csv(written[1], index=False)
        if self.drawings:
            (folder / "molecules").mkdir(exist_ok=True)
        for sample, svg in self.drawings.items():
            path = folder / "molecules" / f"{_safe_name(sample)}.svg"
            path.write_text(svg)
            written.append(path)
        return written


def explain_graphs(
    models: nn.Module | Sequence[nn.Module],
    graphs: Sequence[Data],
    *,
    modality: str,
    mode: str,
    sample_ids: Sequence[str] | None = None,
    smiles: Sequence[str | None] | None = None,
    add_hs: bool = False,
    epochs: int = 100,
    lr: float = 0.01,
    seed: int = 0,
    out_dir: Path | str | None = None,
) -> GraphExplanation:
    """GNNExplainer node and edge masks for chosen samples of a graph model.

    Args:
        models: a trained single-graph-modality model, or the members of an ensemble (their
            masks are averaged).
        graphs: the samples' graphs (e.g. ``[source[i] for i in chosen]`` of a
            :class:`~biozoo.data.batch.GraphSource`); empty graphs (absent samples) are skipped.
        modality: the graph modality's name in the model.
        mode: PyG's explainer mode of the model's raw output (the task's
            ``graph_explainer_mode``: ``regression``, ``binary_classification`` or
            ``multiclass_classification``).
        sample_ids: one id per graph (default ``"0", "1", ...``).
        smiles: the molecules' SMILES, to add atom symbols and SVG drawings.
        add_hs: the graphs were built with explicit hydrogens.
        epochs: GNNExplainer optimisation steps per graph.
        lr: GNNExplainer learning rate.
        seed: seed of the masks' random initialisation (the global RNG is left untouched).
        out_dir: when given, the CSVs and drawings are written there (see
            :meth:`GraphExplanation.write`).

    Returns:
        A :class:`GraphExplanation`.
    """
    members = [models] if isinstance(models, nn.Module) else list(models)
    ids = [str(i) for i in range(len(graphs))] if sample_ids is None else list(map(str, sample_ids))
    if len(ids) != len(graphs) or (smiles is not None and len(smiles) != len(graphs)):
        raise ValueError("sample_ids and smiles must have one entry per graph")
    explainers = [
        Explainer(
            GraphModelFunction(m, modality),
            algorithm=GNNExplainer(epochs=epochs, lr=lr),
            explanation_type="model",
            node_mask_type="object",
            edge_mask_type="object",
            model_config={"mode": mode, "task_level": "graph", "return_type": "raw"},
        )
        for m in members
    ]
    node_rows, edge_rows, drawings = [], [], {}
    for k, (sid, g) in enumerate(zip(ids, graphs, strict=True)):
        if g.num_nodes == 0:
            continue
        node_imp, edge_imp = _masks(explainers, g, seed + k)
        nodes = pd.DataFrame({"sample_id": sid, "node": np.arange(len(node_imp))})
        nodes["importance"] = node_imp
        src, dst = g.edge_index.numpy()
        edges = pd.DataFrame(
            {"sample_id": sid, "edge": np.arange(len(src)), "source": src, "target": dst}
        )
        edges["importance"] = edge_imp
        if smiles is not None and smiles[k] is not None:
            from biozoo.data.molecule.draw import atom_symbols, molecule_drawing

            nodes["atom"] = atom_symbols(smiles[k], add_hs=add_hs)
            drawings[sid] = molecule_drawing(smiles[k], node_imp, add_hs=add_hs)
        node_rows.append(nodes)
        edge_rows.append(edges)
    out = GraphExplanation(
        _concat(node_rows, ["sample_id", "node", "importance"]),
        _concat(edge_rows, ["sample_id", "edge", "source", "target", "importance"]),
        drawings,
    )
    if out_dir is not None:
        out.write(out_dir)
    return out


def _masks(explainers: list[Explainer], g: Data, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Node ``[N]`` and edge ``[E]`` importances of one graph, averaged over the members
    (on the members' device)."""
    device = module_device(explainers[0].model)
    kwargs = {}
    if getattr(g, "edge_attr", None) is not None:
        kwargs["edge_attr"] = g.edge_attr.to(device)
    x, edge_index = g.x.to(device), g.edge_index.to(device)
    nodes, edges = [], []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for explainer in explainers:
            e = explainer(x, edge_index, **kwargs)
            nodes.append(e.node_mask.detach().reshape(-1))
            edges.append(e.edge_mask.detach().reshape(-1))
    return torch.stack(nodes).mean(0).cpu().numpy(), torch.stack(edges).mean(0).cpu().numpy()


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"
