"""An inner objective that writes down, wherever a trial runs, the samples the trial sees.

A parallel search runs its trials in Dask worker processes, where a test's monkeypatch does
not reach; this objective travels there with the trial and leaves one JSON file per trial
in ``marks``: the process and the ids of every inner fold's fitting and held-out parts.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import optuna

from biozoo.config import RunConfig
from biozoo.data.cohort import Cohort
from biozoo.data.splits import Split
from biozoo.search.objective import InnerObjective
from biozoo.search.space import SearchConfig


class SpyObjective(InnerObjective):
    """:class:`InnerObjective` that records each trial's samples in ``marks``."""

    def __init__(
        self, cfg: RunConfig, search: SearchConfig, train: Cohort, folds: list[Split], *, marks
    ) -> None:
        super().__init__(cfg, search, train, folds)
        self.marks = Path(marks)

    def __call__(self, trial: optuna.Trial) -> float:
        seen = [
            {
                "fit": [str(i) for i in self.train.subset(f.train).ids],
                "held_out": [str(i) for i in self.train.subset(f.test).ids],
            }
            for f in self.folds
        ]
        record = {"pid": os.getpid(), "trial": trial.number, "folds": seen}
        (self.marks / f"{uuid.uuid4().hex}.json").write_text(json.dumps(record))
        return super().__call__(trial)
