"""Nested search on GSE7390, measured: searched vs the demo's multi-module MLP vs the baselines.

Runs ``examples/search/gse7390.yaml`` (the demo's 5 stratified 70/30 outer splits; gex +
clin; the space: mlp or kan per module, widths, depths, dropout, fusion, optimizer, lr,
weight decay, epochs, patience) with a small budget: ``--trials`` per outer split on one
inner hold-out (30 % of the outer training part) by default. Writes
``benchmarks/results/search.md`` and ``.json``.

    OMP_NUM_THREADS=1 python benchmarks/search.py [--trials 6] [--inner-folds 0] [--workers N]

``--workers N`` runs the units and trials on a local Dask cluster of N processes and writes
``search-workers-N.md`` / ``.json`` instead (a parallel search may try other values).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import nullcontext
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
CONFIG = Path(__file__).parents[1] / "examples" / "search" / "gse7390.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--trials", type=int, default=6, help="trials per outer split")
    parser.add_argument(
        "--inner-folds", type=int, default=0, help="inner k-fold (0: one 70/30 hold-out)"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="local Dask worker processes (0: this process)"
    )
    args = parser.parse_args()
    cfg, space = load_search(CONFIG)
    inner = (
        {"kind": "kfold", "folds": args.inner_folds}
        if args.inner_folds
        else {"kind": "holdout", "repeats": 1, "test_size": 0.3}
    )
    raw = space.model_dump(mode="json") | {"trials": args.trials, "inner": inner}
    space = SearchConfig.model_validate(raw)
    command = f"OMP_NUM_THREADS=1 python benchmarks/search.py --trials {args.trials}"
    command += f" --inner-folds {args.inner_folds}"
    stem = "search"
    cluster = nullcontext(None)
    if args.workers:
        command += f" --workers {args.workers}"
        stem = f"search-workers-{args.workers}"
        cluster = dask_runner(workers=args.workers, threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with cluster as runner:  # the cluster's start-up is counted
            result = search(cfg, space, out_dir=Path(tmp), runner=runner)
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
    diff = paired["comparisons"].get(name, {})
    split_rows = []
    for split, s in summary["splits"].items():
        (model,) = best[split].values()
        encoders = ", ".join(
            f"{m}: {e['name']} {e.get('hidden')}" for m, e in model["encoders"].items()
        )
        split_rows.append(
            [
                split,
                f"{s['best_inner_score']:.3f}",
                f"{metrics['per_split'][name][list(summary['splits']).index(split)]['roc_auc']:.3f}",
                encoders,
                model["fusion"]["name"],
                ", ".join(f"{n} {k.lower()}" for k, n in s["trials"].items()),
                f"{s['seconds']:.0f}",
            ]
        )
    searched = float(np.mean([m["roc_auc"] for m in metrics["per_split"][name]]))
    text = f"""# Nested search on GSE7390 (gex + clin)

Command: `{command}` (config `examples/search/gse7390.yaml`, its `trials` and `inner`
replaced as the command says). 198 patients, target `e.tdm`, the demo's 5 stratified 70/30
outer splits. On each outer split the search saw the training part alone
({args.trials} trials, TPE seeded, median pruner, inner {inner["kind"]}); the best trial was
retrained on the whole training part and scored once on the test part. Whole run (search,
retraining, the demo's multi-module MLP and three baselines): {seconds:.0f} s.

## Held-out ROC AUC, mean ± sd over the 5 outer splits

{markdown_table(["method", "kind", "ROC AUC", "per split", "seconds"], rows)}

Paired difference {name} − {paired.get("reference")} (best baseline), Nadeau–Bengio corrected
resampled t, 95 %: {diff.get("mean", float("nan")):+.3f} [{diff.get("low", float("nan")):+.3f},
{diff.get("high", float("nan")):+.3f}]; wins {diff.get("wins")} of {diff.get("n_splits")} splits.

## The best trial of each outer split

{markdown_table(SPLIT_HEADER, split_rows)}

## What this does and does not show

- This is a small budget ({args.trials} trials per outer split, one inner split), far from
  the 50 trials with inner cross-validation a real search would spend; it measures what the
  machinery costs and gives, not the best a search can do.
- The goal of ≥ 0.66 ROC AUC on GSE7390 is {"met" if searched >= 0.66 else "not met"} here
  ({searched:.3f}).
- The inner score of the best trial is the maximum over trials on a small inner split, so it
  is optimistic; the outer test score is the honest one.

## Machine

{machine_lines(machine())}
"""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.md").write_text(text)
    record = {
        "command": command,
        "seconds": seconds,
        "leaderboard": result.leaderboard.to_dict(orient="records"),
        "per_split": metrics["per_split"],
        "paired": paired,
        "search": summary,
        "best_models": best,
        "machine": machine(),
    }
    (args.out / f"{stem}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(text)


if __name__ == "__main__":
    main()
