"""The ``biozoo`` command line."""

from biozoo.cli.app import app, main

__all__ = ["app", "main"]
