"""Arrays of samples with their ids, from an ``.npz`` or an ``.npy`` beside a list of ids.

Record kinds that accept a regular array (series ``[n, T, C]``, images ``[n, C, H, W]``) read
it the same way: an ``.npz`` holding ``values`` and ``ids`` (and any extra arrays the kind
knows), or an ``.npy`` of ``values`` with the ids one per line in a sibling
``<name>.ids.txt`` (``ecg.npy`` -> ``ecg.ids.txt``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from biozoo.errors import BiozooError

__all__ = ["read_id_arrays", "reason"]


def read_id_arrays(path: Path, where: str, what: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (with ``values`` and ``ids``), or of an ``.npy`` + ids file.

    Args:
        path: an ``.npz`` or ``.npy`` file.
        where: how to name the file in messages.
        what: the kind of records, for messages (``series``, ``image``).

    Returns:
        Name -> array; ``values`` and ``ids`` always present (ids as given, not yet str).

    Raises:
        BiozooError: the file cannot be read, has another suffix, lacks ``values`` or ``ids``,
            or an ``.npy`` has no ids file.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "values" not in z or "ids" not in z:
                    raise BiozooError(
                        f"{what} file {where} must hold arrays 'values' and 'ids' "
                        f"(it has {', '.join(z.files) or 'none'})."
                    )
                return {k: z[k] for k in z.files}
        if suffix == ".npy":
            ids_file = path.with_suffix(".ids.txt")
            if not ids_file.is_file():
                raise BiozooError(f"{what} array {where} needs its sample ids in {ids_file}.")
            lines = [x.strip() for x in ids_file.read_text().splitlines()]
            ids = np.array([x for x in lines if x], dtype=object)
            return {"values": np.load(path, allow_pickle=False), "ids": ids}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise BiozooError(f"{what} file {where} could not be read: {reason(err)}.") from None
    raise BiozooError(f"{what} format npy reads .npz or .npy files, not {where}.")


def reason(err: BaseException) -> str:
    """A library's reason for an error, its first line, to quote inside one sentence."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text.rstrip(".")
