"""Helpers shared by the benchmark scripts: machine description and markdown tables."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import torch


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        mem_gb = round(kb / 1024**2, 1)
    except (OSError, StopIteration):
        pass
    return {
        "date": date.today().isoformat(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_lines(info: dict[str, object]) -> str:
    return "\n".join(f"- {k}: {v}" for k, v in info.items())


def peak_mb(run: Callable[[], None]) -> float:
    """Peak of one call's own CPU allocations (MB), from the profiler's memory records: the
    maximum of the running sum of every op's allocations minus frees, in time order."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak / 1e6


def write_keeping_reading(out: Path, text: str, heading: str) -> None:
    """Write a results page, keeping what ``out`` already holds from ``heading`` on (a reading
    written by hand after the runs) below the new ``text``."""
    if out.exists() and heading in (kept := out.read_text()):
        text += "\n" + kept[kept.index(heading) :]
    out.write_text(text)
