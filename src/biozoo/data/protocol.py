"""What a modality kind and its parts provide; the :data:`MODALITIES` registry.

A *kind* (table, sequence, series, molecule...) is one :class:`ModalityKind`: the config
class of its modalities, a reader, how the read data is aligned to the cohort's sample ids,
and its *views*: the :class:`Part` classes that turn one modality into an encoder's input.
A table, for instance, can be fed as a matrix, as ranked-gene tokens, as groups of features or
as node values on a feature graph.

A part is fitted on the training samples of each split and applied to every sample:

- ``fit(mod, y, task)`` on the training part of a split only (nothing of the other samples
  may leak into its state);
- ``transform(mod)`` -> the encoder's input (a tensor, a dict of tensors, a graph source);
- ``flat(mod)`` -> a float32 matrix ``[n, q]`` for the classical baselines;
- ``input`` -> the :data:`~biozoo.inputs.InputSpec` the encoder is built from;
- ``feature_names()`` / ``token_names()`` -> names of the input's columns (attributions) and
  of its tokens (attention), or None;
- ``state()`` / ``from_state(arrays, meta)`` to save it with the run (safetensors);
- ``report`` -> a few JSON-able counts for the run summary;
- ``type`` -> ``"<kind>/<view>"``, the name the saved state is reloaded by
  (:func:`part_class`).

A part that can also change a *training* batch at random (image flips, rotations...) follows
:class:`Augments` as well; the training feed finds it with ``isinstance`` and calls it on each
member's training batches with that member's own generator. Evaluation and prediction batches
are never augmented.

Adding a kind is one subpackage that registers a :class:`ModalityKind` with
:func:`register_modality`, plus its import line in ``biozoo/data/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel

from biozoo.data.read import Read
from biozoo.errors import BiozooError
from biozoo.inputs import InputSpec
from biozoo.registry import Registry
from biozoo.tasks import Task

if TYPE_CHECKING:
    from biozoo.data.cohort import Modality

__all__ = [
    "MODALITIES",
    "Augments",
    "ModalityKind",
    "Part",
    "Read",
    "part_class",
    "register_modality",
]


@runtime_checkable
class Part(Protocol):
    """One modality's fold transform (see the module docstring for the contract)."""

    type: ClassVar[str]

    def fit(self, mod: Any, y: np.ndarray | None, task: Task) -> Self: ...

    def transform(self, mod: Any) -> Any: ...

    def flat(self, mod: Any) -> np.ndarray: ...

    @property
    def input(self) -> InputSpec: ...

    def feature_names(self) -> list[str] | None: ...

    def token_names(self) -> list[str] | None: ...

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Self: ...

    @property
    def report(self) -> dict[str, Any]: ...


@runtime_checkable
class Augments(Protocol):
    """A part whose encoder input can be augmented at random during training.

    ``augment(x, generator)`` takes one member's training batch of the part's input (e.g.
    ``[B, C, H, W]`` images) and returns a new batch of the same shape, every random draw
    taken from ``generator`` (one per member and epoch, so runs stay deterministic).
    """

    def augment(self, x: Any, generator: torch.Generator) -> Any: ...


@dataclass(frozen=True)
class ModalityKind:
    """One kind of modality.

    Attributes:
        name: the ``kind`` of the config.
        Config: the config class of its modalities (a subclass of
            :class:`~biozoo.data.spec.ModalityConfig`, ``extra="forbid"``).
        read: ``read(name, config) -> Read``.
        align: ``align(name, kind, read, ids) -> Modality``: the read data in ``ids`` order.
        views: its :class:`Part` classes by view name.
        default_view: the view of a modality that names none.
    """

    name: str
    Config: type[BaseModel]
    read: Callable[[str, Any], Read]
    align: Callable[[str, str, Read, pd.Index], Modality]
    views: Registry[type[Part]]
    default_view: str


MODALITIES: Registry[ModalityKind] = Registry("modality kind")


def register_modality(kind: ModalityKind) -> ModalityKind:
    """Add a kind to :data:`MODALITIES` (a second kind of the same name is an error)."""
    if kind.default_view not in kind.views:
        raise ValueError(f"default view {kind.default_view!r} is not a view of {kind.name!r}")
    return MODALITIES.register(kind.name)(kind)


def part_class(saved_type: str) -> type[Part]:
    """The part class of a saved ``type`` (``"<kind>/<view>"``).

    Runs saved before views were named wrote the kind's name for its default view, or the
    view's name alone (``gene_rank``); both are still found.

    Raises:
        BiozooError: no registered kind has that view.
    """
    kind, sep, view = saved_type.partition("/")
    if sep:
        return MODALITIES.get(kind).views.get(view)
    if saved_type in MODALITIES:
        k = MODALITIES.get(saved_type)
        return k.views.get(k.default_view)
    for k in MODALITIES:
        views = MODALITIES.get(k).views
        if saved_type in views:
            return views.get(saved_type)
    raise BiozooError(f"no registered modality kind has a view {saved_type!r}.")
