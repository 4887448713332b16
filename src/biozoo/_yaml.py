"""Reading a YAML file a person wrote: UTF-8 only, no duplicate keys, one-sentence errors.

``yaml.safe_load`` keeps the last of two equal keys in a mapping without a word; a config
with ``lr`` twice would train with whichever came last. :func:`read_yaml` rejects it and
names the key and its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from biozoo.errors import BiozooError

__all__ = ["read_yaml"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a mapping with the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the base class reports it
                continue
            if duplicate:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(key, line)
        self.key = key
        self.line = line


def read_yaml(path: Path, what: str = "file") -> Any:
    """The content of the YAML file ``path``.

    Args:
        path: the file.
        what: what the file is, for messages ("config file").

    Raises:
        BiozooError: the file is missing or unreadable, is not UTF-8, is not YAML, or a
            mapping has a key twice.
    """
    path = Path(path)
    if not path.is_file():
        raise BiozooError(f"{what} {path} does not exist.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BiozooError(
            f"{what} {path} is not UTF-8 text (byte {err.start}); save it as UTF-8."
        ) from None
    except OSError as err:
        raise BiozooError(f"{what} {path} could not be read: {err.strerror}.") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except _DuplicateKey as dup:
        raise BiozooError(
            f"{what} {path} has the key {dup.key!r} twice in one mapping (line {dup.line})."
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BiozooError(f"{what} {path} is not valid YAML{where}.") from None
    except RecursionError:
        raise BiozooError(f"{what} {path} is nested too deeply.") from None
