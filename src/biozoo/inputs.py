"""What an encoder is built from: one typed, frozen description per input kind.

A fitted part (:mod:`biozoo.data.protocol`) says what its output looks like with an
:data:`InputSpec`; an encoder declares the spec types it reads (``reads = (TableInput, ...)``)
and is built with the spec. Specs round-trip through the JSON metadata saved with a run's
weights (:meth:`to_meta` / :func:`input_from_meta`).

Batch formats, per spec (``B`` samples):

- :class:`TableInput`: a float tensor ``[B, n_features]``.
- :class:`TokensInput`: ``{"tokens": [B, L] int64 (0 = padding), "mask": [B, L] bool}``, and
  ``"values": [B, L] int64`` (a value id per token) when its ``values`` is set.
- :class:`SeriesInput`: ``{"values": [B, T, channels], "mask": [B, T] bool}``.
- :class:`GroupsInput`: ``{"values": [B, groups, size], "mask": [B, groups, size] bool}``.
- :class:`GraphInput`: a graph source (one PyG graph per sample).
- :class:`FeatureGraphInput`: a float tensor ``[B, n_features]`` of node values on one shared
  feature graph.
- :class:`ImageInput`: a float tensor ``[B, channels, height, width]`` (channels first).
- :class:`EventsInput`: ``{"codes": [B, L] int64 (0 = padding), "ages": [B, L] float32,
  "mask": [B, L] bool, "covariates": [B, covariates] float32}``: life events in age order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from biozoo.errors import BiozooError

__all__ = [
    "EventsInput",
    "FeatureGraphInput",
    "GraphInput",
    "GroupsInput",
    "ImageInput",
    "InputSpec",
    "SeriesInput",
    "TableInput",
    "TokensInput",
    "VALUE_FIRST",
    "VALUE_HIDDEN",
    "VALUE_NONE",
    "input_from_meta",
    "input_kinds",
]


VALUE_NONE = 0  # value id of a token without a value (padding, [CLS])
VALUE_HIDDEN = 1  # value id of a token whose value is hidden (masked pretraining)
VALUE_FIRST = 2  # value id of the first (lowest) value bin


class _Spec:
    """Shared behaviour: a short kind name, and a JSON-able dict for saved metadata."""

    kind: ClassVar[str]

    def to_meta(self) -> dict[str, Any]:
        """A JSON-able dict, ``kind`` first; :func:`input_from_meta` reads it back."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return {"kind": self.kind, **{k: _plain(v) for k, v in fields.items()}}

    def __str__(self) -> str:
        return self.kind


@dataclass(frozen=True)
class TableInput(_Spec):
    """A matrix of ``n_features`` columns."""

    kind: ClassVar[str] = "table"
    n_features: int


@dataclass(frozen=True)
class TokensInput(_Spec):
    """Token ids from a vocabulary of ``vocab`` ids (0 is padding), at most ``max_len``.

    ``values`` > 0: each token also carries a value id (batch key ``"values"``, Long
    ``[B, L]``) from ``values`` ids: :data:`VALUE_NONE` (padding, ``[CLS]``),
    :data:`VALUE_HIDDEN` (hidden by masked pretraining), then the value bins.
    """

    kind: ClassVar[str] = "tokens"
    vocab: int
    max_len: int
    values: int = 0


@dataclass(frozen=True)
class SeriesInput(_Spec):
    """Time steps of ``channels`` values, at most ``max_len`` steps."""

    kind: ClassVar[str] = "series"
    channels: int
    max_len: int


@dataclass(frozen=True)
class GroupsInput(_Spec):
    """``groups`` feature groups, each padded to ``size`` values."""

    kind: ClassVar[str] = "groups"
    groups: int
    size: int


@dataclass(frozen=True)
class GraphInput(_Spec):
    """One graph per sample: ``node_dim`` features per node, ``edge_dim`` per edge (may be 0)."""

    kind: ClassVar[str] = "graph"
    node_dim: int
    edge_dim: int = 0


@dataclass(frozen=True)
class FeatureGraphInput(_Spec):
    """A table's ``n_features`` values as the nodes of one shared graph.

    ``edge_index`` holds every undirected edge in both directions as two tuples (sources,
    targets); ``edge_weight`` one weight per directed edge, or None.
    """

    kind: ClassVar[str] = "feature_graph"
    n_features: int
    edge_index: tuple[tuple[int, ...], tuple[int, ...]]
    edge_weight: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        src, dst = (tuple(int(i) for i in row) for row in self.edge_index)
        object.__setattr__(self, "edge_index", (src, dst))
        if self.edge_weight is not None:
            object.__setattr__(self, "edge_weight", tuple(float(w) for w in self.edge_weight))


@dataclass(frozen=True)
class ImageInput(_Spec):
    """Images of ``channels`` planes, each ``height`` by ``width`` pixels after resizing."""

    kind: ClassVar[str] = "image"
    channels: int
    height: int
    width: int


@dataclass(frozen=True)
class EventsInput(_Spec):
    """Histories of at most ``max_len`` events coded from ``vocab`` ids (0 is padding, 1 is
    ``[UNK]``), each at an age, plus ``covariates`` numbers per sample."""

    kind: ClassVar[str] = "events"
    vocab: int
    max_len: int
    covariates: int = 0


InputSpec = (
    TableInput
    | TokensInput
    | SeriesInput
    | GroupsInput
    | GraphInput
    | FeatureGraphInput
    | ImageInput
    | EventsInput
)

_SPECS: dict[str, type[_Spec]] = {
    cls.kind: cls
    for cls in (
        TableInput,
        TokensInput,
        SeriesInput,
        GroupsInput,
        GraphInput,
        FeatureGraphInput,
        ImageInput,
        EventsInput,
    )
}


def input_kinds(specs: tuple[type, ...]) -> str:
    """The kind names of spec types, for messages: ``"tokens or table"``."""
    return " or ".join(cls.kind for cls in specs)


def input_from_meta(meta: InputSpec | dict[str, Any] | int) -> InputSpec:
    """An :data:`InputSpec` from :meth:`to_meta`'s dict (an int: a table saved as its width).

    Keys a spec does not have (e.g. the group names that older runs saved) are ignored.

    Raises:
        BiozooError: the dict names no known input kind or lacks one of its fields.
    """
    if isinstance(meta, _Spec):
        return meta  # type: ignore[return-value]
    if isinstance(meta, int) and not isinstance(meta, bool):
        return TableInput(int(meta))
    if not isinstance(meta, dict) or meta.get("kind") not in _SPECS:
        raise BiozooError(
            f"an input description must name one of the input kinds "
            f"{', '.join(_SPECS)}, got {meta!r}."
        )
    cls = _SPECS[meta["kind"]]
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    required = [
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.default is dataclasses.MISSING
    ]
    missing = [k for k in required if k not in meta]
    if missing:
        raise BiozooError(f"{cls.kind} input description {meta!r} lacks {missing[0]!r}.")
    return cls(**{k: meta[k] for k in names if k in meta})  # type: ignore[return-value]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
