"""Whole runs on sequence, series and molecule modalities: train, predict, explain, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

import biozoo
from biozoo.explain.explain_run import explain_run
from biozoo.train.predict import data_for_prediction, predict
from biozoo.train.saved_run import load_run_config

AMINO = list("ACDEFGHIKLMNPQRSTVWY")
SMILES = [
    "CCO", "CCCC", "c1ccccc1", "CC(=O)O", "CCN", "CCCl", "CCCCO", "c1ccncc1", "CC(C)O", "OCCO",
    "CCOC", "CCCCCC", "c1ccc(O)cc1", "CC#N", "ClCCl", "CCBr", "CN(C)C", "CCS", "CCCCCCCC", "CCF",
]  # fmt: skip
TRAINING = {
    "epochs": 4,
    "patience": 4,
    "ensemble": 2,
    "batch_size": 16,
    "split": {"kind": "kfold", "folds": 2},
}


def _files(tmp) -> dict[str, str]:
    rng = np.random.default_rng(0)
    n = 40
    labels = np.arange(n) % 2
    seqs = []
    for y in labels:
        s = "".join(rng.choice(AMINO, int(rng.integers(8, 16))))
        if y:  # the motif decides the label
            p = int(rng.integers(0, len(s) - 3))
            s = s[:p] + "KWK" + s[p + 3 :]
        seqs.append(s)
    ids = [f"s{i}" for i in range(n)]
    (tmp / "pep.fasta").write_text(
        "".join(f">{i} peptide\n{s}\n" for i, s in zip(ids, seqs, strict=True))
    )
    pd.DataFrame({"id": ids, "label": labels}).to_csv(tmp / "labels.csv", index=False)
    visits = [
        {"id": i, "day": 90 * v + int(rng.integers(0, 30)), "a": rng.normal() + y * v, "b": 1.0}
        for i, y in zip(ids, labels, strict=True)
        for v in range(int(rng.integers(2, 5)))
    ]
    pd.DataFrame(visits).to_csv(tmp / "visits.csv", index=False)
    mids = [f"m{i}" for i in range(len(SMILES))]
    pd.DataFrame({"id": mids, "smiles": SMILES}).to_csv(tmp / "mols.csv", index=False)
    atoms = [Chem.MolFromSmiles(s).GetNumAtoms() for s in SMILES]
    pd.DataFrame({"id": mids, "y": atoms}).to_csv(tmp / "mol_y.csv", index=False)
    return {k: str(tmp / f) for k, f in
            [("pep", "pep.fasta"), ("labels", "labels.csv"), ("visits", "visits.csv"),
             ("mols", "mols.csv"), ("mol_y", "mol_y.csv")]}  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _files(tmp_path_factory.mktemp("records"))


def _run(raw: dict, tmp) -> biozoo.RunResult:  # type: ignore[name-defined]
    raw = {**raw, "training": TRAINING, "output": {"report": True}}
    return biozoo.run(biozoo.parse_config(raw), out_dir=tmp)


@pytest.fixture(scope="module")
def sequence_run(files, tmp_path_factory):
    raw = {
        "name": "peptides",
        "data": {
            "modalities": {"pep": {"path": files["pep"], "kind": "sequence"}},
            "target": {"path": files["labels"], "column": "label", "task": "binary"},
        },
        "models": {e: {"encoders": {"pep": {"name": e}}} for e in ("transformer", "lstm")},
        "baselines": ["linear"],
    }
    return _run(raw, tmp_path_factory.mktemp("runs"))


def test_a_sequence_run_scores_every_sample_and_predict_reproduces_it(sequence_run, files):
    board = sequence_run.leaderboard
    assert set(board["method"]) == {"transformer", "lstm", "logistic/ridge (CV)"}
    preds = pd.read_csv(sequence_run.path / "predictions.csv")
    assert preds.groupby("method")["sample_id"].nunique().eq(40).all()
    cfg = load_run_config(sequence_run.path)
    new = predict(
        sequence_run.path,
        data_for_prediction(cfg, {"pep": files["pep"]}),
        model="transformer",
        split="r0-f1",
    ).set_index("sample_id")
    old = preds[(preds["method"] == "transformer") & (preds["split"] == "r0-f1")]
    old = old.set_index("sample_id")
    np.testing.assert_allclose(new.loc[old.index, "p_1"], old["p_1"], atol=1e-6)


def test_explain_writes_attention_next_to_each_test_samples_tokens(sequence_run, files):
    run = sequence_run.path
    out = explain_run(run)
    assert out["attention"] == ["transformer"]  # the lstm has no attention
    tokens = pd.read_csv(run / "attention" / "transformer" / "pep.csv", dtype={"token": str})
    assert list(tokens.columns) == ["split", "sample_id", "position", "token", "received_attention"]
    seqs = {}
    for block in Path(files["pep"]).read_text().split(">")[1:]:
        head, seq = block.strip().split("\n")
        seqs[head.split()[0]] = seq
    assert tokens["sample_id"].nunique() == 40  # every sample, in the split that tested it
    for sid, rows in tokens.groupby("sample_id"):
        assert "".join(rows["token"].iloc[1:]) == seqs[sid]  # position 0: the record's [CLS]
        assert rows["received_attention"].between(0, 1).all()
        assert rows["received_attention"].sum() <= 1 + 1e-5
    maps = pd.read_csv(run / "attention_maps" / "transformer" / "pep.csv")
    assert maps["sample_id"].nunique() == 4
    sums = maps.groupby(["sample_id", "layer", "head", "query"])["weight"].sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)  # members' averaged rows still sum to 1
    assert explain_run(run)["attention"] == []  # already there: not recomputed
    html = biozoo.write_report(run).read_text()
    assert "transformer · pep" in html


def test_a_series_run_trains_every_sequence_encoder(files, tmp_path):
    raw = {
        "name": "visits",
        "data": {
            "modalities": {
                "labs": {
                    "path": files["visits"],
                    "kind": "series",
                    "series": {"sample_column": "id", "time_column": "day"},
                }
            },
            "target": {"path": files["labels"], "column": "label", "task": "binary"},
        },
        "models": {e: {"encoders": {"labs": {"name": e}}} for e in ("gru", "mamba", "cnn1d")},
        "baselines": ["linear"],
    }
    board = _run(raw, tmp_path).leaderboard.set_index("method")
    assert len(board) == 4 and board["roc_auc_mean"].notna().all()
    assert board.loc["logistic/ridge (CV)", "roc_auc_mean"] > 0.8  # the trend is learnable


def test_a_molecule_run_with_graph_explanations(files, tmp_path):
    raw = {
        "name": "molecules",
        "data": {
            "modalities": {"mol": {"path": files["mols"], "kind": "molecule"}},
            "target": {"path": files["mol_y"], "column": "y", "task": "regression"},
        },
        "models": {"gin": {"encoders": {"mol": {"name": "gin"}}}},
        "baselines": ["random_forest"],
    }
    result = _run(raw, tmp_path)
    assert set(result.leaderboard["method"]) == {"gin", "random forest"}
    out = explain_run(result.path, graph_samples=3)
    assert out["explanations"] == ["gin"]
    folder = result.path / "explanations" / "gin"
    nodes = pd.read_csv(folder / "node_importance.csv")
    assert nodes["sample_id"].nunique() == 3
    smiles = dict(zip([f"m{i}" for i in range(len(SMILES))], SMILES, strict=True))
    for sid, rows in nodes.groupby("sample_id"):
        mol = Chem.MolFromSmiles(smiles[sid])
        assert list(rows["atom"]) == [a.GetSymbol() for a in mol.GetAtoms()]
        assert (folder / "molecules" / f"{sid}.svg").read_text().startswith("<?xml")
    assert "explanations" in biozoo.write_report(result.path).read_text()


def test_a_gin_beside_an_mlp_over_the_same_molecules_descriptors(files, tmp_path):
    mols = {"path": files["mols"], "kind": "molecule"}
    descriptors = {**mols, "view": "descriptors", "molecule": {"fingerprint_bits": 32}}
    raw = {
        "name": "gin-descriptors",
        "data": {
            "modalities": {"mol": mols, "desc": descriptors},
            "target": {"path": files["mol_y"], "column": "y", "task": "regression"},
        },
        "models": {"gin+desc": {"encoders": {"mol": {"name": "gin"}, "desc": {"name": "mlp"}}}},
        "baselines": [],
        "training": TRAINING,
        "output": {"report": False},
    }
    result = biozoo.run(biozoo.parse_config(raw), out_dir=tmp_path)
    board = result.leaderboard.set_index("method")
    assert list(board.index) == ["gin+desc"] and np.isfinite(board["rmse_mean"]).all()
    preds = biozoo.predict(result.path, {"mol": files["mols"], "desc": files["mols"]})
    assert len(preds) == len(SMILES) and np.isfinite(preds["prediction"]).all()
