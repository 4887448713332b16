"""The demo protocol, measured: GSE7390 gex + clin, 5 stratified 70/30 splits, ensembles of 5.

Runs the demo config twice (the second run checks that identical runs give identical
numbers), and writes ``benchmarks/results/demo_protocol.md`` and ``.json``.

    python benchmarks/demo_protocol.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402

from biozoo.api import run as train  # noqa: E402
from biozoo.evaluate import format_mean_sd  # noqa: E402
from biozoo.presets import demo_config  # noqa: E402

COMMAND = "python benchmarks/demo_protocol.py"
METRICS = ["roc_auc", "pr_auc", "balanced_accuracy", "macro_f1"]

REFERENCE = """\
For reference, figures measured elsewhere on the same protocol
(`StratifiedShuffleSplit(5, test_size=0.3, random_state=0)`, target `e.tdm`, gex + clin) and
quoted, not re-measured, here: xgboost with default settings 0.66 ± 0.06, logistic regression
with a cross-validated penalty 0.63 ± 0.07, random forest 0.61; flexynesis 1.1.14 (DirectPred,
intermediate fusion, 5 HPO trials) 0.62 ± 0.10 averaged over three runs at about 30 s per
split, its result on one split ranging from 0.49 to 0.77 across identical runs."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(2):
            t0 = time.perf_counter()
            result = train(demo_config(), out_dir=Path(tmp))
            runs.append((result, time.perf_counter() - t0))
    (first, seconds), (second, seconds2) = runs
    identical = first.metrics["per_split"] == second.metrics["per_split"]
    board = first.leaderboard
    rows = []
    for _, row in board.iterrows():
        method = row["method"]
        per_split = [m["roc_auc"] for m in first.metrics["per_split"][method]]
        rows.append(
            [method, row["kind"]]
            + [format_mean_sd(row[f"{m}_mean"], row[f"{m}_sd"]) for m in METRICS]
            + [" ".join(f"{a:.2f}" for a in per_split), f"{first.metrics['seconds'][method]:.1f}"]
        )
    member_rows = []
    for model, splits in first.metrics["members"].items():
        singles = [s["roc_auc"]["mean"] for s in splits]
        ens = [m["roc_auc"] for m in first.metrics["per_split"][model]]
        member_rows.append(
            [
                model,
                f"{np.mean(singles):.3f}",
                f"{np.mean(ens):.3f}",
                f"{np.mean(ens) - np.mean(singles):+.3f}",
            ]
        )
    best_base = board[board["kind"] == "baseline"].iloc[0]
    best_deep = board[board["kind"] == "deep"].iloc[0]
    spread = board["roc_auc_mean"].max() - board["roc_auc_mean"].min()
    sd_lo, sd_hi = board["roc_auc_sd"].min(), board["roc_auc_sd"].max()
    text = f"""# Demo protocol: GSE7390, gex + clin

Command: `{COMMAND}` (the same run as `biozoo demo`; config `examples/gse7390_demo.yaml`).
198 patients, target `e.tdm` (51 with distant metastasis), 5 stratified 70/30 splits
(`StratifiedShuffleSplit(5, test_size=0.3, random_state=0)`), deep models as ensembles of 5
members per split, baselines on the same splits with the same fold-fitted transforms.

{
        markdown_table(
            [
                "method",
                "kind",
                "ROC AUC",
                "PR AUC",
                "balanced accuracy",
                "macro F1",
                "ROC AUC per split",
                "seconds (5 splits)",
            ],
            rows,
        )
    }

Whole run: {seconds:.1f} s (second identical run: {seconds2:.1f} s).
Two identical runs gave identical per-split metrics: **{identical}**.

Ensemble against its members (mean ROC AUC over splits):

{markdown_table(["model", "single member", "ensemble of 5", "gain"], member_rows)}

## Where the deep models stand

Best deep model: {best_deep["method"]} at {
        format_mean_sd(best_deep["roc_auc_mean"], best_deep["roc_auc_sd"])
    }; best baseline: {best_base["method"]} at
{format_mean_sd(best_base["roc_auc_mean"], best_base["roc_auc_sd"])}. With 138 training
patients (about 36 events) per split, the mean ROC AUC of all methods spans {spread:.3f}, while
a method's standard deviation over the splits is {sd_lo:.3f} to {sd_hi:.3f}: these five splits
cannot separate the methods. The demo's
architecture (small encoders: 16 hidden units for expression, 4 for clinical) was picked among
eight variants tried on these same splits, all of which scored between 0.60 and 0.63, so the
deep models' figures carry a small optimistic selection bias that the baselines' do not.

{REFERENCE}

## Machine

{machine_lines(machine())}
"""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "demo_protocol.md").write_text(text)
    (args.out / "demo_protocol.json").write_text(
        json.dumps(
            {
                "command": COMMAND,
                "seconds": seconds,
                "identical_reruns": identical,
                "summary": first.metrics["summary"],
                "per_split": first.metrics["per_split"],
                "machine": machine(),
            },
            indent=2,
        )
    )
    print(text)


if __name__ == "__main__":
    main()
