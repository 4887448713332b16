"""Molecules: reading SMILES, graph features, the fold transform, drawings; GraphSource."""

import inspect
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from rdkit import Chem
from torch_geometric.data import Batch, Data

from biozoo.data.batch import GraphSource, empty_graph
from biozoo.data.molecule.draw import molecule_drawing
from biozoo.data.molecule.featurize import (
    ATOM_DIM,
    ATOM_FEATURES,
    BOND_DIM,
    BOND_FEATURES,
    DESCRIPTOR_NAMES,
    smiles_to_graph,
)
from biozoo.data.molecule.part import MoleculeTransform
from biozoo.data.molecule.read import MoleculeOptions, read_smiles
from biozoo.errors import BiozooError
from biozoo.inputs import GraphInput

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def atom_col(group: str, value) -> int:
    """Column of ``value`` in the one-hot ``group`` of the atom features."""
    start = 0
    for name, choices in ATOM_FEATURES.items():
        if name == group:
            return start + choices.index(value)
        start += len(choices) + 1
    raise KeyError(group)


def bond_col(group: str, value) -> int:
    start = 0
    for name, choices in BOND_FEATURES.items():
        if name == group:
            return start + choices.index(value)
        start += len(choices) + 1
    raise KeyError(group)


def write(tmp_path, rows: list[tuple[str, str]], name="mols.csv"):
    path = tmp_path / name
    path.write_text("id,smiles\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return path


def modality(records, present=None):
    records = np.array(records, dtype=object)
    if present is None:
        present = np.array([r is not None for r in records])
    return SimpleNamespace(name="mol", records=records, present=present, source="test")


# ---------------------------------------------------------------- reading


def test_read_smiles_keys_by_id_and_skips_empty_cells(tmp_path):
    path = write(tmp_path, [("a", "CCO"), ("b", ""), ("c", " c1ccccc1 ")])
    s = read_smiles(path, options=MoleculeOptions(column="smiles"))
    assert list(s.index) == ["a", "c"] and s.index.name == "sample_id"
    assert list(s) == ["CCO", "c1ccccc1"]


def test_the_smiles_column_is_found_when_it_is_the_only_one(tmp_path):
    path = write(tmp_path, [("a", "CCO"), ("b", "N")])
    assert list(read_smiles(path, options=MoleculeOptions())) == ["CCO", "N"]
    wide = tmp_path / "wide.csv"
    wide.write_text("id,smiles,name\na,CCO,ethanol\n")
    with pytest.raises(BiozooError, match="2 columns besides the sample ids"):
        read_smiles(wide, options=MoleculeOptions())
    s = read_smiles(wide, id_column="name", options=MoleculeOptions(column="smiles"))
    assert list(s.index) == ["ethanol"]


def test_invalid_smiles_error_names_the_row_and_the_sample(tmp_path):
    path = write(tmp_path, [("a", "CCO"), ("b", "CC"), ("p3", "C1CC"), ("d", "XYZ")])
    with pytest.raises(BiozooError, match=r"row 3 \(sample 'p3'\).*'C1CC'.*1 more rows") as err:
        read_smiles(path, options=MoleculeOptions(column="smiles"), source="mols.csv")
    assert "mols.csv" in str(err.value)


def test_invalid_smiles_dropped_with_a_warning(tmp_path, caplog):
    path = write(tmp_path, [("a", "CCO"), ("b", "C1CC"), ("c", "N"), ("d", "XYZ")])
    with caplog.at_level(logging.WARNING, logger="biozoo.data.molecule.read"):
        s = read_smiles(path, options=MoleculeOptions(column="smiles", invalid="drop"))
    assert list(s.index) == ["a", "c"]
    assert "dropped 2 of 4 molecules" in caplog.text


def test_missing_column_and_duplicate_ids_are_clear_errors(tmp_path):
    path = write(tmp_path, [("a", "CCO"), ("a", "N")])
    with pytest.raises(BiozooError, match="SMILES column 'smi' is not in"):
        read_smiles(path, options=MoleculeOptions(column="smi"))
    with pytest.raises(BiozooError, match="sample id 'a' appears more than once"):
        read_smiles(path, options=MoleculeOptions(column="smiles"))
    with pytest.raises(BiozooError, match="does not exist"):
        read_smiles(tmp_path / "none.csv", options=MoleculeOptions(column="smiles"))


def test_options_reject_unknown_keys():
    with pytest.raises(ValueError):
        MoleculeOptions(column="smiles", colour="red")


# ---------------------------------------------------------------- graphs


def test_graph_layout_and_edges_in_both_directions():
    g = smiles_to_graph("CCO")
    assert g.x.shape == (3, ATOM_DIM) and g.edge_attr.shape == (4, BOND_DIM)
    assert g.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert g.x[2, atom_col("element", "O")] == 1 and g.x[2, atom_col("total_hs", 1)] == 1
    assert g.x[1, atom_col("degree", 2)] == 1 and g.x[0, atom_col("total_hs", 3)] == 1
    methane = smiles_to_graph("C")
    assert methane.x.shape == (1, ATOM_DIM) and methane.edge_index.shape == (2, 0)
    assert smiles_to_graph("CCO", add_hs=True).num_nodes == 9


def test_atom_and_bond_features_follow_chemistry():
    benzene = smiles_to_graph("c1ccccc1")
    aromatic_col = sum(len(v) + 1 for v in ATOM_FEATURES.values())
    assert torch.all(benzene.x[:, aromatic_col] == 1)  # aromatic
    assert torch.all(benzene.x[:, aromatic_col + 1] == 1)  # in ring
    assert torch.all(benzene.edge_attr[:, bond_col("type", Chem.BondType.AROMATIC)] == 1)
    ammonium = smiles_to_graph("[NH4+]")
    assert ammonium.x[0, atom_col("formal_charge", 1)] == 1
    assert ammonium.x[0, atom_col("total_hs", 3) + 1] == 1  # 4 Hs: the last slot
    chiral = smiles_to_graph("C[C@H](N)O")
    assert chiral.x[1, atom_col("chirality", Chem.ChiralType.CHI_TETRAHEDRAL_CCW)] == 1
    butene = smiles_to_graph("C/C=C/C")
    assert butene.edge_attr[2, bond_col("stereo", Chem.BondStereo.STEREOE)] == 1
    odd = smiles_to_graph("[Na+].[Cl-]")  # sodium is "other"
    assert odd.x[0, len(ATOM_FEATURES["element"])] == 1


def test_molecule_features_are_stable():
    """Golden values: a change to the featurisation must be deliberate."""
    g = smiles_to_graph(ASPIRIN)
    assert (ATOM_DIM, BOND_DIM) == (46, 13)
    assert g.x.sum().item() == pytest.approx(91.7209, abs=1e-3)
    assert g.x.sum(0)[:5].tolist() == [0, 0, 9, 0, 4]
    assert g.edge_attr.sum(0).tolist() == [10, 4, 0, 12, 0, 26, 0, 0, 0, 0, 0, 24, 12]


# ---------------------------------------------------------------- fold transform


def test_transform_gives_one_graph_per_sample_and_empty_ones_for_absent():
    t = MoleculeTransform()
    mod = modality(["CCO", None, ASPIRIN, "C"])
    src = t.transform(mod)
    assert isinstance(src, GraphSource) and len(src) == 4
    assert [g.num_nodes for g in src.graphs] == [3, 0, 13, 1]
    assert t.input == GraphInput(node_dim=ATOM_DIM, edge_dim=BOND_DIM)
    bad = modality(["CCO", "C1CC"])
    with pytest.raises(BiozooError, match="sample 2 of molecule modality 'mol'"):
        t.transform(bad)


def test_flat_features_fitted_on_the_training_part_only():
    mod = modality(["CCO", None, ASPIRIN, "C", "c1ccccc1O", "CCCCCC"])
    train = modality(["CCO", ASPIRIN, "C"])
    t = MoleculeTransform(fingerprint_bits=64).fit(train)
    X = t.flat(mod)
    assert X.shape == (6, 64 + len(DESCRIPTOR_NAMES)) and X.dtype == np.float32
    assert np.isfinite(X).all() and np.all(X[1] == 0)
    assert set(np.unique(X[:, :64])) <= {0.0, 1.0}
    # training rows are centred with their own statistics; other rows do not move them
    rows = X[[0, 2, 3], 64:]
    assert np.allclose(rows.mean(0)[rows.std(0) > 0], 0, atol=1e-5)
    t_other = MoleculeTransform(fingerprint_bits=64).fit(modality(["c1ccccc1O", "CCCCCC"]))
    assert not np.allclose(t_other.flat(mod), X)
    # each row depends only on itself
    assert np.array_equal(t.flat(modality([ASPIRIN])), X[[2]])
    assert len(t.flat_features) == X.shape[1]


def test_state_round_trip_and_config_matches_signature():
    mod = modality(["CCO", ASPIRIN, "C", None])
    t = MoleculeTransform(fingerprint_bits=32, fingerprint_radius=1).fit(mod)
    arrays, meta = t.state()
    back = MoleculeTransform.from_state(arrays, meta)
    assert np.array_equal(back.flat(mod), t.flat(mod))
    params = inspect.signature(MoleculeTransform).parameters
    fields = MoleculeTransform.Config.model_fields
    assert list(params) == list(fields)
    assert {k: p.default for k, p in params.items()} == {k: f.default for k, f in fields.items()}


def test_drawing_highlights_the_important_atoms():
    plain = molecule_drawing("c1ccccc1O")
    marked = molecule_drawing("c1ccccc1O", [0, 0, 0, 0, 0.2, 0.9, 1.0])
    assert plain.lstrip().startswith("<?xml") and "<svg" in marked
    assert marked != plain and "ellipse" in marked  # highlighted atoms are drawn as ellipses
    with pytest.raises(ValueError, match="3 atom weights for 7 atoms"):
        molecule_drawing("c1ccccc1O", [1, 2, 3])


# ---------------------------------------------------------------- GraphSource


def test_graph_source_take_and_repeat_shapes():
    graphs = [smiles_to_graph(s) for s in ["C", "CC", "CCC", "CCCC", "CCCCC"]]
    graphs.append(empty_graph(ATOM_DIM, BOND_DIM))
    src = GraphSource(graphs)
    part = src.take(torch.tensor([4, 0, 5]))
    assert isinstance(part, GraphSource) and [g.num_nodes for g in part.graphs] == [5, 1, 0]
    assert len(src.take(np.array([True, False, True, False, False, False]))) == 2
    index = torch.tensor([[0, 1, 2, 5], [3, 3, 4, 1], [5, 5, 0, 2]])
    batches = src.take(index)
    assert len(batches) == 3 and all(b.num_graphs == 4 for b in batches)
    assert batches[1].x.shape[0] == 4 + 4 + 5 + 2 and batches[2].x.shape[0] == 1 + 3
    assert torch.equal(batches[1].get_example(2).x, graphs[4].x)
    full = src.repeat(3)
    assert len(full) == 3 and full[0] is full[2] and full[0].num_graphs == 6
    assert full[0].x.shape == (15, ATOM_DIM) and full[0].edge_attr.shape == (2 * 10, BOND_DIM)


def test_graph_source_batches_equal_pyg_collation():
    smiles = ["C", "CCO", ASPIRIN, "c1ccccc1O", "C/C=C/C", "[NH4+]"]
    graphs = [smiles_to_graph(s) for s in smiles] + [empty_graph(ATOM_DIM, BOND_DIM)]
    src = GraphSource(graphs)
    part = src.take(np.array([6, 2, 3, 1]))  # shares the packed tensors
    for source, rows, picked in [
        (src, [2, 6, 0, 2, 4], [2, 6, 0, 2, 4]),
        (part, [1, 0, 3, 2], [2, 6, 1, 3]),
    ]:
        ours = source.batch(np.array(rows))
        ref = Batch.from_data_list([graphs[i] for i in picked])
        for key in ("x", "edge_index", "edge_attr", "batch", "ptr"):
            assert torch.equal(ours[key], ref[key]), key
        assert ours.num_graphs == ref.num_graphs
        assert torch.equal(ours.get_example(2).edge_index, ref.get_example(2).edge_index)
    odd = [Data(x=torch.ones(2, 1), edge_index=torch.tensor([[0], [1]]), y=torch.ones(1))] * 2
    assert GraphSource(odd).batch().y.tolist() == [1.0, 1.0]  # other attributes: PyG's path
