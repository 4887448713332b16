"""The vit with axial attention against softmax (and linear) attention, by accuracy, on images.

Axial attention (:class:`biozoo.layers.axial_attention.AxialAttention`) needs a 2-D grid of
tokens, so it is compared where one exists: the image data sets of ``benchmarks/images.py``
(``image_patterns``: a planted plus vs saltire, 32 x 32; ``nuclei``: touching or not,
40 x 40), with that benchmark's run (:func:`images.run_dataset`: 3 stratified folds, seed 0,
ensembles of 1, at most ``--epochs`` epochs, patience 4, AdamW lr 3e-3, batch 16, the
flat-feature baselines beside, attention rollout after training). Models: the plain ``vit``
with its defaults (patch 4, so an 8 x 8 or 10 x 10 patch grid) and ``attention: softmax``,
``linear`` or ``axial``. On ``image_patterns`` the share of each rollout map's mass inside the
planted 5 x 5 box is measured as well (uniform: 0.024).

    OMP_NUM_THREADS=1 python benchmarks/vit_attention.py [--epochs 15]

Writes ``benchmarks/results/vit_attention.md`` and ``vit_attention.json``, one data set at a
time (a run cut by a time limit keeps the data sets it finished).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table, write_keeping_reading  # noqa: E402
from images import DATASETS, run_dataset  # noqa: E402

from biozoo.evaluate import format_mean_sd  # noqa: E402

COMMAND = "OMP_NUM_THREADS=1 python benchmarks/vit_attention.py"
RESULTS = Path(__file__).parent / "results"
READING = "## Reading (written by hand after the run)"
MODELS = {
    "vit_softmax": {"name": "vit"},
    "vit_linear": {"name": "vit", "attention": "linear"},
    "vit_axial": {"name": "vit", "attention": "axial"},
}


def write(res: dict) -> None:
    lines = [
        "# vit attention: softmax, linear and axial",
        "",
        (__doc__ or "").strip(),
        "",
        f"Command: `timeout 600 {COMMAND} --epochs {res['epochs']}`; wall time "
        f"{res['total_seconds']:.0f} s.",
    ]
    for name, data in res["datasets"].items():
        rows = [
            [method, format_mean_sd(r["roc_auc_mean"], r["roc_auc_sd"]),
             f"{r['accuracy_mean']:.3f}", f"{r['seconds']:.0f}",
             "" if r["epochs"] is None else f"{r['epochs']:.1f}"]
            for method, r in data["rows"].items()
        ]  # fmt: skip
        lines += [
            "",
            f"## {name}",
            "",
            markdown_table(["method", "ROC AUC", "accuracy", "seconds", "epochs"], rows),
        ]
        mass = data.get("mass_inside")
        if mass:
            cells = [
                [m, f"{v['rollout']:.3f} ± {v['rollout_sd']:.3f}"]
                for m, v in mass.items()
                if "rollout" in v
            ]
            chance = mass["uniform"]["chance"]
            lines += [
                "",
                f"Rollout mass inside the planted box (uniform {chance:.3f}):",
                "",
                markdown_table(["model", "mass inside"], cells),
            ]
    lines += ["", "## Machine", "", machine_lines(res["machine"])]
    out = RESULTS / "vit_attention.md"
    text = "\n".join(lines) + "\n"
    write_keeping_reading(out, text, READING)
    (RESULTS / "vit_attention.json").write_text(json.dumps(res, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    res: dict = {"epochs": args.epochs, "machine": machine() | {"torch_threads": 1}}
    res["datasets"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in DATASETS:
            res["datasets"][name] = run_dataset(name, args.epochs, Path(tmp) / name, MODELS)
            res["total_seconds"] = time.perf_counter() - start
            write(res)
            print(f"{name}: {json.dumps(res['datasets'][name]['rows'])}", flush=True)


if __name__ == "__main__":
    main()
