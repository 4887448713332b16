"""Scaling benchmark: a methylation-array-sized cohort through reading, selection and one fold.

A simulated cohort of ``--samples`` patients with 8 clinical variables, ``--rna`` RNA-seq genes
and ``--cpg`` methylation CpGs (default 300 x 20,000 x 450,000, the size of an Illumina 450k
array) is written to disk the way such data comes (the wide tables as transposed parquet,
features as rows), then run stage by stage:

a. reading + alignment (:func:`biozoo.data.align.load_cohort`);
b. the first outer split, the fold-safe transforms fitted on its training part
   (:func:`biozoo.train.fold.fit_transforms`: log1p, imputation, variance filter, ANOVA top-k,
   chunked redundancy scan, scaling), and the training and test parts transformed;
c. one fold of the deep model trained as ``biozoo.train.experiment._run_deep`` does it
   (inner split, 5-member stacked ensemble, early stopping), then scored on the test part.

Each stage records its wall time (``time.perf_counter``) and the process's peak resident
memory so far (``ru_maxrss``). The data are generated in a child process, so their cost
(reported apart, as "data generation") does not count in the pipeline's peak memory.

Writes a markdown table to ``--out`` and the same numbers as JSON next to it (``.json``).

    python benchmarks/scale.py                    # full size, ~10 min on 2 cores
    python benchmarks/scale.py --quick --out /tmp/scale.md   # ~100x smaller smoke run
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import resource
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Empty
from typing import Any

GB = 1e9


# ------------------------------------------------------------------ memory and machine


def peak_rss_gb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size (``ru_maxrss`` is in KiB on Linux) in GB."""
    return resource.getrusage(who).ru_maxrss * 1024 / GB


def current_rss_gb() -> float:
    """Resident set size now, from ``/proc/self/status``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / GB
    except OSError:
        pass
    return float("nan")


def total_ram_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024 / GB
    except OSError:
        pass
    return float("nan")


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# ------------------------------------------------------------------ data generation (child)


def _generate(n_samples: int, sizes: dict[str, int], folder: str, queue: Any) -> None:
    """Simulate and write the cohort; runs in a child process."""
    from biozoo.data.sources.simulate import simulate_cohort, write_cohort

    t0 = time.perf_counter()
    sim = simulate_cohort(n_samples, n_features=sizes, n_informative=10, seed=0)
    t1 = time.perf_counter()
    paths = write_cohort(sim, Path(folder))
    t2 = time.perf_counter()
    queue.put(
        {
            "simulate_s": t1 - t0,
            "write_s": t2 - t1,
            "peak_rss_gb": peak_rss_gb(),
            "paths": {k: str(v) for k, v in paths.items()},
            "informative": sim.informative,
        }
    )


def generate(n_samples: int, sizes: dict[str, int], folder: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")  # a fresh interpreter: its memory is not the pipeline's
    queue = ctx.Queue()
    proc = ctx.Process(target=_generate, args=(n_samples, sizes, str(folder), queue))
    t0 = time.perf_counter()
    proc.start()
    info = None
    while info is None:  # poll, so a child that dies does not leave us waiting forever
        try:
            info = queue.get(timeout=1.0)
        except Empty:
            if not proc.is_alive() and queue.empty():
                raise SystemExit(f"data generation failed (exit code {proc.exitcode})") from None
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"data generation failed (exit code {proc.exitcode})")
    info["wall_s"] = time.perf_counter() - t0
    info["file_gb"] = {
        k: Path(p).stat().st_size / GB for k, p in info["paths"].items() if k != "labels"
    }
    return info


# ------------------------------------------------------------------ stages


class Stages:
    """Wall time and memory after each stage; optional cProfile of each stage to stderr."""

    def __init__(self, profile: bool) -> None:
        self.rows: list[dict[str, Any]] = []
        self.profile = profile

    @contextmanager
    def stage(self, name: str, *, sub: bool = False) -> Iterator[None]:
        prof = cProfile.Profile() if self.profile and not sub else None
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        yield
        if prof:
            prof.disable()
        seconds = time.perf_counter() - t0
        row = {
            "stage": name,
            "sub": sub,
            "seconds": seconds,
            "peak_rss_gb": peak_rss_gb(),
            "rss_gb": current_rss_gb(),
        }
        self.rows.append(row)
        indent = "    " if sub else ""
        print(
            f"{indent}{name}: {seconds:.1f} s, peak RSS {row['peak_rss_gb']:.2f} GB, "
            f"RSS {row['rss_gb']:.2f} GB",
            flush=True,
        )
        if prof:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
            print(f"--- profile of {name} ---\n{out.getvalue()}", file=sys.stderr, flush=True)


def build_config(paths: dict[str, str], top_k: dict[str, int], epochs: int) -> Any:
    from biozoo.config import parse_config

    def modality(name: str, transforms: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"path": paths[name], "transforms": transforms}
        if paths[name].endswith(".parquet"):
            out["transpose"] = True  # features as rows, samples as columns
        return out

    raw = {
        "name": "scale",
        "data": {
            "modalities": {
                "clinical": modality("clinical", {}),
                "rna": modality("rna", {"log1p": True, "top_k": top_k["rna"], "max_corr": 0.9}),
                "meth": modality("meth", {"top_k": top_k["meth"], "max_corr": 0.9}),
            },
            "target": {"path": paths["labels"], "column": "label", "task": "binary"},
        },
        "models": {
            "multimodule": {
                "encoders": {
                    "rna": {"name": "mlp", "hidden": [128], "out_dim": 16},
                    "meth": {"name": "mlp", "hidden": [128], "out_dim": 16},
                },
                "default_encoder": {"name": "mlp", "hidden": [16], "out_dim": 8},
            }
        },
        "training": {
            "ensemble": 5,
            "epochs": epochs,
            "patience": 10,
            "split": {"kind": "kfold", "folds": 5},
        },
        "baselines": [],
        "output": {"latents": False, "save_models": False},
    }
    return parse_config(raw, source="benchmarks/scale.py")


def run_pipeline(cfg: Any, stages: Stages) -> dict[str, Any]:
    """Stages a-c; returns what the report needs besides the stage rows."""

    from biozoo.data.align import load_cohort
    from biozoo.data.splits import make_splits
    from biozoo.train.experiment import head_for, train_split_ensemble
    from biozoo.train.fold import fit_transforms
    from biozoo.train.plan import predict_members

    out: dict[str, Any] = {}
    tr = cfg.training

    with stages.stage("a. reading + alignment"):
        cohort = load_cohort(cfg.data)
    out["cohort"] = {
        "samples": len(cohort),
        "features": {k: m.n_features for k, m in cohort.modalities.items()},
        "gb_in_memory": {k: m.values.nbytes / GB for k, m in cohort.modalities.items()},
        "classes": cohort.classes,
    }

    with stages.stage("b. split + fold-safe transforms"):
        with stages.stage("make_splits + subset train/test", sub=True):
            split = make_splits(
                cohort.target,
                stratify=cohort.stratify_labels,
                kind=tr.split.kind,
                folds=tr.split.folds,
                repeats=tr.split.repeats,
                test_size=tr.split.test_size,
                seed=tr.seed,
            )[0]
            train, test = cohort.subset(split.train), cohort.subset(split.test)
        with stages.stage("fit_transforms (train part)", sub=True):
            transforms = fit_transforms(train, cfg.data)
        with stages.stage("transform train + test", sub=True):
            train_data = transforms.fold_data(train)
            test_data = transforms.fold_data(test)
    out["split"] = {"name": split.name, "train": len(split.train), "test": len(split.test)}
    out["transform_reports"] = {k: dict(t.report) for k, t in transforms.parts.items()}
    out["in_dims"] = {m: d.to_meta() for m, d in transforms.inputs.items()}
    # cohort, train and test stay alive, as they do in run_experiment while a fold trains

    si, mi, mname = 0, 0, next(iter(cfg.models))
    with stages.stage("c. train one fold + score"):
        with stages.stage("train_split_ensemble (inner split, build, fit)", sub=True):
            head = head_for(cohort)
            ensemble, info, fit_pos, val_pos = train_split_ensemble(
                cfg,
                mname,
                train_data,
                train.target,
                inputs=transforms.inputs,
                stratify=cohort.task.stratify_labels(train.target),
                head=head,
                split_index=si,
                model_index=mi,
            )
        with stages.stage("predict_members + metrics", sub=True):
            members = predict_members(ensemble, head, test_data).numpy()  # (M, n, C)
            score = cohort.task.metrics
            metrics = score(test.target, members.mean(axis=0), n_classes=cohort.n_classes)
            member_auc = [
                score(test.target, p, n_classes=cohort.n_classes)["roc_auc"] for p in members
            ]
    n_params = sum(p.numel() for p in ensemble.parameters())
    out["training"] = {
        "fit": len(fit_pos),
        "validation": len(val_pos),
        "members": tr.ensemble,
        "parameters_all_members": int(n_params),
        "epochs_run": info["epochs_run"],
        "best_epoch": info["best_epoch"],
    }
    out["metrics"] = metrics
    out["member_roc_auc"] = member_auc
    return out


# ------------------------------------------------------------------ report


def write_report(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")

    r = result
    gen = r["data_generation"]
    lines = [
        f"# Scaling benchmark: {r['sizes']['samples']} samples x "
        f"{r['sizes']['rna']:,} RNA x {r['sizes']['cpg']:,} CpG features",
        "",
        "Produced by `benchmarks/scale.py`; the same numbers are in "
        f"`{path.with_suffix('.json').name}`. Peak RSS is the process's high-water mark "
        "(`ru_maxrss`) at the end of each stage, so it never goes down; RSS is the resident "
        "size at that moment. Data generation ran in a child process and is not part of the "
        "pipeline's time or memory.",
        "",
        "| stage | seconds | peak RSS GB | RSS GB |",
        "|---|---:|---:|---:|",
        f"| process at start (after imports) | | {r['start']['peak_rss_gb']:.2f} | "
        f"{r['start']['rss_gb']:.2f} |",
    ]
    for row in r["stages"]:
        name = f"&nbsp;&nbsp;↳ {row['stage']}" if row["sub"] else f"**{row['stage']}**"
        lines.append(
            f"| {name} | {row['seconds']:.1f} | {row['peak_rss_gb']:.2f} | {row['rss_gb']:.2f} |"
        )
    lines.append(
        f"| **total pipeline (a + b + c)** | **{r['total_pipeline_s']:.1f}** | "
        f"**{r['peak_rss_gb']:.2f}** | |"
    )
    lines += [
        f"| data generation (not pipeline): simulate | {gen['simulate_s']:.1f} | "
        f"{gen['peak_rss_gb']:.2f} (child) | |",
        f"| data generation (not pipeline): write files | {gen['write_s']:.1f} | | |",
        "",
        "| | |",
        "|---|---|",
    ]
    c = r["cohort"]
    sizes_gb = ", ".join(
        f"{k} {c['features'][k]:,} features = {v:.3f} GB" for k, v in c["gb_in_memory"].items()
    )
    lines.append(
        f"| data in memory (float32) | {c['samples']} samples; {sizes_gb}; "
        f"total {sum(c['gb_in_memory'].values()):.3f} GB |"
    )
    files = ", ".join(f"{k} {v:.3f} GB" for k, v in gen["file_gb"].items())
    lines.append(f"| files on disk | {files} |")
    s = r["split"]
    lines.append(f"| fold | {s['name']}: {s['train']} train, {s['test']} test |")
    for name, rep in r["transform_reports"].items():
        removed = ", ".join(
            f"{k.replace('_', ' ')} {v:,}" for k, v in rep.items() if k not in ("input", "kept")
        )
        lines.append(
            f"| transform `{name}` | {rep['input']:,} in -> {rep['kept']:,} kept; "
            f"removed: {removed} |"
        )
    t = r["training"]
    lines.append(
        f"| training | {t['members']} members, {t['parameters_all_members']:,} parameters in "
        f"all; {t['fit']} fit / {t['validation']} validation samples; {t['epochs_run']} epochs "
        f"run (best epochs {t['best_epoch']}) |"
    )
    m = r["metrics"]
    members = ", ".join(f"{a:.3f}" for a in r["member_roc_auc"])
    lines.append(
        f"| test ROC AUC of the fold | **{m['roc_auc']:.3f}** (ensemble mean; members "
        f"{members}); accuracy {m['accuracy']:.3f}, log loss {m['log_loss']:.3f} |"
    )
    mc = r["machine"]
    lines += [
        f"| threads | torch.get_num_threads() = {mc['torch_threads']}; "
        f"OMP_NUM_THREADS = {mc['omp_num_threads']}; OMP_WAIT_POLICY = {mc['omp_wait_policy']} |",
        f"| machine | {mc['platform']}; Python {mc['python']}; {mc['cpu_count']} CPUs "
        f"(usable {mc['cpus_usable']}); {mc['total_ram_gb']:.1f} GB RAM |",
        f"| load average (1, 5, 15 min) | before generation: {r['load']['before']}; "
        f"after the pipeline: {r['load']['after']} |",
        f"| versions | torch {mc['torch']}, numpy {mc['numpy']}, pyarrow {mc['pyarrow']}, "
        f"biozoo {mc['biozoo']} |",
        f"| date | {r['date']} |",
        f"| command | `{r['command']}` |",
        "",
    ]
    path.write_text("\n".join(lines))


def machine() -> dict[str, Any]:
    import numpy
    import pyarrow
    import torch

    import biozoo

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "total_ram_gb": total_ram_gb(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "biozoo": getattr(biozoo, "__version__", "dev"),
    }


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--rna", type=int, default=20_000, help="RNA features")
    p.add_argument("--cpg", type=int, default=450_000, help="methylation CpG features")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.md"))
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: feature counts and top_k divided by 100",
    )
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own)")
    p.add_argument("--workdir", type=Path, help="keep the generated files here (default: temp)")
    p.add_argument("--profile", action="store_true", help="cProfile each stage to stderr")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch  # imported before measuring the start RSS

    import biozoo.train.plan  # noqa: F401

    if args.threads:
        torch.set_num_threads(args.threads)

    start = {"peak_rss_gb": peak_rss_gb(), "rss_gb": current_rss_gb()}
    shrink = 100 if args.quick else 1
    sizes = {
        "clinical": 8,
        "rna": max(args.rna // shrink, 20),
        "meth": max(args.cpg // shrink, 50),
    }
    top_k = {"rna": max(2000 // shrink, 10), "meth": max(5000 // shrink, 10)}
    load_before = load_average()
    print(f"sizes {args.samples} x {sizes}, top_k {top_k}; load average {load_before}", flush=True)

    with tempfile.TemporaryDirectory(prefix="biozoo-scale-") as tmp:
        folder = args.workdir or Path(tmp)
        gen = generate(args.samples, sizes, folder)
        print(
            f"data generation: simulate {gen['simulate_s']:.1f} s, write {gen['write_s']:.1f} s, "
            f"child peak RSS {gen['peak_rss_gb']:.2f} GB",
            flush=True,
        )
        cfg = build_config(gen["paths"], top_k, args.epochs)
        stages = Stages(args.profile)
        t0 = time.perf_counter()
        out = run_pipeline(cfg, stages)
        total = time.perf_counter() - t0

    result = {
        "sizes": {"samples": args.samples, "rna": sizes["rna"], "cpg": sizes["meth"]},
        "quick": args.quick,
        "top_k": top_k,
        "start": start,
        "stages": stages.rows,
        "total_pipeline_s": total,
        "peak_rss_gb": peak_rss_gb(),
        "data_generation": {k: v for k, v in gen.items() if k not in ("paths", "informative")},
        "informative_features": gen["informative"],
        **out,
        "machine": machine(),
        "load": {"before": load_before, "after": load_average()},
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
    }
    write_report(args.out, result)
    print(f"total pipeline {total:.1f} s, peak RSS {result['peak_rss_gb']:.2f} GB")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
