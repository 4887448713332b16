"""Optimizers on the demo protocol: AdamW, Lion, SOAP, AdamP (and AdaHessian when possible).

The demo run (GSE7390 gex + clin, 5 stratified 70/30 splits, ensembles of 5, early stopping)
with only ``training.optimizer``, ``training.lr`` and ``training.weight_decay`` changed, deep
models only (the baselines do not depend on the optimizer; see demo_protocol.md). Each
optimizer runs ``--repeats`` times; the AUCs of repeats must be identical (checked) and the
wall time is their median. Writes ``benchmarks/results/optimizers.md`` and ``.json``.

    OMP_NUM_THREADS=1 python benchmarks/optimizers.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402

from biozoo.api import run as train  # noqa: E402
from biozoo.evaluate import format_mean_sd  # noqa: E402
from biozoo.presets import demo_config  # noqa: E402

COMMAND = "OMP_NUM_THREADS=1 python benchmarks/optimizers.py"

# name: (lr, weight_decay, why). The demo's AdamW setting is lr 1e-3, weight decay 1e-2.
SETTINGS = {
    "adamw": (1e-3, 1e-2, "the demo's setting"),
    "lion": (3e-4, 3e-2, "Lion's paper: lr 3-10x smaller, weight decay 3-10x larger (3x)"),
    "soap": (1e-3, 1e-2, "AdamW's setting (SOAP is Adam in a rotated basis)"),
    "adamp": (1e-3, 1e-2, "AdamW's setting (AdamP's paper keeps Adam's)"),
    "adahessian": (1e-2, 1e-2, "AdaHessian's curvature-scaled steps take a larger lr"),
}


def _run_once(name: str, lr: float, wd: float, out: Path):
    cfg = demo_config()
    cfg.baselines = []
    cfg.output.latents = False
    cfg.output.save_models = False
    cfg.training.optimizer, cfg.training.lr, cfg.training.weight_decay = name, lr, wd
    t0 = time.perf_counter()
    result = train(cfg, out_dir=out)
    return result, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, record = [], {}
    for name, (lr, wd, why) in SETTINGS.items():
        runs = []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeats):
                runs.append(_run_once(name, lr, wd, Path(tmp)))
        first = runs[0][0]
        identical = all(r.metrics["per_split"] == first.metrics["per_split"] for r, _ in runs)
        seconds = statistics.median(s for _, s in runs)
        entry = {
            "lr": lr,
            "weight_decay": wd,
            "why": why,
            "identical_repeats": identical,
            "seconds_median": seconds,
            "seconds_all": [s for _, s in runs],
            "models": {},
        }
        cells = []
        for model in ("multimodule_mlp", "early_fusion_mlp"):
            row = first.leaderboard.set_index("method").loc[model]
            per_split = [m["roc_auc"] for m in first.metrics["per_split"][model]]
            epochs = [t["epochs_run"] for t in first.metrics["training"][model]]
            entry["models"][model] = {
                "roc_auc_mean": row["roc_auc_mean"],
                "roc_auc_sd": row["roc_auc_sd"],
                "roc_auc_per_split": per_split,
                "epochs_run": epochs,
                "seconds": first.metrics["seconds"][model],
            }
            cells += [
                format_mean_sd(row["roc_auc_mean"], row["roc_auc_sd"]),
                " ".join(f"{a:.2f}" for a in per_split),
                f"{statistics.mean(epochs):.0f}",
            ]
        total_epochs = sum(sum(m["epochs_run"]) for m in entry["models"].values())
        entry["ms_per_epoch"] = 1e3 * seconds / total_epochs
        rows.append(
            [
                name,
                f"{lr:g}",
                f"{wd:g}",
                *cells,
                f"{seconds:.1f} ({min(entry['seconds_all']):.0f}-{max(entry['seconds_all']):.0f})",
                f"{entry['ms_per_epoch']:.0f}",
            ]
        )
        record[name] = entry
    header = [
        "optimizer",
        "lr",
        "weight decay",
        "multimodule ROC AUC",
        "per split",
        "epochs",
        "early fusion ROC AUC",
        "per split",
        "epochs",
        "seconds (both models, 5 splits): median (range)",
        "ms per epoch",
    ]
    settings = "\n".join(
        f"- {n}: lr {lr:g}, weight decay {wd:g}: {why}." for n, (lr, wd, why) in SETTINGS.items()
    )
    identical = all(e["identical_repeats"] for e in record.values())
    max_spread = max(max(e["seconds_all"]) / min(e["seconds_all"]) for e in record.values())
    text = f"""# Optimizers on the demo protocol

Command: `{COMMAND}`. The demo run (GSE7390 gex + clin, target `e.tdm`, 5 stratified 70/30
splits, ensembles of 5 members, at most 300 epochs with early stopping after 30 without
improvement) with only the optimizer, its learning rate and weight decay changed; deep models
only. Wall time is the median of {args.repeats} identical runs of both models over the
5 splits (one torch thread); repeats gave identical AUCs: **{identical}**.
SOAP and AdamP run one optimizer per member (train/plan.py passes `members=M` to
`build_optimizer`); AdaHessian runs with `backward(create_graph=True)`.

{markdown_table(header, rows)}

Settings:

{settings}

## Reading

With 138 training patients per split, the splits' standard deviation (0.05 to 0.08 in
demo_protocol.md) is larger than any difference between optimizers here, so this table
separates none of them on accuracy; it shows that each runs end to end on the stacked
ensemble and what it costs. Epochs is the mean number of epochs run before early stopping;
ms per epoch divides the wall time by all epochs run (both models, 5 splits, 5 members
trained together), so it separates an optimizer's cost per step from how long it trains.
SOAP and AdamP pay for running one optimizer per member (5 small optimizers and weight
copies per step instead of one batched update); Lion trains longer at its smaller rate.
The machine was shared with other jobs (see the load average below): identical runs differed
by up to {max_spread:.1f}x in wall time, so only differences well beyond that mean anything,
and absolute times are inflated (the demo's deep models take about 17 s on an idle machine,
see demo_protocol.md).

## Machine

{machine_lines(machine())}
"""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "optimizers.md").write_text(text)
    (args.out / "optimizers.json").write_text(
        json.dumps(
            {
                "command": COMMAND,
                "results": record,
                "machine": machine(),
            },
            indent=2,
        )
    )
    print(text)


if __name__ == "__main__":
    main()
