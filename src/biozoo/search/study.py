"""Where a search's trials live: the Optuna storage, its sampler and pruner.

The default storage is an SQLite file in the run folder. ``--storage URL`` names any
SQLAlchemy URL Optuna accepts (``postgresql://user@host:5432/db``), so workers on several
machines share one study per outer split. In a shared storage every running trial beats a
heartbeat; a trial whose worker stopped beating (killed) is marked failed by the next worker
that starts a trial, or at the end of a search. A finished study is read back as a table of its
trials and its parameters' fANOVA importances.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import optuna
import pandas as pd
from optuna.pruners import BasePruner, HyperbandPruner, MedianPruner, NopPruner
from optuna.storages import RDBStorage
from optuna.study import MaxTrialsCallback, StudyDirection
from optuna.trial import TrialState

from biozoo.errors import BiozooError
from biozoo.registry import Registry

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = [
    "FINISHED",
    "PRUNERS",
    "fail_stale",
    "open_storage",
    "open_study",
    "param_importance",
    "quiet_optuna",
    "stop_after",
    "trials_frame",
]

log = logging.getLogger(__name__)

PRUNERS: Registry[type[BasePruner]] = Registry("pruner")
"""Pruners by name; each is built with its defaults (``none``: never prune)."""
PRUNERS.register("median")(MedianPruner)
PRUNERS.register("hyperband")(HyperbandPruner)
PRUNERS.register("none")(NopPruner)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
"""The trial states that count towards a search's budget."""


def open_storage(url: str, *, heartbeat: int | None = None) -> RDBStorage:
    """Connect to (and if needed create the tables of) an Optuna storage.

    Args:
        url: an SQLAlchemy URL (``sqlite:///path``, ``postgresql://user@host:port/db``).
        heartbeat: seconds between heartbeats of a running trial (a trial silent for twice
            that is failed), or None for no heartbeat.

    Raises:
        BiozooError: the storage cannot be reached (naming host:port, never a password).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        where = _with_driver(make_url(url))
    except ArgumentError:
        raise BiozooError(f"--storage {url!r} is not a database URL.") from None
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna's words
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                where.render_as_string(hide_password=False),
                engine_kwargs=_engine_options(where.get_backend_name()),
                heartbeat_interval=heartbeat,
                grace_period=None if heartbeat is None else 2 * heartbeat,
            )
    except (SQLAlchemyError, ImportError) as err:
        port = where.port or _PORTS.get(where.get_backend_name(), "?")
        place = f"{where.host}:{port}" if where.host else where.database
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0].rstrip(".")
        if where.password:
            reason = reason.replace(where.password, "***")
        raise BiozooError(
            f"cannot reach the study storage {where.get_backend_name()} at {place}: {reason}."
        ) from None


_PORTS = {"postgresql": 5432, "mysql": 3306}
"""Default ports, to name the place a URL without one points at."""


def _with_driver(where: URL) -> URL:
    """A ``postgresql://`` URL with the driver that is installed: SQLAlchemy 2.1 means
    psycopg 3 by default, but psycopg2 serves as well."""
    if where.drivername != "postgresql" or importlib.util.find_spec("psycopg") is not None:
        return where
    if importlib.util.find_spec("psycopg2") is not None:
        return where.set(drivername="postgresql+psycopg2")
    return where


def _engine_options(backend: str) -> dict[str, object]:
    """Fail fast on a server that does not answer (PostgreSQL's connect timeout, seconds);
    on an SQLite file, wait for a lock another worker process holds (seconds)."""
    if backend == "sqlite":
        return {"connect_args": {"timeout": 60}}
    return {"connect_args": {"connect_timeout": 10}} if backend == "postgresql" else {}


def open_study(
    storage: RDBStorage,
    name: str,
    *,
    maximize: bool,
    seed: int,
    pruner: str,
) -> optuna.Study:
    """Create or join the study ``name``: a seeded TPE sampler and the named pruner."""
    sampler = optuna.samplers.TPESampler(seed=seed)
    return optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=sampler,
        pruner=PRUNERS.get(pruner)(),
        direction=StudyDirection.MAXIMIZE if maximize else StudyDirection.MINIMIZE,
        load_if_exists=True,
    )


def stop_after(trials: int) -> MaxTrialsCallback:
    """Stop every worker of a study once ``trials`` trials have finished, all workers
    together."""
    return MaxTrialsCallback(trials, states=FINISHED)


def fail_stale(study: optuna.Study, storage: RDBStorage) -> None:
    """Mark failed the running trials whose worker stopped beating (a shared storage)."""
    if storage.get_heartbeat_interval() is not None:
        optuna.storages.fail_stale_trials(study)


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: ``number``, ``state``, ``value``, ``seconds`` and a column per
    parameter."""
    rows = []
    for t in study.trials:
        seconds = None
        if t.datetime_start is not None and t.datetime_complete is not None:
            seconds = (t.datetime_complete - t.datetime_start).total_seconds()
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "seconds": seconds,
                **t.params,
            }
        )
    return pd.DataFrame(rows)


def param_importance(study: optuna.Study, seed: int) -> dict[str, float]:
    """fANOVA importances over the finished trials; empty when they cannot be computed."""
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    try:
        with quiet_optuna():
            found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError) as err:
        log.info("no parameter importances: %s", err)
        return {}
    return {str(k): float(v) for k, v in found.items()}


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines muted while a search runs (biozoo reports progress)."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
