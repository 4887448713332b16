"""Log lines on the terminal: biozoo's own, and only the warnings of everything else.

``biozoo -v`` turns on biozoo's debug lines. The libraries underneath (numba, matplotlib,
Lightning, PIL...) log heavily at debug level, and some set their own loggers' levels, so a
level on the root logger alone does not keep them out: a filter on the one handler lets
through biozoo's records at any level and other loggers' records from ``WARNING`` up.
"""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

__all__ = ["OwnRecords", "configure_logging"]

OWN = "biozoo"


class OwnRecords(logging.Filter):
    """Passes every record of the ``biozoo`` loggers, and others' from ``WARNING`` up."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == OWN or record.name.startswith(OWN + ".")
        return own or record.levelno >= logging.WARNING


def configure_logging(console: Console, *, verbose: bool = False) -> None:
    """Send log records to ``console`` (rich, no time or path columns).

    Args:
        console: where the lines go (stderr).
        verbose: show biozoo's debug lines (else its warnings and errors only).
    """
    handler = RichHandler(console=console, show_time=False, show_path=False)
    handler.addFilter(OwnRecords())
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[handler], force=True)
    logging.getLogger(OWN).setLevel(logging.DEBUG if verbose else logging.WARNING)
