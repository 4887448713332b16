"""What a person sees while a run trains: a live bar on a terminal, plain lines elsewhere.

Both show the fit that is running (``h0: mlp``), how many fits are done, the current epoch
and the ensemble's mean validation loss, the time so far and an estimate of the time left.
On a terminal (:class:`LiveProgress`) that is a rich progress bar; when the output goes to
a file (SLURM, ``nohup``, a pipe) a live bar would fill the log with redraws, so
:class:`PlainProgress` writes one plain, time-stamped line at most every ``every`` seconds.

Progress only reads what the run reports (:mod:`biozoo.train.progress`); it does not
change the run's results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["LiveProgress", "PlainProgress", "RunProgress", "run_progress"]

PLAIN_EVERY = 30.0
"""Seconds between two plain progress lines."""


class RunProgress:
    """Counts a run's fits and follows the current fit's epochs.

    Called with a label before each fit (and before the closing steps, such as
    attributions); told about each epoch of a deep model's training through :meth:`epoch`
    (it is an :class:`~biozoo.train.progress.EpochListener`).

    The time left is first estimated from the part done (fits done, and the running fit's
    epochs out of its budget, which early stopping usually cuts short). Once every method
    has been fitted on one split, it is the methods' mean time per fit times the fits left,
    which is closer: a deep model's fit takes far longer than a baseline's.

    Args:
        total: the number of fits of the run (splits x methods).
        per_split: methods per split (fits run split by split, in the same order); 0 if
            unknown.
        clock: seconds, monotonic (replaceable in tests).
    """

    def __init__(
        self, total: int, per_split: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total = max(int(total), 1)
        self.per_split = int(per_split)
        self.clock = clock
        self.start = self.fit_start = clock()
        self.started = 0
        self.label = "starting"
        self.current: tuple[int, int, float] | None = None  # epoch, of epochs, val loss
        self.seconds: dict[int, list[float]] = {}  # position in a split -> its fits' times

    @property
    def done(self) -> int:
        """Fits finished: every one before the one running now."""
        return min(max(self.started - 1, 0), self.total)

    @property
    def fraction(self) -> float:
        """How much of the run is done, counting the current fit's epochs."""
        part = 0.0
        if self.current is not None and self.started <= self.total:
            epoch, epochs, _ = self.current
            part = epoch / max(epochs, 1)
        return min((self.done + part) / self.total, 1.0)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self.clock() - self.start

    def remaining(self) -> float | None:
        """Estimated seconds left, or None before anything is known."""
        per = self.per_split
        if per and len(self.seconds) == per:  # every method timed on a split at least once
            mean = {k: sum(v) / len(v) for k, v in self.seconds.items()}
            running = self.started - 1
            later = sum(mean[i % per] for i in range(running + 1, self.total))
            if running >= self.total:
                return 0.0
            now_in = self.clock() - self.fit_start
            return later + max(mean[running % per] - now_in, 0.0)
        f = self.fraction
        return None if f <= 0 else self.elapsed() * (1 - f) / f

    def status(self) -> str:
        """``epoch 12/100, val loss 0.5321`` for the current fit, or an empty string."""
        if self.current is None:
            return ""
        epoch, epochs, loss = self.current
        return f"epoch {epoch}/{epochs}, val loss {loss:.4g}"

    def __call__(self, label: str) -> None:
        now = self.clock()
        if self.per_split and 0 < self.started <= self.total:  # the previous fit ended
            position = (self.started - 1) % self.per_split
            self.seconds.setdefault(position, []).append(now - self.fit_start)
        self.fit_start = now
        self.started += 1
        self.label, self.current = label, None
        self.changed()

    def epoch(self, epoch: int, epochs: int, val_loss: float) -> None:
        """Epoch ``epoch`` of at most ``epochs`` ended with mean validation loss ``val_loss``."""
        self.current = (epoch, epochs, val_loss)
        self.changed()

    def changed(self) -> None:
        """Show the new state (subclasses)."""


def clock_text(seconds: float | None) -> str:
    """``1:02:03`` (or ``?`` when unknown)."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class PlainProgress(RunProgress):
    """One time-stamped line at most every ``every`` seconds, for logs (SLURM, ``nohup``).

    A line is written at the first fit and then whenever ``every`` seconds have passed
    since the last one, at a new fit or at the end of an epoch::

        14:02:11 fit 3/12 h0: mlp; epoch 12/100, val loss 0.5321; 0:01:02 so far, about 0:04:10 left

    Args:
        total: the number of fits of the run.
        write: takes one line.
        per_split: methods per split (see :class:`RunProgress`).
        every: seconds between lines.
        clock: seconds, monotonic (replaceable in tests).
        wall: the wall-clock time of day for the stamp (replaceable in tests).
    """

    def __init__(
        self,
        total: int,
        write: Callable[[str], None],
        *,
        per_split: int = 0,
        every: float = PLAIN_EVERY,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], str] = lambda: time.strftime("%H:%M:%S"),
    ) -> None:
        super().__init__(total, per_split, clock)
        self.write, self.every, self.wall = write, every, wall
        self.last: float | None = None

    def changed(self) -> None:
        now = self.clock()
        if self.last is not None and now - self.last < self.every:
            return
        self.last = now
        self.write(self.line())

    def line(self) -> str:
        """The progress line for the current state."""
        fit = f"fit {min(self.started, self.total)}/{self.total}"
        parts = [f"{self.wall()} {fit} {self.label}"]
        if self.current is not None:
            parts.append(self.status())
        parts.append(
            f"{clock_text(self.elapsed())} so far, about {clock_text(self.remaining())} left"
        )
        return "; ".join(parts)


class LiveProgress(RunProgress):
    """A rich progress bar on a terminal: fits done, epoch, validation loss, time left.

    Args:
        total: the number of fits of the run.
        bar: a started :class:`rich.progress.Progress` with :func:`live_columns`.
        per_split: methods per split (see :class:`RunProgress`).
    """

    def __init__(self, total: int, bar: Progress, per_split: int = 0) -> None:
        super().__init__(total, per_split)
        self.bar = bar
        self.task = bar.add_task("starting", total=self.total, fits="", status="", left="?")

    def changed(self) -> None:
        self.bar.update(
            self.task,
            description=self.label,
            completed=self.fraction * self.total,
            fits=f"{self.done}/{self.total} fits",
            status=self.status(),
            left=clock_text(self.remaining()),
        )


def live_columns() -> tuple[object, ...]:
    """The columns of the live bar."""
    return (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[fits]}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("about {task.fields[left]} left"),
    )


@contextmanager
def run_progress(
    console: Console,
    n_splits: int,
    per_split: int,
    *,
    live: bool,
    every: float = PLAIN_EVERY,
) -> Iterator[RunProgress]:
    """The progress of a run of ``n_splits`` x ``per_split`` fits, shown on ``console``.

    Args:
        console: where progress goes (stderr, so stdout keeps the results).
        n_splits: the run's splits.
        per_split: methods (deep models and baselines) fitted on each split.
        live: a rich bar (a terminal); else plain lines every ``every`` seconds.
        every: seconds between plain lines.
    """
    total = n_splits * per_split
    if not live:
        yield PlainProgress(
            total,
            lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True),
            per_split=per_split,
            every=every,
        )
        return
    with Progress(*live_columns(), console=console, transient=True) as bar:
        yield LiveProgress(total, bar, per_split)
