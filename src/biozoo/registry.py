"""A name -> builder map, one instance per kind of part (encoders, fusions, heads, ...)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from biozoo.errors import BiozooError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to registered objects (usually classes).

    Args:
        kind: what is registered, used in messages ("encoder", "fusion", ...).

    Example:
        >>> ENCODERS = Registry("encoder")
        >>> @ENCODERS.register("mlp")
        ... class MLPEncoder: ...
        >>> ENCODERS.get("mlp") is MLPEncoder
        True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers an object under ``name``; a duplicate name is an error."""

        def decorate(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorate

    def get(self, name: str, *, where: str | None = None) -> T:
        """The object registered as ``name``, or a :class:`BiozooError` with "did you mean"."""
        if name in self._items:
            return self._items[name]
        raise BiozooError(self.unknown_message(name, where=where))

    def unknown_message(self, name: str, *, where: str | None = None) -> str:
        """One sentence saying ``name`` is unknown, with the closest registered names."""
        place = f" at {where}" if where else ""
        close = difflib.get_close_matches(name, self._items, n=3, cutoff=0.5)
        hint = (
            f"; did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else f"; known: {', '.join(sorted(self._items))}."
        )
        return f"unknown {self.kind} {name!r}{place}{hint}"

    def build(self, name: str, /, **kwargs: object) -> object:
        """Call the object registered as ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)  # type: ignore[operator]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
