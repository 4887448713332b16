"""Write a file or a folder under a temporary name and rename it when complete.

A reader never sees a half-written output: the temporary sits in the same folder as the
target (so the rename is atomic), and any exception removes it.

Modes follow the umask, as ``mkdir`` and ``open`` do: with the common ``umask 022`` a run
folder is 0755 and its files 0644; with ``umask 077`` (a shared server) 0700 and 0600. While
being written a folder is private (0700). A temporary's name holds the host and process id,
so :func:`stale_partials` can tell one left by a killed process from one still being written.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PARTIAL", "atomic_dir", "atomic_file", "json_default", "stale_partials"]

PARTIAL = ".partial"


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
def atomic_dir(
    final: Path | Callable[[], Path],
    *,
    replace: bool = False,
    adopt: Path | None = None,
    keep: Callable[[Path, BaseException], bool] | None = None,
) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``final``, renamed to it when the block succeeds.

    Args:
        final: the folder's name once complete, or a function giving it (called at the end,
            e.g. to stamp the time the folder was finished).
        replace: swap out an existing ``final`` (removed once the new one is in place);
            without it an existing ``final`` is an error of :func:`os.rename`.
        adopt: a temporary folder (in ``final``'s folder) left by an earlier process, taken
            over with its contents under a name of this process (one rename, so of two
            processes adopting it only one gets it: the other's rename fails).
        keep: called with the temporary folder and the exception on failure; when it says
            True the folder stays where it is (e.g. a run interrupted after some finished work
            that can be resumed).

    On failure nothing is left (unless ``keep`` says otherwise): the temporary folder goes,
    and so do the parent folders this call made, while they are empty.
    """
    first = final() if callable(final) else Path(final)
    made = [p for p in (first.parent, *first.parent.parents) if not p.exists()]  # deepest first
    first.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{first.name}-{_owner()}-", suffix=PARTIAL, dir=first.parent)
    )
    if adopt is not None:
        try:
            os.rename(adopt, tmp)  # onto our own empty folder
        except BaseException:
            tmp.rmdir()
            raise
    try:
        yield tmp
        _follow_umask(tmp)
        target = final() if callable(final) else first
        old = None
        if replace and target.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".old", dir=target.parent)
            )
            os.rename(target, old / target.name)
        _rename(tmp, target, final if callable(final) else None)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as err:
        if keep is not None and tmp.is_dir() and keep(tmp, err):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        for parent in made:
            try:
                parent.rmdir()  # only while empty: another writer may have put something there
            except OSError:
                break
        raise


def _rename(tmp: Path, target: Path, again: Callable[[], Path] | None) -> None:
    """Rename ``tmp`` to ``target``, never onto a folder that appeared meanwhile.

    Another process may finish a folder of the same name between the caller's check and
    the rename; ``os.rename`` would then fail (a full folder) or replace it (an empty one).
    A hard-to-race ``mkdir`` claims the name first; with ``again`` a taken name is retried.
    """
    for _ in range(100):
        try:
            os.mkdir(target)  # claim the name: fails if another run has it
        except FileExistsError:
            if again is None:
                raise
            target = again()
            continue
        try:
            os.rename(tmp, target)  # onto our own empty folder
        except BaseException:
            os.rmdir(target)
            raise
        return
    raise FileExistsError(errno.EEXIST, "no free name", str(target))


def _follow_umask(folder: Path) -> None:
    """Give ``folder`` and everything in it the umask's modes (some writers, such as
    safetensors, create private files whatever the umask)."""
    mask = _umask()
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o777 & ~mask)
        for f in files:
            os.chmod(os.path.join(root, f), 0o666 & ~mask)
    os.chmod(folder, 0o777 & ~mask)


def _owner() -> str:
    """``<host>-<pid>`` of this process, as it appears in its temporaries' names."""
    return f"{socket.gethostname().split('.')[0]}-{os.getpid()}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def stale_partials(folder: Path) -> list[Path]:
    """Temporary folders in ``folder`` whose writer on this host is no longer running."""
    host = socket.gethostname().split(".")[0]
    stale = []
    for p in Path(folder).glob(f".*-{host}-*{PARTIAL}") if Path(folder).is_dir() else []:
        m = re.search(rf"-{re.escape(host)}-(\d+)-[^-]*{re.escape(PARTIAL)}$", p.name)
        if m and p.is_dir() and not _alive(int(m.group(1))):
            stale.append(p)
    return sorted(stale)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def json_default(obj: object) -> object:
    """``json.dumps(default=...)`` for numpy arrays and scalars (and paths)."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
