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
    TimeRemainingColumn,
)

__all__ = ["LiveProgress", "PlainProgress", "RunProgress", "run_progress"]

PLAIN_EVERY = 30.0
"""Seconds between two plain progress lines."""


class RunProgress:
    """Counts a run's fits and follows the current fit's epochs.

    Called with a label before each fit (and before the closing steps, such as
    attributions); told about each epoch of a deep model's training through :meth:`epoch`
    (it is an :class:`~biozoo.train.progress.EpochListener`).

    Args:
        total: the number of fits of the run (splits x methods).
        clock: seconds, monotonic (replaceable in tests).
    """

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = max(int(total), 1)
        self.clock = clock
        self.start = clock()
        self.started = 0
        self.label = "starting"
        self.current: tuple[int, int, float] | None = None  # epoch, of epochs, val loss

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
        """Estimated seconds left (the time so far scaled by the part still to do), or None."""
        f = self.fraction
        return None if f <= 0 else self.elapsed() * (1 - f) / f

    def status(self) -> str:
        """``epoch 12/100, val loss 0.5321`` for the current fit, or an empty string."""
        if self.current is None:
            return ""
        epoch, epochs, loss = self.current
        return f"epoch {epoch}/{epochs}, val loss {loss:.4g}"

    def __call__(self, label: str) -> None:
        self.started += 1
        self.label, self.current = label, None
        self.changed(new_fit=True)

    def epoch(self, epoch: int, epochs: int, val_loss: float) -> None:
        """Epoch ``epoch`` of at most ``epochs`` ended with mean validation loss ``val_loss``."""
        self.current = (epoch, epochs, val_loss)
        self.changed(new_fit=False)

    def changed(self, *, new_fit: bool) -> None:
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
        every: seconds between lines.
        clock: seconds, monotonic (replaceable in tests).
        wall: the wall-clock time of day for the stamp (replaceable in tests).
    """

    def __init__(
        self,
        total: int,
        write: Callable[[str], None],
        *,
        every: float = PLAIN_EVERY,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], str] = lambda: time.strftime("%H:%M:%S"),
    ) -> None:
        super().__init__(total, clock)
        self.write, self.every, self.wall = write, every, wall
        self.last: float | None = None

    def changed(self, *, new_fit: bool) -> None:
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
    """

    def __init__(self, total: int, bar: Progress) -> None:
        super().__init__(total)
        self.bar = bar
        self.task = bar.add_task("starting", total=self.total, fits="", status="")

    def changed(self, *, new_fit: bool) -> None:
        self.bar.update(
            self.task,
            description=self.label,
            completed=self.fraction * self.total,
            fits=f"{self.done}/{self.total} fits",
            status=self.status(),
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
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )


@contextmanager
def run_progress(
    console: Console, total: int, *, live: bool, every: float = PLAIN_EVERY
) -> Iterator[RunProgress]:
    """The progress of a run of ``total`` fits, shown on ``console``.

    Args:
        console: where progress goes (stderr, so stdout keeps the results).
        total: the number of fits.
        live: a rich bar (a terminal); else plain lines every ``every`` seconds.
        every: seconds between plain lines.
    """
    if not live:
        yield PlainProgress(
            total,
            lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True),
            every=every,
        )
        return
    with Progress(*live_columns(), console=console, transient=True) as bar:
        yield LiveProgress(total, bar)
