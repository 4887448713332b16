"""KAN training-step speed: ours against pykan 0.2.8 (as it comes and after ``speed()``) and
an MLP of the same widths, side by side in one run, on one thread.

One step = forward + MSE loss + backward, batch 256, widths [64, 64, 1], grid 5, order 3
(``--batch``, ``--widths`` change the shape). The models take turns in rounds (so drifting
machine load hits them alike); each figure is the median over rounds of the mean step time
within a round, wall clock and thread CPU time. Peak memory: one step under
``torch.profiler.profile(profile_memory=True)``, the maximum of the running sum of every op's
own CPU allocations minus frees in start order (tensors alive before the step not counted).
``--sweep`` adds KAN / MLP ratios over batch {32, 256, 1024} x width {16, 64, 256}
(widths ``[w, w, 1]``, no pykan). Writes ``benchmarks/results/kan_speed.{md,json,png}``.

    OMP_NUM_THREADS=1 python benchmarks/kan_speed.py --sweep
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    machine,
    machine_lines,
    markdown_table,
    peak_mb,
    write_keeping_reading,
)

from biozoo.layers.kan import KAN  # noqa: E402

WIDTHS, BATCH, GRID, ORDER = [64, 64, 1], 256, 5, 3
SWEEP_BATCHES, SWEEP_WIDTHS = (32, 256, 1024), (16, 64, 256)
HEADER = [
    "model",
    "ms/step (median)",
    "ms/step (min)",
    "CPU ms/step",
    "vs ours",
    "peak MB/step",
    "rounds x inner",
]
SWEEP_HEADER = [
    "batch",
    "widths",
    "MLP ms",
    "KAN ms",
    "KAN adapted ms",
    "KAN / MLP",
    "adapted / MLP",
    "KAN / MLP CPU",
    "adapted / MLP CPU",
    "peak MB MLP / KAN / adapted",
]

READING = "## Reading"  # written by hand below the tables; kept when they are regenerated
REFERENCE = """\
Quoted, not re-measured here (same shape, one thread, a 2-core machine): pykan 0.2.8 about
830 ms per step as it comes and 28 ms after `speed()`; efficient-kan about 8 ms; fast-kan
(RBF bases) 2.6 ms; the MLP 0.23 ms."""


def _pykan(tmp: str, speed: bool) -> nn.Module:
    from kan import KAN as PyKAN  # pykan's import name

    with contextlib.redirect_stdout(io.StringIO()):  # it prints checkpoint messages
        # a copy: pykan rewrites the width list it is given in place
        model = PyKAN(width=list(WIDTHS), grid=GRID, k=ORDER, seed=0, ckpt_path=f"{tmp}/model")
        return model.speed() if speed else model


def _models(tmp: str, with_pykan: bool, batch: int, widths: list[int]) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    x = torch.randn(batch, widths[0])
    adapted = KAN(widths, grid=GRID, order=ORDER)
    adapted.update_grid(x)  # quantile grid: the general (non-uniform) code path
    models: dict[str, nn.Module] = {
        "biozoo KAN": KAN(widths, grid=GRID, order=ORDER),
        "biozoo KAN, adapted grid": adapted,
        "MLP (SiLU)": nn.Sequential(
            nn.Linear(widths[0], widths[1]), nn.SiLU(), nn.Linear(widths[1], widths[2])
        ),
    }
    if with_pykan:
        models["pykan 0.2.8, speed()"] = _pykan(tmp, speed=True)
        models["pykan 0.2.8, as it comes"] = _pykan(tmp, speed=False)
    return models


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    return run


def _inner(run: Callable[[], None], budget_s: float = 0.05) -> int:
    """Steps per round so that a round takes about ``budget_s``."""
    w = time.perf_counter()
    run()
    return max(1, min(50, round(budget_s / max(time.perf_counter() - w, 1e-6))))


def _sweep(rounds: int) -> list[dict]:
    out = []
    for batch in SWEEP_BATCHES:
        for width in SWEEP_WIDTHS:
            widths = [width, width, 1]
            x, y = torch.randn(batch, width), torch.randn(batch, 1)
            models = _models("", False, batch, widths)
            steps = {name: _step(m, x, y) for name, m in models.items()}
            inner = {name: _inner(run) for name, run in steps.items()}
            times = _time(steps, rounds, inner)
            med = {n: statistics.median(t["wall_ms"]) for n, t in times.items()}
            cpu = {n: statistics.median(t["cpu_ms"]) for n, t in times.items()}
            peak = {n: peak_mb(run) for n, run in steps.items()}
            out.append(
                {"batch": batch, "widths": widths, "wall_ms": med, "cpu_ms": cpu, "peak_mb": peak}
            )
    return out


def _sweep_rows(sweep: list[dict]) -> list[list[str]]:
    k, a, m = "biozoo KAN", "biozoo KAN, adapted grid", "MLP (SiLU)"
    rows = []
    for r in sweep:
        w, c, p = r["wall_ms"], r["cpu_ms"], r["peak_mb"]
        rows.append(
            [
                str(r["batch"]),
                str(r["widths"]),
                f"{w[m]:.3f}",
                f"{w[k]:.3f}",
                f"{w[a]:.3f}",
                f"{w[k] / w[m]:.1f}x",
                f"{w[a] / w[m]:.1f}x",
                f"{c[k] / c[m]:.1f}x",
                f"{c[a] / c[m]:.1f}x",
                f"{p[m]:.2f} / {p[k]:.2f} / {p[a]:.2f}",
            ]
        )
    return rows


def _time(
    steps: dict[str, Callable[[], None]], rounds: int, inner: dict[str, int]
) -> dict[str, dict[str, list[float]]]:
    out = {name: {"wall_ms": [], "cpu_ms": []} for name in steps}
    for run in steps.values():  # warm-up
        run()
    for _ in range(rounds):
        for name, run in steps.items():
            n = inner[name]
            w, c = time.perf_counter(), time.thread_time()
            for _ in range(n):
                run()
            out[name]["wall_ms"].append((time.perf_counter() - w) / n * 1e3)
            out[name]["cpu_ms"].append((time.thread_time() - c) / n * 1e3)
    return out


def _plot(path: Path, medians: dict[str, float], batch: int, widths: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(medians)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.barh(names, [medians[n] for n in names], color="#4c72b0")
    ax.set_xscale("log")
    ax.set_xlabel("ms per training step (median, log scale)")
    ax.set_title(f"forward + backward, batch {batch}, widths {widths}, 1 thread", fontsize=10)
    for i, n in enumerate(names):
        ax.text(medians[n] * 1.1, i, f"{medians[n]:.2f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(right=max(medians.values()) * 6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-pykan", action="store_true")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--widths", type=int, nargs="+", default=WIDTHS)
    parser.add_argument("--sweep", action="store_true", help="add the batch x width sweep")
    args = parser.parse_args()
    torch.set_num_threads(1)
    batch, widths = args.batch, list(args.widths)
    x, y = torch.randn(batch, widths[0]), torch.randn(batch, widths[-1])
    with tempfile.TemporaryDirectory() as tmp:
        models = _models(tmp, not args.no_pykan, batch, widths)
        steps = {name: _step(m, x, y) for name, m in models.items()}
        inner = {name: 1 if "as it comes" in name else 20 for name in steps}
        inner["pykan 0.2.8, speed()"] = 3
        rounds = {n: args.rounds for n in steps}
        times = _time(steps, args.rounds, inner)
        peak = {n: peak_mb(run) for n, run in steps.items() if "as it comes" not in n}
    med = {n: statistics.median(t["wall_ms"]) for n, t in times.items()}
    cpu = {n: statistics.median(t["cpu_ms"]) for n, t in times.items()}
    ours, mlp = "biozoo KAN", "MLP (SiLU)"
    rows = [
        [
            n,
            f"{med[n]:.3f}",
            f"{min(times[n]['wall_ms']):.3f}",
            f"{cpu[n]:.3f}",
            f"{med[n] / med[ours]:.2f}x",
            f"{peak[n]:.2f}" if n in peak else "",
            f"{rounds[n]} x {inner[n]}",
        ]
        for n in sorted(med, key=med.get)
    ]
    adapted = "biozoo KAN, adapted grid"
    ratios = [["ours / MLP", f"{med[ours] / med[mlp]:.1f}x", f"{cpu[ours] / cpu[mlp]:.1f}x"]]
    ratios.append(
        [f"{adapted} / MLP", f"{med[adapted] / med[mlp]:.1f}x", f"{cpu[adapted] / cpu[mlp]:.1f}x"]
    )
    for n in ("pykan 0.2.8, as it comes", "pykan 0.2.8, speed()"):
        if n in med:
            ratios.append(
                [f"{n} / ours", f"{med[n] / med[ours]:.0f}x", f"{cpu[n] / cpu[ours]:.0f}x"]
            )
    ratios.append([f"{adapted} / ours", f"{med[adapted] / med[ours]:.1f}x", ""])
    versions = {p: _version(p) for p in ("torch", "pykan")}
    sweep = _sweep(args.rounds) if args.sweep else []
    sweep_text = (
        f"""## Sweep: KAN / MLP over batch x width

Widths `[w, w, 1]`, grid {GRID}, order {ORDER}, no pykan; {args.rounds} rounds, about 50 ms of
steps per round. Target: KAN at most 10x the MLP per step, uniform and adapted grid.

{markdown_table(SWEEP_HEADER, _sweep_rows(sweep))}
"""
        if sweep
        else ""
    )
    command = " ".join(["OMP_NUM_THREADS=1 python benchmarks/kan_speed.py", *sys.argv[1:]])
    text = f"""# KAN speed: one training step

Command: `{command}`. Forward + MSE loss + backward, batch {batch}, widths {widths},
grid {GRID}, order {ORDER}, float32, `torch.set_num_threads(1)`. The models take turns in
{args.rounds} rounds; a round times `inner` consecutive steps of one model. Figures are medians
over rounds (wall clock; thread CPU time beside it, which discounts time the shared machine
gave to other processes).

- **biozoo KAN**: `biozoo.layers.kan.KAN` on its initial uniform grid: each input's k + 1
  non-zero B-spline bases are the cardinal polynomials of its position in its interval, added
  into contiguous (N, in, G + k) bases, then one matmul with the coefficients (a view of the
  parameter); the gradient to a layer's inputs gathers each input's k + 1 entries of
  `grad @ W`, weighted by the bases' derivatives (`biozoo.layers.spline_linear`). On the CPU
  the bases, their placement and the gather are compiled kernels
  (`biozoo.layers.spline_kernels`, numba), one pass over the inputs each.
- **biozoo KAN, adapted grid**: the same after `update_grid` (quantile knots), through tables
  built once per set of knots (`biozoo.layers.bspline.interval_tables`): a lookup grid of cells
  narrower than the closest two knots finds each input's interval with one comparison, and a
  table holds each interval's polynomial coefficients; the same kernels and matmul.
- **pykan 0.2.8, as it comes**: `kan.KAN(width=..., grid=5, k=3)` with its defaults
  (symbolic branch on, activations saved); **speed()**: after `model.speed()` (symbolic branch
  and activation saving off).
- **MLP (SiLU)**: Linear-SiLU-Linear of the same widths.

{markdown_table(HEADER, rows)}

{markdown_table(["ratio", "wall clock", "CPU time"], ratios)}

{REFERENCE}

{sweep_text}
Versions: torch {versions["torch"]}, pykan {versions["pykan"]} (installed with `--no-deps`: it
declares no dependencies and uses the torch already here).

## Machine

{machine_lines(machine())}
Load average at the end: {" ".join(f"{v:.2f}" for v in os.getloadavg())}
"""
    args.out.mkdir(parents=True, exist_ok=True)
    write_keeping_reading(args.out / "kan_speed.md", text, READING)
    record = {
        "command": command,
        "shape": {"batch": batch, "widths": widths, "grid": GRID, "order": ORDER},
        "median_wall_ms": med,
        "median_cpu_ms": cpu,
        "inner_steps": inner,
        "peak_mb": peak,
        "sweep": sweep,
        "loadavg": os.getloadavg(),
        "times": times,
        "versions": versions,
        "machine": machine(),
    }
    (args.out / "kan_speed.json").write_text(json.dumps(record, indent=2))
    _plot(args.out / "kan_speed.png", dict(sorted(med.items(), key=lambda t: t[1])), batch, widths)
    print(text)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
