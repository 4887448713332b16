"""Coding DNA to protein: encoder-decoders with attention, greedy vs beam, and length.

The product path end to end. Training ORFs of ``5-20`` codons
(:func:`biozoo.data.sources.orfs.simulate_orfs`; targets translated by Biopython) go through
one biozoo run (``biozoo.run``: a hold-out split of 25 % for in-distribution test, early
stopping on 20 % of the rest) of two encoder-decoders:

- ``lstm``: bidirectional LSTM encoder, LSTM decoder with additive (Bahdanau) attention;
- ``transformer``: transformer encoder and decoder with cross-attention (sinusoidal
  positions on both sides, so positions past the training lengths have an encoding).

Then new ORFs of ``5-40`` codons, half of them longer than any training ORF, are decoded
with the saved run (``biozoo.train.predict.predict``) by greedy search and by beam search
(width 4; the decoder options are read from the run's config, so only ``search`` changes).
Scores: per-residue and exact accuracy, per codon-length band, from the task's own metric
(:func:`biozoo.tasks.sequence.sequence_scores`).

    OMP_NUM_THREADS=1 python benchmarks/seq2seq.py
    OMP_NUM_THREADS=1 python benchmarks/seq2seq.py --models transformer   # rerun one model

Writes ``benchmarks/results/seq2seq.md`` and ``seq2seq.json``. With ``--models`` only those
models are trained (in a run of their own, on the same data and split); the other models'
rows are carried over from the existing ``seq2seq.json`` and marked as such, and the rerun
models' previous rows are kept beside the new ones (``before``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402

import biozoo  # noqa: E402
from biozoo.data.sources.orfs import simulate_orfs  # noqa: E402
from biozoo.data.spec import PartSpec  # noqa: E402
from biozoo.tasks.sequence import sequence_scores  # noqa: E402
from biozoo.train.predict import predict  # noqa: E402
from biozoo.train.saved_run import SavedRun  # noqa: E402

RESULTS = Path(__file__).parent / "results"
COMMAND = "OMP_NUM_THREADS=1 python benchmarks/seq2seq.py"
SEED = 0
N_TRAIN, TRAIN_CODONS = 800, (5, 20)
N_TEST, TEST_CODONS = 300, (5, 40)
BANDS = ((5, 10), (11, 15), (16, 20), (21, 25), (26, 30), (31, 40))
MAX_NT = 3 * (TEST_CODONS[1] + 1)  # the longest test ORF, stop codon included
MODELS = {
    "lstm": {
        "default_encoder": {"name": "lstm", "d_model": 16, "hidden": 64, "bidirectional": True},
        "decoder": {"name": "attention_lstm", "hidden": 64, "attention_dim": 64},
    },
    "transformer": {
        "default_encoder": {
            "name": "transformer", "d_model": 64, "layers": 2, "hidden": 128, "heads": 4,
            "pooling": "mean", "dropout": 0.0,
        },
        "decoder": {"name": "transformer", "d_model": 64, "layers": 2, "hidden": 128,
                    "heads": 4, "dropout": 0.0},
    },
}  # fmt: skip
BEAM_WIDTH = 4


def config(tmp: Path, epochs: int, names: list[str]) -> dict:
    models = {
        name: {**MODELS[name], "decoder": {**MODELS[name]["decoder"],
                                           "max_len": TEST_CODONS[1] + 1}}
        for name in names
    }  # fmt: skip
    return {
        "name": "seq2seq",
        "data": {
            "modalities": {
                "dna": {
                    "path": str(tmp / "train_dna.csv"),
                    "kind": "sequence",
                    "sequence": {
                        "alphabet": "dna",
                        "cls_token": False,
                        "max_len": MAX_NT,
                        "width": "max_len",  # longer ORFs decoded later are not cut
                    },
                }
            },
            "target": {
                "path": str(tmp / "train_protein.csv"),
                "column": "protein",
                "task": "sequence",
            },
        },
        "models": models,
        "training": {
            "epochs": epochs,
            "patience": 10,
            "ensemble": 1,
            "lr": 5e-3,
            "schedule": {"name": "warmup_cosine", "warmup_epochs": 3},
            "batch_size": 32,
            "seed": SEED,
            "split": {"kind": "holdout", "test_size": 0.25, "folds": 2},
        },
        "baselines": [],
        "output": {"dir": str(tmp / "runs"), "report": False, "latents": False},
    }


def band_scores(true: pd.Series, pred: pd.Series) -> dict[str, float]:
    """Residue and exact accuracy overall and per codon-length band."""
    true, pred = true.astype(str).tolist(), pred.fillna("").astype(str).tolist()
    out = {
        k: sequence_scores(true, pred)[k] for k in ("residue_accuracy", "exact_accuracy")
    }
    for lo, hi in BANDS:
        keep = [i for i, t in enumerate(true) if lo <= len(t) <= hi]
        sub = sequence_scores([true[i] for i in keep], [pred[i] for i in keep])
        out[f"{lo}-{hi}"] = sub["residue_accuracy"]
        out[f"exact {lo}-{hi}"] = sub["exact_accuracy"]
    return out


def run(epochs: int, names: list[str]) -> dict:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="seq2seq-"))
    dna, protein = simulate_orfs(N_TRAIN, min_codons=TRAIN_CODONS[0],
                                 max_codons=TRAIN_CODONS[1], seed=SEED)  # fmt: skip
    dna.to_csv(tmp / "train_dna.csv")
    protein.to_csv(tmp / "train_protein.csv")
    new_dna, new_protein = simulate_orfs(
        N_TEST, min_codons=TEST_CODONS[0], max_codons=TEST_CODONS[1], seed=SEED + 1, prefix="new"
    )
    new_dna.to_csv(tmp / "new_dna.csv")
    result = biozoo.run(biozoo.parse_config(config(tmp, epochs, names)), out_dir=tmp / "runs")
    train_seconds = dict(result.metrics["seconds"])
    board = result.leaderboard.set_index("method")
    rows = {}
    for name in names:
        held_out = {k: float(board.loc[name, f"{k}_mean"])
                    for k in ("residue_accuracy", "exact_accuracy")}  # fmt: skip
        rows[name] = {"held_out": held_out, "train_seconds": train_seconds.get(name),
                      "epochs_run": [t["epochs_run"] for t in result.metrics["training"][name]]}
        for search in ("greedy", "beam"):
            saved = SavedRun(result.path)
            spec = saved.cfg.models[name]
            options = {**spec.decoder.options, "search": search, "beam_width": BEAM_WIDTH}
            spec.decoder = PartSpec(name=spec.decoder.name, **options)
            t = time.perf_counter()
            pred = predict(saved, {"dna": tmp / "new_dna.csv"}, model=name)
            seconds = time.perf_counter() - t
            decoded = pred.set_index("sample_id")["y_pred"].reindex(new_protein.index)
            scores = band_scores(new_protein, decoded)
            rows[name][search] = {**scores, "decode_seconds": seconds}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
    epochs_run = {m: [t["epochs_run"] for t in v] for m, v in result.metrics["training"].items()}
    return {
        "command": COMMAND + ("" if names == list(MODELS) else f" --models {' '.join(names)}"),
        "machine": machine(),
        "train": {"n": N_TRAIN, "codons": TRAIN_CODONS, "max_epochs": epochs,
                  "epochs_run": epochs_run},
        "test": {"n": N_TEST, "codons": TEST_CODONS, "beam_width": BEAM_WIDTH},
        "models": {name: MODELS[name] for name in names},
        "rows": rows,
        "wall_seconds": time.perf_counter() - t0,
        "cpu_seconds": cpu,
        "peak_memory_mb": peak_mb,
    }  # fmt: skip


def markdown(res: dict) -> str:
    f = "{:.3f}".format
    head = ["model", "search", "residue acc.", "exact acc."]
    head += [f"{lo}-{hi}" + (" *" if lo > TRAIN_CODONS[1] else "") for lo, hi in BANDS]
    head += ["decode s"]
    table, exact = [], []
    for name, row in res["rows"].items():
        for search in ("greedy", "beam"):
            r = row[search]
            table.append([name, search, f(r["residue_accuracy"]), f(r["exact_accuracy"])]
                         + [f(r[f"{lo}-{hi}"]) for lo, hi in BANDS]
                         + [f"{r['decode_seconds']:.1f}"])  # fmt: skip
            exact.append([name, search] + [f(r[f"exact {lo}-{hi}"]) for lo, hi in BANDS])
    held = [[n, f(r["held_out"]["residue_accuracy"]), f(r["held_out"]["exact_accuracy"]),
             f"{r['train_seconds']:.0f}",
             str(r.get("epochs_run") or res["train"]["epochs_run"].get(n)),
             _provenance(r)]
            for n, r in res["rows"].items()]  # fmt: skip
    return "\n".join(
        [
            "# Coding DNA to protein: encoder-decoders with attention",
            "",
            f"Command: `{res['command']}`. Wall time {res['wall_seconds']:.0f} s (CPU time "
            f"{res['cpu_seconds']:.0f} s, one thread, on a machine shared with other jobs: load "
            f"average {res['machine']['load_average']:.1f} on {res['machine']['cpus']} cores), "
            f"peak memory {res['peak_memory_mb']:.0f} MB (resident set of the whole process).",
            "",
            f"Training: {res['train']['n']} simulated ORFs of {TRAIN_CODONS[0]}-"
            f"{TRAIN_CODONS[1]} codons, one biozoo run, hold-out 25 %, early stopping on 20 % "
            f"of the rest (at most {res['train']['max_epochs']} epochs, patience 10, AdamW lr "
            "5e-3 with 3 warm-up epochs then cosine), one member per model. Decoding: "
            f"{res['test']['n']} new ORFs of {TEST_CODONS[0]}-{TEST_CODONS[1]} codons with "
            f"the saved run, greedy and beam search (width {res['test']['beam_width']}).",
            "",
            "## Held-out ORFs of the training lengths (greedy, the run's leaderboard)",
            "",
            markdown_table(
                ["model", "residue acc.", "exact acc.", "train s", "epochs", "run"], held
            ),
            "",
            *_before_after(res),
            "## New ORFs, per-residue accuracy by codon-length band",
            "",
            "Bands marked * are longer than every training ORF.",
            "",
            markdown_table(head, table),
            "",
            "## New ORFs, exact-sequence accuracy by codon-length band",
            "",
            markdown_table(["model", "search", *[f"{lo}-{hi}" for lo, hi in BANDS]], exact),
            "",
            "## Machine",
            "",
            machine_lines(res["machine"]),
            "",
        ]
    )


def _provenance(row: dict) -> str:
    carried = row.get("carried")
    if not carried:
        return "this one"
    when = f"{carried['date']}, {carried['wall_seconds']:.0f} s"
    return f"carried over from `{carried['command']}` ({when})"


def _before_after(res: dict) -> list[str]:
    """A table of the rerun models' previous and new scores (greedy), if any were kept."""
    f = "{:.3f}".format
    rows = []
    for name, row in res["rows"].items():
        before = row.get("before")
        if before is None:
            continue
        for label, r in (("before", before), ("after", row)):
            g = r["greedy"]
            rows.append([name, label, f(r["held_out"]["residue_accuracy"]),
                         f(g["residue_accuracy"]), f(g["5-10"]), f(g["16-20"]), f(g["31-40"]),
                         f(r["beam"]["residue_accuracy"])])  # fmt: skip
    if not rows:
        return []
    head = ["model", "", "held-out residue acc.", "new ORFs greedy", "5-10", "16-20",
            "31-40 *", "new ORFs beam"]  # fmt: skip
    return [
        "## Before and after (the rerun models' previous rows from the committed table)",
        "",
        markdown_table(head, rows),
        "",
    ]


def merge(res: dict, previous: dict | None, names: list[str]) -> dict:
    """With a subset of models rerun: carry the other models' rows over from ``previous``
    (marked ``carried``) and keep each rerun model's previous row as its ``before``."""
    if previous is None or names == list(MODELS):
        return res
    carried = {"command": previous["command"], "date": previous["machine"]["date"],
               "wall_seconds": previous["wall_seconds"]}  # fmt: skip
    rows = {}
    for name in MODELS:
        old = previous["rows"].get(name)
        if old is not None:
            old = {**old, "epochs_run": old.get("epochs_run",
                                                previous["train"]["epochs_run"].get(name))}
            old.pop("before", None)
        if name in res["rows"]:
            rows[name] = {**res["rows"][name], **({"before": old} if old else {})}
        elif old is not None:
            rows[name] = {**old, "carried": old.get("carried", carried)}
    return {**res, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    args = parser.parse_args()
    names = [name for name in MODELS if name in args.models]
    res = run(args.epochs, names)
    path = RESULTS / "seq2seq.json"
    res = merge(res, json.loads(path.read_text()) if path.exists() else None, names)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "seq2seq.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    (RESULTS / "seq2seq.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
