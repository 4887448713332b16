"""Write a file or a folder under a temporary name and rename it when complete.

A reader never sees a half-written output: the temporary sits in the same folder as the
target (so the rename is atomic), and any exception removes it. File modes are those of
``open`` (the umask's); a folder's are those of :func:`tempfile.mkdtemp` (private).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_dir", "atomic_file", "json_default"]


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` when the block succeeds.

    Example:
        >>> with atomic_file(out) as tmp:  # doctest: +SKIP
        ...     frame.to_csv(tmp, index=False)
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(final: Path | Callable[[], Path], *, replace: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``final``, renamed to it when the block succeeds.

    Args:
        final: the folder's name once complete, or a function giving it (called at the end,
            e.g. to stamp the time the folder was finished).
        replace: swap out an existing ``final`` (removed once the new one is in place);
            without it an existing ``final`` is an error of :func:`os.rename`.
    """
    first = final() if callable(final) else Path(final)
    first.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{first.name}-", suffix=".partial", dir=first.parent))
    try:
        yield tmp
        target = final() if callable(final) else first
        old = None
        if replace and target.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".old", dir=target.parent)
            )
            os.rename(target, old / target.name)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def json_default(obj: object) -> object:
    """``json.dumps(default=...)`` for numpy arrays and scalars (and paths)."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
