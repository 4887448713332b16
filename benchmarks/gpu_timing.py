"""The demo's deep models trained on the CPU and on a CUDA GPU, in one process.

Trains the demo config (GSE7390 gex + clin, 5 splits, ensembles of 5; deep models only, the
demo's scikit-learn baselines do not use the device) once with ``training.accelerator: cpu``
and once with ``cuda``, after a warm-up that pays CUDA's start-up, and writes
``benchmarks/results/gpu_timing.md`` and ``.json``: each model's training and scoring
seconds on either device, their ratio, and how far the two runs' ROC AUC and predictions
differ (GPU kernels round differently, so the numbers are close, not identical).

    python benchmarks/gpu_timing.py

On a machine where torch sees no CUDA device it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402

from biozoo.api import run as train  # noqa: E402
from biozoo.config import RunConfig  # noqa: E402
from biozoo.presets import demo_config  # noqa: E402

COMMAND = "python benchmarks/gpu_timing.py"
ACCELERATORS = ("cpu", "cuda")


def config(accelerator: str) -> RunConfig:
    """The demo config, deep models only, trained on ``accelerator``, writing no report."""
    cfg = demo_config()
    return cfg.model_copy(
        update={
            "training": cfg.training.model_copy(update={"accelerator": accelerator}),
            "baselines": [],
            "output": cfg.output.model_copy(update={"report": False}),
        }
    )


def timed(accelerator: str, out: Path) -> dict[str, object]:
    """One run on ``accelerator``: wall seconds, per-model seconds, ROC AUC, predictions."""
    t0 = time.perf_counter()
    result = train(config(accelerator), out_dir=out / accelerator)
    seconds = time.perf_counter() - t0
    models = list(result.metrics["summary"])
    return {
        "seconds": seconds,
        "models": {m: result.metrics["seconds"][m] for m in models},
        "roc_auc": {m: result.metrics["summary"][m]["roc_auc"]["mean"] for m in models},
        "predictions": pd.read_csv(result.path / "predictions.csv"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(
            "gpu_timing: torch sees no CUDA device on this machine, so there is nothing to "
            "time; run it where torch.cuda.is_available() is True.",
            file=sys.stderr,
        )
        sys.exit(2)
    torch.zeros(1, device="cuda").sum().item()  # CUDA's start-up, outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        runs = {a: timed(a, Path(tmp)) for a in ACCELERATORS}
    cpu, gpu = runs["cpu"], runs["cuda"]
    p_cols = [c for c in cpu["predictions"].columns if c.startswith("p_")]
    max_diff = float((cpu["predictions"][p_cols] - gpu["predictions"][p_cols]).abs().max().max())
    rows = [
        [
            m,
            f"{cpu['models'][m]:.1f}",
            f"{gpu['models'][m]:.1f}",
            f"{cpu['models'][m] / gpu['models'][m]:.2f}",
            f"{cpu['roc_auc'][m]:.3f}",
            f"{gpu['roc_auc'][m]:.3f}",
        ]
        for m in cpu["models"]
    ]
    device = torch.cuda.get_device_name(0)
    header = ["model", "cpu s", "cuda s", "cpu / cuda", "ROC AUC cpu", "ROC AUC cuda"]
    table = markdown_table(header, rows)
    text = f"""# Demo training on the CPU and on a CUDA GPU

Command: `{COMMAND}`. The demo config (GSE7390 gex + clin, 5 stratified 70/30 splits,
ensembles of 5; deep models only, no baselines, no report) trained in one process with
`training.accelerator: cpu`, then `cuda` on {device}, after a warm-up that pays CUDA's
start-up. Seconds are each model's training and scoring over the 5 splits.

{table}

Whole run: {cpu["seconds"]:.1f} s on the CPU, {gpu["seconds"]:.1f} s with CUDA.
Largest difference between the two runs' predicted probabilities: {max_diff:.2e}.

## Machine

{machine_lines({**machine(), "gpu": device, "cuda": torch.version.cuda})}
"""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_timing.md").write_text(text)
    summary = {a: {k: v for k, v in r.items() if k != "predictions"} for a, r in runs.items()}
    (args.out / "gpu_timing.json").write_text(
        json.dumps(
            {
                "command": COMMAND,
                "runs": summary,
                "max_probability_difference": max_diff,
                "machine": {**machine(), "gpu": device, "cuda": torch.version.cuda},
            },
            indent=2,
        )
    )
    print(text)


if __name__ == "__main__":
    main()
