"""GNNExplainer on a tiny single-modality graph model: masks of the right shape, files."""

import pytest
import torch
from torch_geometric.data import Batch

from biozoo.data.batch import empty_graph
from biozoo.data.molecule.featurize import ATOM_DIM, BOND_DIM, smiles_to_graph
from biozoo.data.molecule.part import MoleculeTransform
from biozoo.encoders.gnn import GINEncoder
from biozoo.errors import BiozooError
from biozoo.explain.graph import GraphModelFunction, explain_graphs
from biozoo.fusion import ConcatFusion
from biozoo.layers.mlp import MLP
from biozoo.model import MultiModalModel
from biozoo.tasks import TASKS

SMILES = ["CCO", "c1ccccc1O", None]


def tiny_model(n_outputs: int = 1, seed: int = 0) -> MultiModalModel:
    torch.manual_seed(seed)
    info = MoleculeTransform().input
    enc = GINEncoder(info, hidden=8, layers=2, out_dim=4)
    fusion = ConcatFusion({"mol": 4}, lambda d: MLP(d, [4], n_outputs))
    return MultiModalModel({"mol": enc}, fusion, ["mol"])


def test_the_function_view_matches_the_model():
    model = tiny_model().eval()
    graphs = [smiles_to_graph(s) for s in SMILES[:2]]
    b = Batch.from_data_list(graphs)
    f = GraphModelFunction(model, "mol")
    direct = model({"mol": b}, {"mol": torch.ones(2, dtype=torch.bool)})[0][:, 0, :]
    assert torch.allclose(f(b.x, b.edge_index, b.edge_attr, b.batch), direct)


@pytest.mark.parametrize(("task", "n_outputs"), [("regression", 1), ("multiclass", 3)])
def test_masks_have_one_value_per_node_and_edge(task, n_outputs, tmp_path):
    mode = TASKS.get(task).graph_explainer_mode
    graphs = [smiles_to_graph(s) for s in SMILES[:2]]
    graphs.append(empty_graph(ATOM_DIM, BOND_DIM))
    out = explain_graphs(
        [tiny_model(n_outputs, 0), tiny_model(n_outputs, 1)],
        graphs,
        modality="mol",
        mode=mode,
        sample_ids=["ethanol", "phenol", "absent"],
        smiles=SMILES,
        epochs=5,
        out_dir=tmp_path,
    )
    nodes, edges = out.nodes, out.edges
    for sid, g in zip(["ethanol", "phenol"], graphs, strict=False):
        assert (nodes.sample_id == sid).sum() == g.num_nodes
        assert (edges.sample_id == sid).sum() == g.edge_index.shape[1]
    assert "absent" not in set(nodes.sample_id)
    assert nodes.importance.between(0, 1).all() and edges.importance.between(0, 1).all()
    assert list(nodes[nodes.sample_id == "phenol"].atom) == ["C"] * 6 + ["O"]
    assert edges[["source", "target"]].iloc[:4].values.tolist() == [[0, 1], [1, 0], [1, 2], [2, 1]]
    assert (tmp_path / "node_importance.csv").is_file()
    assert (tmp_path / "edge_importance.csv").is_file()
    assert "<svg" in (tmp_path / "molecules" / "phenol.svg").read_text()


def test_multi_modal_models_are_refused_with_a_clear_message():
    model = tiny_model()
    model.modalities = ["mol", "clinical"]
    with pytest.raises(BiozooError, match="one graph modality only"):
        GraphModelFunction(model, "mol")
