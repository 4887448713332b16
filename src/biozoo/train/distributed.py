"""Running a run's units on a Dask cluster (``biozoo train --workers N | --scheduler ADDR``).

The units of a run (:class:`~biozoo.train.experiment.Unit`: split x model, split x
baselines) are independent and each one's seeds depend only on its position, so they can run
on any worker in any order and give the results a serial run gives. Each split's transforms
are fitted once, as a task of their own, and then copied to every worker, so a unit runs on
whichever worker is free. A finished unit
comes back as its recorded files (:func:`~biozoo.train.units.encode_unit`), which the
client writes into the run's ``units/`` as soon as it arrives: a run stopped half-way is
resumable as a serial one is.

Workers are processes with one thread each; torch uses ``training.threads`` threads in each
(default 1), so N workers use N cores and never oversubscribe them.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from biozoo.config import RunConfig
from biozoo.data.cohort import Cohort
from biozoo.data.splits import Split
from biozoo.errors import BiozooError
from biozoo.train.experiment import (
    ExperimentResult,
    Progress,
    Unit,
    UnitJournal,
    head_for,
    run_unit,
    split_transforms,
    unit_labels,
    units_of,
)
from biozoo.train.fold import FittedTransforms
from biozoo.train.units import RunJournal, encode_unit

__all__ = ["DaskRunner", "dask_runner", "unit_files"]

CONNECT_TIMEOUT_S = 10


class DaskRunner:
    """Runs the units of an experiment on a ``dask.distributed`` client's cluster.

    Args:
        client: a connected ``distributed.Client``.
        threads: torch threads per unit on a worker.
    """

    def __init__(self, client: object, *, threads: int = 1) -> None:
        self.client = client
        self.threads = threads

    def run(
        self,
        cfg: RunConfig,
        cohort: Cohort,
        splits: list[Split],
        journal: UnitJournal | None,
        progress: Progress | None,
    ) -> tuple[dict[str, FittedTransforms], list[ExperimentResult]]:
        """Each split's transforms and every unit's results, in serial-run order.

        Units ``journal`` already holds are read back, not run; the others are submitted at
        once and recorded in ``journal`` as they finish.
        """
        from distributed import as_completed

        client = self.client
        units = units_of(cfg, len(splits))
        done: dict[Unit, ExperimentResult | None] = {
            u: journal.load(u) if journal is not None else None for u in units
        }
        with tempfile.TemporaryDirectory(prefix="biozoo-units-") as tmp:
            store = journal
            if not isinstance(journal, RunJournal):
                store = RunJournal(Path(tmp), cfg, head_for(cohort).n_outputs)
            data = client.scatter(cohort, broadcast=True)
            fits = [client.submit(split_transforms, cfg, data, s, pure=False) for s in splits]
            fitted = dict(zip([s.name for s in splits], client.gather(fits), strict=True))
            # on every worker: a unit then runs wherever a worker is free, not where its
            # split's transforms happened to be fitted
            transforms = client.scatter(list(fitted.values()), broadcast=True)
            del fits
            futures = {
                client.submit(
                    unit_files,
                    cfg,
                    data,
                    splits[u.split_index],
                    u,
                    transforms[u.split_index],
                    self.threads,
                    pure=False,
                ): u
                for u in units
                if done[u] is None
            }
            for future in as_completed(futures):
                unit = futures[future]
                store.write(unit, future.result())
                done[unit] = store.load(unit)
                if journal is not None and store is not journal:
                    journal.record(unit, done[unit])
                if progress:
                    for label in unit_labels(cfg, cohort, unit):
                        progress(f"{splits[unit.split_index].name}: {label}")
        return fitted, [done[u] for u in units]


def unit_files(
    cfg: RunConfig,
    cohort: Cohort,
    split: Split,
    unit: Unit,
    transforms: FittedTransforms,
    threads: int,
) -> dict[str, bytes]:
    """On a worker: train one unit and return it as files."""
    return encode_unit(run_unit(cfg, cohort, split, unit, transforms, threads=threads))


def _warm() -> None:
    """On a worker: import what a unit needs (torch, Lightning, the baselines)."""
    import biozoo.train.baselines  # noqa: F401
    import biozoo.train.units  # noqa: F401


@contextmanager
def dask_runner(
    *, workers: int | None = None, scheduler: str | None = None, threads: int | None = None
) -> Iterator[DaskRunner]:
    """A :class:`DaskRunner` on a new local cluster of ``workers`` processes, or on the
    existing cluster whose scheduler is at ``scheduler``; closed on exit.

    Args:
        workers: worker processes of a ``LocalCluster`` (one thread each).
        scheduler: an existing scheduler's address (``tcp://host:port``), e.g. the
            ``scheduler_address`` of a dask-jobqueue ``SLURMCluster``.
        threads: torch threads per unit (``training.threads``; default 1).

    Raises:
        BiozooError: both or neither of ``workers`` and ``scheduler``, or the scheduler
            cannot be reached.
    """
    from distributed import Client, LocalCluster

    if (workers is None) == (scheduler is None):
        raise BiozooError("give either --workers N or --scheduler ADDRESS, not both.")
    cluster = None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as err:
            why = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
            raise BiozooError(f"cannot reach the Dask scheduler at {scheduler} ({why}).") from None
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        client.run(_warm)  # each worker imports torch and biozoo now, not in its first unit
    try:
        yield DaskRunner(client, threads=threads or 1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
