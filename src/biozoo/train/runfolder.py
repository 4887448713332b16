"""The run folder, written atomically: a hidden temporary folder renamed when complete.

An interrupted or failed run leaves no folder under its final name (the partial one is
removed), so a folder that exists is a finished run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from types import TracebackType

import pandas as pd

__all__ = ["RunFolder"]


class RunFolder:
    """Collects a run's files in ``<out>/.<name>-*.partial`` and renames it on success.

    Use as a context manager: on an exception the partial folder is deleted.
    """

    def __init__(self, out_dir: Path, name: str) -> None:
        self.out_dir = Path(out_dir)
        self.name = name
        self.tmp: Path | None = None
        self.final: Path | None = None

    def __enter__(self) -> RunFolder:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.name}-", suffix=".partial", dir=self.out_dir)
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and self.tmp is not None and self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, relative: str) -> Path:
        """A path inside the (temporary) run folder; parent folders are created."""
        assert self.tmp is not None, "use RunFolder as a context manager"
        p = self.tmp / relative
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_json(self, relative: str, obj: object) -> None:
        self.path(relative).write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")

    def write_csv(self, relative: str, frame: pd.DataFrame) -> None:
        frame.to_csv(self.path(relative), index=False)

    def write_text(self, relative: str, text: str) -> None:
        self.path(relative).write_text(text)

    def commit(self) -> Path:
        """Rename the finished folder to ``<out>/<name>-<timestamp>`` and return that path."""
        assert self.tmp is not None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        final = self.out_dir / f"{self.name}-{stamp}"
        k = 1
        while final.exists():
            k += 1
            final = self.out_dir / f"{self.name}-{stamp}-{k}"
        os.rename(self.tmp, final)
        self.final, self.tmp = final, None
        return final


def _jsonable(obj: object) -> object:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
