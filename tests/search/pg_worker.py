"""One search worker of the PostgreSQL test, run as its own process.

``python pg_worker.py CONFIG URL ROLE MARKS``: searches the first outer split of CONFIG in
the study at URL with biozoo's own study machinery; only the inner score is a stand-in (no
training), so that the test controls when a trial is running. The ``doomed`` worker marks
``MARKS/doomed-started`` and hangs inside its first trial until it is killed; the
``survivor`` worker waits for that mark (both start together, the slow imports side by side),
then takes one second per trial and marks ``MARKS/survivor-scored`` after its first.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import biozoo.search.objective as objective
from biozoo.data.align import load_cohort
from biozoo.search.check import load_search
from biozoo.search.nested import search_split
from biozoo.search.study import open_storage
from biozoo.train.experiment import run_splits


def main() -> None:
    config, url, role, marks = sys.argv[1:5]
    done = Path(marks)
    cfg, search = load_search(config)
    cohort = load_cohort(cfg.data)
    split = run_splits(cfg, cohort)[0]

    def score(cfg, model, fit, held_out, *, fold):
        if role == "doomed":
            (done / "doomed-started").touch()
            time.sleep(600)  # killed here, mid-trial
        time.sleep(1.0)
        (done / "survivor-scored").touch()
        return float(cfg.training.lr)

    objective.score_fold = score
    while role == "survivor" and not (done / "doomed-started").exists():
        time.sleep(0.1)
    storage = open_storage(url, heartbeat=search.heartbeat)
    search_split(cfg, search, cohort, split, 0, storage)


if __name__ == "__main__":
    main()
