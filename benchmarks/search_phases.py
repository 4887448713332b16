"""Where a nested search's wall time goes, serial and on a local Dask cluster.

Runs ``examples/search/gse7390.yaml`` (4 trials per outer split, one inner hold-out) with
``--workers`` 0 (this process), 1 and 2, one after another in this process, and splits each
run's wall time into: the cluster's start-up, the whole run (units, search, retraining,
report), and the trials' span (the first trial's start to the last trial's end, from the
study in the run folder) against the trials' summed compute. With 1 and 2 workers the trials
try the same values (all 4 are TPE's seeded start-up trials, each seeded by its number), so
their summed compute compares like for like; the serial search draws other values.

    OMP_NUM_THREADS=1 python benchmarks/search_phases.py [--trials 4] [--workers 0 1 2]

Writes ``benchmarks/results/search-phases.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    machine,
    machine_lines,
    markdown_table,
    write_keeping_reading,
)

from biozoo.api import load_search, search  # noqa: E402
from biozoo.search.layout import SearchLayout  # noqa: E402
from biozoo.search.space import SearchConfig  # noqa: E402
from biozoo.train.distributed import dask_runner  # noqa: E402

READING = "## Reading"
CONFIG = Path(__file__).parents[1] / "examples" / "search" / "gse7390.yaml"
HEADER = [
    "workers",
    "cluster start-up s",
    "run s",
    "trials' span s",
    "trials' compute s",
    "compute / span",
    "searched ROC AUC",
]


def _measure(workers: int, trials: int, tmp: Path) -> list[object]:
    cfg, space = load_search(CONFIG)
    inner = {"kind": "holdout", "repeats": 1, "test_size": 0.3}
    space = SearchConfig.model_validate(
        space.model_dump(mode="json") | {"trials": trials, "inner": inner}
    )
    t0 = time.perf_counter()
    cluster = dask_runner(workers=workers, threads=1) if workers else nullcontext(None)
    with cluster as runner:
        t1 = time.perf_counter()
        result = search(cfg, space, out_dir=tmp / f"w{workers}", runner=runner)
        t2 = time.perf_counter()
    layout = SearchLayout(result.path)
    storage = f"sqlite:///{layout.study}"
    starts, ends, compute = [], [], 0.0
    for summary in optuna.study.get_all_study_summaries(storage):
        for t in optuna.load_study(study_name=summary.study_name, storage=storage).trials:
            if t.datetime_start is None or t.datetime_complete is None:
                continue
            starts.append(t.datetime_start)
            ends.append(t.datetime_complete)
            compute += (t.datetime_complete - t.datetime_start).total_seconds()
    span = (max(ends) - min(starts)).total_seconds()
    board = result.leaderboard.set_index("method")
    score = board.loc[board.index.str.startswith("searched"), "roc_auc_mean"].iloc[0]
    return [
        workers,
        f"{t1 - t0:.1f}",
        f"{t2 - t1:.1f}",
        f"{span:.1f}",
        f"{compute:.1f}",
        f"{compute / span:.2f}",
        f"{score:.3f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            rows.append(_measure(workers, args.trials, Path(tmp)))
            print(dict(zip(HEADER, rows[-1], strict=True)), flush=True)
    command = "OMP_NUM_THREADS=1 python benchmarks/search_phases.py"
    command += f" --trials {args.trials} --workers {' '.join(map(str, args.workers))}"
    text = f"""# Where a nested search's time goes (GSE7390)

Command: `{command}`

Config `examples/search/gse7390.yaml`, {args.trials} trials per outer split, one inner
hold-out; workers 0 is this process. "run s" is the whole run (units, search, retraining,
report) after the cluster is up; the trials' span runs from the first trial's start to the
last trial's end over all outer splits, and their compute is the sum of each trial's own
wall time (on a worker, from the trial's submission to its end).

{markdown_table(HEADER, rows)}

## Machine

{machine_lines(machine())}
"""
    args.out.mkdir(parents=True, exist_ok=True)
    write_keeping_reading(args.out / "search-phases.md", text, READING)


if __name__ == "__main__":
    main()
