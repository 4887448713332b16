"""The ``biozoo`` command line."""

from biozoo.cli import events as _events  # noqa: F401  (registers events)
from biozoo.cli import parts as _parts  # noqa: F401  (registers check, parts)
from biozoo.cli.app import app, main

__all__ = ["app", "main"]
