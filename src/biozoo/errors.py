"""The one exception type that carries a message meant for a person.

Anything that is the user's doing (a missing file, a bad key, duplicate sample ids) raises
:class:`BiozooError` with one sentence that names the problem and where it is. The CLI prints
that sentence and exits with status 2; every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import re

__all__ = ["BiozooError"]


class BiozooError(Exception):
    """A problem with the user's input, described in one sentence (on one line: a library's
    multi-line reason quoted in it is joined)."""

    exit_code = 2

    def __init__(self, message: object = "", *args: object) -> None:
        text = re.sub(r"\s*\n\s*(?=[.;:,])", "", str(message))
        super().__init__(re.sub(r"\s*\n\s*", " ", text).strip(), *args)
