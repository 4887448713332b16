"""Tokenised single-cell models against logistic regression on PBMC 68k reduced.

700 cells, 10 cell types (``bulk_labels``), 765 genes; 5-fold stratified CV with the run
seed 0, so every row below sees the same folds (the folds of ``sequence_protocols.py
--protocol pbmc``). Deep models are ensembles of 3 (``--ensemble N``: N members, the row
named ``NAME/eN``), early-stopped on an inner validation part of each training fold. Rows:

- ``logistic`` (the ``linear`` baseline on the standardised table) and an MLP on the table;
- ``omics_groups`` (32 correlation groups) and ``gene_rank`` (each cell's 64 most expressed
  gene names, Cell2Sentence) with the transformer's defaults: the rows of the gap;
- ``gene_rank`` with ``value_bins``: each gene token also carries its expression level as a
  second embedding (scGPT-style; per-gene quantile bins fitted on the training cells of each
  fold), for the top 64 genes or the top 128 (about half of a cell's expressed genes);
- the same with ``training.pretrain``: masked-value pretraining on the training fold's cells
  (a share of the value embeddings hidden, their bins predicted) before fine-tuning;
- ``omics_groups`` variants, one change at a time: ``+prior`` (``training.decision:
  prior_correction``, fitted on the inner validation part), then with it ``+d64`` (d_model
  64, hidden 128), ``+dropout_3``, ``+wd1e-2`` (weight decay), ``+lr3e-3``, ``+mean``
  (mean pooling), 64 groups, and combinations (``+d128``, ``+layers1``: one block). "best
  epoch" is the median over members and folds of the epoch whose weights early stopping kept.

Each row runs in its own process, so its wall time and peak resident memory are its own.

    python benchmarks/scell_tokens.py [--rows NAME ...] [--epochs N] [--ensemble N] [--out DIR]

Writes ``benchmarks/results/scell_tokens.md`` and ``.json`` (rows already in the JSON are
kept unless rerun, so rows can be run in several invocations, also side by side: the JSON
is read again before each row is written).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    machine,
    machine_lines,
    markdown_table,
    write_keeping_reading,
)

COMMAND = "python benchmarks/scell_tokens.py"
DATA = "pbmc68k_reduced/rna"
TARGET = {"dataset": "pbmc68k_reduced", "column": "bulk_labels", "task": "multiclass"}
METRICS = ["accuracy", "macro_f1"]
READING = "## Reading"  # the hand-written part of the table's file, kept when rows are added


def _gene_rank(**options: object) -> dict:
    return {"dataset": DATA, "tokenizer": {"name": "gene_rank", **options}}


def _groups(n_groups: int = 32) -> dict:
    return {
        "dataset": DATA,
        "tokenizer": {"name": "omics_groups", "groups": "correlation", "n_groups": n_groups},
    }


PRIOR = {"decision": "prior_correction"}


def _groups_row(n_groups: int = 32, training: dict | None = None, **encoder: object) -> dict:
    """A row of ``omics_groups`` tokens into the transformer with some options changed."""
    spec = {"modality": _groups(n_groups), "encoder": {"name": "transformer", **encoder}}
    return spec if training is None else {**spec, "training": training}


# label -> (modality, encoder or None for the baseline row, training extras, baselines)
ROWS: dict[str, dict] = {
    "logistic": {"modality": {"dataset": DATA}, "encoder": None, "baselines": ["linear"]},
    "mlp": {
        "modality": {"dataset": DATA},
        "encoder": {"name": "mlp", "hidden": [128], "out_dim": 32, "dropout": 0.3},
    },
    "mlp+prior": {
        "modality": {"dataset": DATA},
        "encoder": {"name": "mlp", "hidden": [128], "out_dim": 32, "dropout": 0.3},
        "training": PRIOR,
    },
    "omics_groups+transformer": {"modality": _groups(), "encoder": {"name": "transformer"}},
    # one change at a time against the row above (the /e1 rows: first looks, one member)
    "omics_groups+transformer+prior": _groups_row(training=PRIOR),
    "omics_groups+transformer+mean": _groups_row(pooling="mean"),
    "omics_groups+transformer+nopos": _groups_row(positional="none"),
    "omics_groups64+transformer": _groups_row(64),
    "omics_groups+transformer+lr3e-3": _groups_row(training={"lr": 0.003}),
    # with the prior correction, one more change at a time
    "omics_groups+transformer+prior+lr3e-3": _groups_row(training={**PRIOR, "lr": 0.003}),
    "omics_groups+transformer+prior+dropout_3": _groups_row(training=PRIOR, dropout=0.3),
    "omics_groups+transformer+prior+wd1e-2": _groups_row(training={**PRIOR, "weight_decay": 0.01}),
    "omics_groups+transformer+prior+d64": _groups_row(training=PRIOR, d_model=64, hidden=128),
    "omics_groups64+transformer+prior": _groups_row(64, training=PRIOR),
    "omics_groups+transformer+prior+mean": _groups_row(training=PRIOR, pooling="mean"),
    # the changes that held up, together
    "omics_groups+transformer+prior+d64+dropout_3": _groups_row(
        training=PRIOR, d_model=64, hidden=128, dropout=0.3
    ),
    "omics_groups+transformer+prior+d64+patience20": _groups_row(
        training={**PRIOR, "patience": 20}, d_model=64, hidden=128
    ),
    "omics_groups+transformer+thresholds+d64": _groups_row(
        training={"decision": "thresholds"}, d_model=64, hidden=128
    ),
    "omics_groups+transformer+prior+d64+layers1": _groups_row(
        training=PRIOR, d_model=64, hidden=128, layers=1
    ),
    "omics_groups+transformer+prior+d128": _groups_row(training=PRIOR, d_model=128, hidden=256),
    "omics_groups+transformer+prior+d64+ls1": _groups_row(
        training={**PRIOR, "label_smoothing": 0.1}, d_model=64, hidden=128
    ),
    "omics_groups+transformer+prior+d64+lr3e-4": _groups_row(
        training={**PRIOR, "lr": 0.0003}, d_model=64, hidden=128
    ),
    "omics_groups+transformer+prior+d64+lr1e-4": _groups_row(
        training={**PRIOR, "lr": 0.0001}, d_model=64, hidden=128
    ),
    "omics_groups+transformer+prior+lr3e-4": _groups_row(training={**PRIOR, "lr": 0.0003}),
    "omics_groups+transformer+prior+d128+lr3e-4": _groups_row(
        training={**PRIOR, "lr": 0.0003}, d_model=128, hidden=256
    ),
    "omics_groups+transformer+prior+d64+lr3e-4+wd1e-2": _groups_row(
        training={**PRIOR, "lr": 0.0003, "weight_decay": 0.01}, d_model=64, hidden=128
    ),
    # the best row so far, with a share of its group tokens hidden in each training step
    "omics_groups+transformer+prior+d64+lr3e-4+td1": _groups_row(
        training={**PRIOR, "lr": 0.0003}, d_model=64, hidden=128, token_dropout=0.1
    ),
    "omics_groups+transformer+prior+d64+lr3e-4+td25": _groups_row(
        training={**PRIOR, "lr": 0.0003}, d_model=64, hidden=128, token_dropout=0.25
    ),
    # the best row so far with fewer, larger groups
    "omics_groups16+transformer+prior+d64+lr3e-4": _groups_row(
        16, training={**PRIOR, "lr": 0.0003}, d_model=64, hidden=128
    ),
    "omics_groups8+transformer+prior+d64+lr3e-4": _groups_row(
        8, training={**PRIOR, "lr": 0.0003}, d_model=64, hidden=128
    ),
    # the best row so far, its encoders first pretrained on the fold's training cells to
    # predict hidden gene groups (masked autoencoding)
    "omics_groups+transformer+prior+d64+lr3e-4+pretrain": _groups_row(
        training={**PRIOR, "lr": 0.0003, "pretrain": {"epochs": 20}}, d_model=64, hidden=128
    ),
    "omics_groups+transformer+prior+d64+lr3e-4+pretrain_m30": _groups_row(
        training={**PRIOR, "lr": 0.0003, "pretrain": {"epochs": 20, "mask_fraction": 0.3}},
        d_model=64,
        hidden=128,
    ),
    "gene_rank+transformer": {"modality": _gene_rank(), "encoder": {"name": "transformer"}},
    "gene_rank+values": {
        "modality": _gene_rank(value_bins=16),
        "encoder": {"name": "transformer"},
    },
    "gene_rank128+values": {
        "modality": _gene_rank(top_k=128, value_bins=16),
        "encoder": {"name": "transformer", "pooling": "mean"},
    },
    "gene_rank+values+pretrain": {
        "modality": _gene_rank(value_bins=16),
        "encoder": {"name": "transformer"},
        "training": {"pretrain": {"epochs": 10}},
    },
    "gene_rank128+values+pretrain": {
        "modality": _gene_rank(top_k=128, value_bins=16),
        "encoder": {"name": "transformer", "pooling": "mean"},
        "training": {"pretrain": {"epochs": 10}},
    },
}


def training(epochs: int, ensemble: int = 3, **extra: object) -> dict:
    """The fit options of ``sequence_protocols.py``'s pbmc protocol (same split and seed)."""
    return {
        "lr": 0.001,
        "epochs": epochs,
        "patience": 8,
        "batch_size": 64,
        "ensemble": ensemble,
        "seed": 0,
        "split": {"kind": "kfold", "folds": 5},
        **extra,
    }


def row_key(label: str, ensemble: int, epochs: int) -> str:
    """The table's name of a row: the label, with ``/e1`` etc. for other than 3 members and
    ``/90ep`` etc. for other than 60 epochs (30 for one member)."""
    key = label if ensemble == 3 else f"{label}/e{ensemble}"
    return key if epochs == (30 if ensemble == 1 else 60) else f"{key}/{epochs}ep"


def run_row(label: str, epochs: int, ensemble: int = 3) -> dict:
    """One row's leaderboard line (mean and sd over the 5 folds) and seconds."""
    import biozoo

    spec = ROWS[label]
    encoder = spec["encoder"]
    models = {} if encoder is None else {label: {"encoders": {"rna": encoder}}}
    raw = {
        "name": "pbmc",
        "data": {"modalities": {"rna": spec["modality"]}, "target": TARGET},
        "models": models,
        "training": training(epochs, ensemble, **spec.get("training", {})),
        "baselines": spec.get("baselines", []),
    }
    with tempfile.TemporaryDirectory() as tmp:
        raw["output"] = {"dir": tmp, "report": False, "latents": False, "save_models": False}
        t0 = time.perf_counter()
        result = biozoo.run(biozoo.parse_config(raw), out_dir=Path(tmp))
        seconds = time.perf_counter() - t0
    board = result.leaderboard
    row = board.iloc[0] if encoder is None else board[board["method"] == label].iloc[0]
    out = {f"{m}_{s}": float(row[f"{m}_{s}"]) for m in METRICS for s in ("mean", "sd")}
    if encoder is not None:  # each member's best epoch (0-based) on each fold
        fits = result.metrics["training"][label]
        out["best_epoch"] = [int(e) for fit in fits for e in fit["best_epoch"]]
    return {**out, "seconds": seconds, "epochs": epochs, "ensemble": ensemble, "config": raw}


def _child(label: str, epochs: int, ensemble: int, path: Path) -> tuple[dict, float, float]:
    """Runs one row in a fresh process: its result, wall seconds and peak RSS (MB)."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    cmd = [sys.executable, __file__, "--child", label, "--epochs", str(epochs)]
    cmd += ["--ensemble", str(ensemble), "--out", str(path)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"row {label!r} failed (status {status})")
    return json.loads(path.read_text()), wall, usage.ru_maxrss / 1024


def _median(epochs: list[int] | None) -> str:
    """Median best epoch (1-based) over members and folds; empty where not recorded."""
    return "" if not epochs else f"{float(np.median(epochs)) + 1:g}"


def report(rows: dict[str, dict], out: Path) -> None:
    order = sorted(rows, key=lambda k: -rows[k]["macro_f1_mean"])
    table = []
    for label in order:
        r = rows[label]
        table.append(
            [label]
            + [f"{r[f'{m}_mean']:.3f} ± {r[f'{m}_sd']:.3f}" for m in METRICS]
            + [r["epochs"], r.get("ensemble", 3), _median(r.get("best_epoch"))]
            + [f"{r['wall_s']:.0f}", f"{r['peak_rss_mb']:.0f}"]
        )
    header = ["row", *METRICS, "max epochs", "ensemble", "best epoch", "wall s", "peak RSS MB"]
    baselines = ("logistic", "mlp")
    tokenised = [r["macro_f1_mean"] for k, r in rows.items() if k.split("/")[0] not in baselines]
    best = max(tokenised, default=float("nan"))
    text = f"""# Tokenised single-cell models on PBMC 68k reduced

Command: `{COMMAND}` (rows: `--rows NAME ...`). {(__doc__ or "").split("Each row")[0].strip()}

{markdown_table(header, table)}

Target: macro F1 >= 0.72. Best tokenised row: {best:.3f} ({0.72 - best:+.3f} to go).

Configs of every row are in `scell_tokens.json`.

## Machine

{machine_lines(machine())}
"""
    out.mkdir(parents=True, exist_ok=True)
    write_keeping_reading(out / "scell_tokens.md", text, READING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--ensemble", type=int, default=3, help="members per deep model")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--child", choices=list(ROWS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.out.write_text(json.dumps(run_row(args.child, args.epochs, args.ensemble)))
        return
    path = args.out / "scell_tokens.json"
    for label in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            row, wall, peak = _child(label, args.epochs, args.ensemble, Path(tmp) / "row.json")
        key = row_key(label, args.ensemble, args.epochs)
        # read again: another invocation may have added rows while this one ran
        rows = json.loads(path.read_text())["rows"] if path.exists() else {}
        rows[key] = {**row, "wall_s": wall, "peak_rss_mb": peak}
        print(f"{key}: macro F1 {row['macro_f1_mean']:.3f}, {wall:.0f} s", file=sys.stderr)
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"rows": rows}, indent=1))
        report(rows, args.out)


if __name__ == "__main__":
    main()
