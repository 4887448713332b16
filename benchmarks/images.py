"""Images: cnn2d, vit and the hybrid vit against the baselines; speed; where they look.

Two bundled data sets (:mod:`biozoo.data.sources.datasets`):

- ``image_patterns``: 240 simulated 32 x 32 images with a 5 x 5 plus (class 1) or saltire
  (class 0) planted anywhere, same intensity; each image's pattern box is known.
- ``nuclei``: 125 40 x 40 crops of stardist's fluorescent nuclei; is the nucleus touching
  another one?

Per data set, one biozoo run (``biozoo.run``: every method on the same 3 stratified folds,
seed 0) of ``cnn2d``, ``vit`` and the hybrid ``vit`` (``stem: conv``, patch 2 on the stem's
half-resolution map), each with its encoder defaults, ensembles of 1, at most ``--epochs``
epochs (early stopping, patience 4), AdamW lr 3e-3, batch 16; and the baselines on the image
view's flat features (intensity moments, histogram, HOG, GLCM): logistic regression and a
random forest. After training, ``biozoo explain`` maps every test image (attention rollout
for the vits, Grad-CAM for cnn2d and the hybrid's stem) and, on ``image_patterns``, the
fraction of each map's mass inside the planted 5 x 5 box is measured (a uniform map:
25 / 1024 = 0.024).

Speed, measured apart from the runs on the same image sizes: one training epoch of 160
images, batch 16 (AdamW, forward + backward + step, the encoder and a linear head, no
Lightning), its peak allocations (the profiler), the forward FLOPs per image
(``torch.utils.flop_counter``, the training-mode forward; a training step counted as 3x the
forward), hence the achieved GFLOP/s, against the peak of a timed 1024 x 1024 float32
``torch.matmul`` on this machine, all on one thread.

    OMP_NUM_THREADS=1 python benchmarks/images.py [--epochs 15]

Writes ``benchmarks/results/images.md`` and ``images.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table, peak_mb  # noqa: E402

import biozoo  # noqa: E402
from biozoo.data.sources.datasets import dataset_records  # noqa: E402
from biozoo.data.sources.image_patterns import mass_inside  # noqa: E402
from biozoo.encoders import ENCODERS  # noqa: E402
from biozoo.evaluate import format_mean_sd  # noqa: E402
from biozoo.inputs import ImageInput  # noqa: E402

COMMAND = "OMP_NUM_THREADS=1 python benchmarks/images.py"
RESULTS = Path(__file__).parent / "results"
MODELS = {
    "cnn2d": {"name": "cnn2d"},
    "vit": {"name": "vit"},
    "hybrid": {"name": "vit", "stem": "conv", "patch": 2},
}
DATASETS = {"image_patterns": (32, "label"), "nuclei": (40, "touching")}  # side, target
BASELINES = ["linear", "random_forest"]


def run_dataset(name: str, epochs: int, tmp: Path, models: dict | None = None) -> dict:
    """One biozoo run of every model (``models``, default :data:`MODELS`) and baseline on
    ``name``, explained afterwards."""
    raw = {
        "name": name,
        "data": {
            "modalities": {"image": {"kind": "image", "dataset": f"{name}/images"}},
            "target": {"dataset": name, "column": DATASETS[name][1], "task": "binary"},
        },
        "models": {k: {"encoders": {"image": dict(v)}} for k, v in (models or MODELS).items()},
        "training": {
            "epochs": epochs,
            "patience": 4,
            "ensemble": 1,
            "lr": 3e-3,
            "batch_size": 16,
            "seed": 0,
            "split": {"kind": "kfold", "folds": 3},
        },
        "baselines": BASELINES,
        "output": {"report": False, "latents": False, "attributions": True},
    }
    start = time.perf_counter()
    result = biozoo.run(biozoo.parse_config(raw), out_dir=tmp / "runs")
    seconds = time.perf_counter() - start
    rows = {}
    for method, r in result.leaderboard.set_index("method").iterrows():
        rows[method] = {
            "kind": r["kind"],
            "roc_auc_mean": float(r["roc_auc_mean"]),
            "roc_auc_sd": float(r["roc_auc_sd"]),
            "accuracy_mean": float(r["accuracy_mean"]),
            "seconds": float(result.metrics["seconds"].get(method, float("nan"))),
            "epochs": _epochs(result.path, method),
        }
    out = {"rows": rows, "run_seconds": seconds}
    if name == "image_patterns":
        out["mass_inside"] = _mass(result.path, name)
    return out


def _epochs(run: Path, method: str) -> float | None:
    """Mean epochs trained per member and split, from ``history/``."""
    files = sorted((run / "history" / method).glob("*.csv"))
    if not files:
        return None
    import pandas as pd

    counts = [pd.read_csv(f).groupby("member")["epoch"].max().add(1).mean() for f in files]
    return float(np.mean(counts))


def _mass(run: Path, name: str) -> dict[str, dict[str, float]]:
    """model -> method -> mean (sd) fraction of the map inside the planted box, test images."""
    masks, _ = dataset_records(f"{name}/masks")
    out: dict[str, dict[str, float]] = {}
    for path in sorted((run / "image_maps").glob("*/image.npz")):
        with np.load(path) as z:
            ids = [str(s) for s in z["sample_id"]]
            box = np.stack([masks[i] for i in ids]).astype(bool)
            for method in ("rollout", "grad_cam"):
                if method in z.files:
                    m = mass_inside(z[method], box)
                    out.setdefault(path.parent.name, {})[method] = float(m.mean())
                    out[path.parent.name][f"{method}_sd"] = float(m.std(ddof=1))
    out["uniform"] = {"chance": float(box.mean())}
    return out


def matmul_peak(n: int = 1024, reps: int = 10) -> float:
    """GFLOP/s of a float32 ``n x n`` matmul on the current thread count (best of 3)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, (time.perf_counter() - start) / reps)
    return 2 * n**3 / best / 1e9


def _stepper(enc, head, opt, x, y, batch: int):
    """One training step on rows ``i : i + batch`` (forward, backward, optimiser step)."""

    def step(i: int) -> None:
        opt.zero_grad(set_to_none=True)
        logit = head(enc(x[i : i + batch]))[:, 0]
        F.binary_cross_entropy_with_logits(logit, y[i : i + batch]).backward()
        opt.step()

    return step


def speed(side: int, n: int = 160, batch: int = 16) -> dict[str, dict[str, float]]:
    """Seconds per training epoch, peak MB of one step, forward FLOPs per image, GFLOP/s."""
    spec = ImageInput(1, side, side)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, side, side, generator=g)
    y = torch.randint(0, 2, (n,), generator=g).float()
    out = {}
    for label, opts in MODELS.items():
        torch.manual_seed(0)
        opts = dict(opts)
        enc = ENCODERS.get(opts.pop("name"))(spec, **opts)
        head = torch.nn.Linear(enc.out_dim, 1)
        params = [*enc.parameters(), *head.parameters()]

        step = _stepper(enc, head, torch.optim.AdamW(params, lr=1e-3), x, y, batch)

        def epoch(step=step) -> None:
            for i in range(0, n, batch):
                step(i)

        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            enc(x[:1])  # training mode: the attention kernel (and FLOPs) training runs
        step(0)  # warm-up
        start = time.perf_counter()
        epoch()
        per_epoch = time.perf_counter() - start
        flops = counter.get_total_flops()
        out[label] = {
            "seconds_per_epoch": per_epoch,
            "peak_mb_per_step": peak_mb(functools.partial(step, 0)),
            "mflop_forward_per_image": flops / 1e6,
            "gflop_per_s": 3 * flops * n / per_epoch / 1e9,
            "parameters": sum(p.numel() for p in params),
        }
    return out


def write(res: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "images.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = [
        "# Images: cnn2d, vit and the hybrid vit against the baselines",
        "",
        f"Command: `{COMMAND} --epochs {res['epochs']}` ({res['total_seconds']:.0f} s in all).",
        "",
        (__doc__ or "").split("\n\n", 1)[1].split("    OMP_NUM_THREADS")[0].strip(),
        "",
    ]
    for name, ds in res["datasets"].items():
        lines += [
            f"## {name}: ROC AUC on the same 3 folds",
            "",
            "Epochs: trained per fold (mean; early stopping). Seconds: the method's whole time "
            "in the run (3 folds, training with its validation, prediction); s/epoch: seconds / "
            "(3 x epochs).",
            "",
        ]
        rows = [
            [
                m,
                r["kind"],
                format_mean_sd(r["roc_auc_mean"], r["roc_auc_sd"]),
                f"{r['accuracy_mean']:.3f}",
                "" if r["epochs"] is None else f"{r['epochs']:.1f}",
                f"{r['seconds']:.0f}",
                "" if r["epochs"] is None else f"{r['seconds'] / (3 * r['epochs']):.2f}",
            ]
            for m, r in ds["rows"].items()
        ]
        header = ["method", "kind", "ROC AUC (sd over folds)", "accuracy", "epochs", "seconds",
                  "s/epoch"]  # fmt: skip
        lines += [markdown_table(header, rows), ""]
        if "mass_inside" in ds:
            mass = dict(ds["mass_inside"])
            chance = mass.pop("uniform")["chance"]
            lines += [
                f"Fraction of explanation mass inside the planted 5 x 5 box, mean (sd) over "
                f"the {name} test images (a uniform map: {chance:.3f}):",
                "",
            ]
            mrows = [
                [m, meth, f"{v[meth]:.3f} ({v[meth + '_sd']:.3f})", f"{v[meth] / chance:.1f}x"]
                for m, v in mass.items()
                for meth in ("rollout", "grad_cam")
                if meth in v
            ]
            lines += [markdown_table(["model", "map", "mass inside", "vs uniform"], mrows), ""]
    lines += [
        f"## Speed (one thread): matmul peak {res['matmul_gflops']:.1f} GFLOP/s",
        "",
        "One training epoch of 160 images, batch 16; FLOPs per image of the forward pass; the "
        "achieved rate counts a training step as 3 forwards.",
        "",
    ]
    srows = []
    for side, per in res["speed"].items():
        for m, s in per.items():
            srows.append(
                [
                    f"{side} x {side}",
                    m,
                    f"{s['parameters']:,}",
                    f"{s['mflop_forward_per_image']:.1f}",
                    f"{s['seconds_per_epoch']:.2f}",
                    f"{s['peak_mb_per_step']:.1f}",
                    f"{s['gflop_per_s']:.2f}",
                    f"{100 * s['gflop_per_s'] / res['matmul_gflops']:.0f} %",
                ]
            )
    header = ["image", "model", "parameters", "MFLOP/image", "s/epoch", "peak MB/step",
              "GFLOP/s", "of matmul peak"]  # fmt: skip
    lines += [markdown_table(header, srows), "", "## Reading", "", res.get("reading", ""), ""]
    lines += ["## Machine", "", machine_lines(res["machine"]), ""]
    lines += [f"- load average (1 min) after the runs: {res['load_after']:.2f}", ""]
    (RESULTS / "images.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    res: dict = {"epochs": args.epochs, "machine": machine()}
    res["matmul_gflops"] = matmul_peak()
    res["speed"] = {str(side): speed(side) for side, _ in DATASETS.values()}
    with tempfile.TemporaryDirectory() as tmp:
        res["datasets"] = {
            name: run_dataset(name, args.epochs, Path(tmp) / name) for name in DATASETS
        }
    res["load_after"] = os.getloadavg()[0]
    res["total_seconds"] = time.perf_counter() - start
    old = RESULTS / "images.json"
    if old.is_file():  # keep the reading written for the previous numbers until rewritten
        res["reading"] = json.loads(old.read_text()).get("reading", "")
    write(res)
    print((RESULTS / "images.md").read_text())


if __name__ == "__main__":
    main()
