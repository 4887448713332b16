"""Coding DNA to protein end to end: config -> run folder -> cross-attention -> predict.

A small attention LSTM trained on short ORFs learns the genetic code well enough that its
cross-attention is the codon-to-residue diagonal: residue ``i`` attends mostly to
nucleotides ``3i .. 3i + 2``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biozoo.api import parse_config, predict
from biozoo.api import run as train
from biozoo.data.sources.orfs import simulate_orfs
from biozoo.errors import BiozooError
from biozoo.tasks import SequenceTask
from biozoo.tasks.sequence_target import TargetVocabulary

pytestmark = pytest.mark.slow


def _config(tmp, **training) -> dict:
    return {
        "name": "orfs",
        "data": {
            "modalities": {
                "dna": {
                    "path": str(tmp / "dna.csv"),
                    "kind": "sequence",
                    "sequence": {"alphabet": "dna", "cls_token": False},
                }
            },
            "target": {"path": str(tmp / "protein.csv"), "column": "protein", "task": "sequence"},
        },
        "models": {
            "lstm": {
                "default_encoder": {"name": "lstm", "d_model": 16, "hidden": 32,
                                    "bidirectional": True},
                "decoder": {"name": "attention_lstm", "hidden": 32, "attention_dim": 32,
                            "max_len": 10},
            }
        },
        "training": {
            "epochs": 25, "ensemble": 1, "lr": 0.01, "batch_size": 16, "patience": 25,
            "split": {"kind": "holdout", "test_size": 0.2, "folds": 2}, **training,
        },
        "baselines": [],
        "output": {"dir": str(tmp / "runs"), "latents": False},
    }  # fmt: skip


@pytest.fixture(scope="module")
def orf_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("orfs")
    dna, protein = simulate_orfs(400, min_codons=3, max_codons=6, seed=0)
    dna.to_csv(tmp / "dna.csv")
    protein.to_csv(tmp / "protein.csv")
    return tmp, train(parse_config(_config(tmp)))


def test_the_trained_model_translates(orf_run):
    _, result = orf_run
    board = result.leaderboard.set_index("method")
    assert board.loc["lstm", "residue_accuracy_mean"] > 0.6
    preds = pd.read_csv(result.path / "predictions.csv")
    assert {"y_true", "y_pred"} <= set(preds.columns)
    assert preds["y_pred"].astype(str).str.startswith("M").mean() > 0.9


def test_cross_attention_is_the_codon_diagonal(orf_run):
    _, result = orf_run
    maps = pd.read_csv(result.path / "cross_attention" / "lstm.csv")
    assert set(maps["key_token"]) <= set("ACGT")
    residues = maps[maps["query_token"] != "[EOS]"]
    codon = (residues["key"] // 3) == residues["query"]
    by_residue = residues.groupby(["sample_id", "query"])
    mass = residues[codon].groupby(["sample_id", "query"])["weight"].sum()
    assert mass.mean() > 0.5  # most of each residue's attention is on its own codon
    # Uniform attention would put 3 / (number of nucleotides) on the codon; the map is only a
    # handful of residues, so its argmax must beat that chance twice over, not a fixed rate.
    chance = (3 / by_residue["key"].count()).mean()
    top = residues.loc[by_residue["weight"].idxmax()]
    assert ((top["key"] // 3) == top["query"]).mean() > 2 * chance
    page = (result.path / "report.html").read_text()
    assert 'data-plot="cross-attention-0"' in page and 'data-plot="accuracy-by-length"' in page


def test_predict_decodes_new_orfs_with_the_saved_run(orf_run):
    tmp, result = orf_run
    dna, protein = simulate_orfs(6, min_codons=3, max_codons=6, seed=9, prefix="new")
    dna.to_csv(tmp / "new.csv")
    new = predict(result.path, {"dna": tmp / "new.csv"}, model="lstm")
    assert list(new.columns) == ["sample_id", "model", "split", "y_pred"] and len(new) == 6
    scores = SequenceTask("protein").metrics(protein.to_numpy(), _one_hot(new["y_pred"]))
    assert scores["residue_accuracy"] > 0.5


def _one_hot(strings: pd.Series) -> np.ndarray:
    task = SequenceTask("protein")
    ids = TargetVocabulary(task.letters).transform(strings.astype(str).to_numpy())
    return np.eye(task.n_outputs(None), dtype=np.float32)[ids]


def test_a_sequence_target_needs_decoders_and_no_baselines(tmp_path):
    raw = _config(tmp_path)
    raw["models"]["lstm"].pop("decoder")
    with pytest.raises(BiozooError, match="models.lstm needs a 'decoder'"):
        parse_config(raw)
    raw = _config(tmp_path)
    raw["baselines"] = ["linear"]
    (tmp_path / "dna.csv").write_text("sample_id,dna\na,ATGTAA\nb,ATGTGA\n")
    (tmp_path / "protein.csv").write_text("sample_id,protein\na,M\nb,M\n")
    with pytest.raises(BiozooError, match="baseline 'linear' has no estimator for task 'sequence'"):
        train(parse_config(raw))
