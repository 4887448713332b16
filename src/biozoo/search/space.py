"""The search space of ``biozoo search``: the ``search:`` section's typed schema.

A value to search is written as a range or a list of choices; anything else is a fixed
value, passed on as written:

- ``{low: 1e-4, high: 1e-2, log: true}``: a float (an int when both ends are integers,
  with an optional ``step``);
- ``{choices: [adamw, lion]}``: one of the listed values (a value may be a list, such as
  hidden layer sizes);
- ``{width: {low: 16, high: 128, log: true}, depth: {low: 1, high: 3}}``: ``depth`` equal
  layer sizes of one ``width``, for the ``hidden`` option of an encoder or a head.

Per modality, ``space.encoders`` lists the encoder choices (one spec or a list, each with its
options written inline like a run config's encoder spec); ``space.fusion`` the fusion
choices; ``space.head`` the head's ``hidden`` and ``dropout``; ``space.training`` any fit
option (optimizer, lr, weight_decay, epochs, patience, batch_size...).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Protocol, Self, runtime_checkable

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StrictInt,
    Tag,
    field_validator,
    model_validator,
)

from biozoo.data.spec import SAFE_NAME, Strict, check_names
from biozoo.data.splits import SplitConfig

__all__ = [
    "Choices",
    "FloatRange",
    "IntRange",
    "Layers",
    "Param",
    "PartChoice",
    "SearchConfig",
    "SearchSpace",
    "Searched",
    "draw",
]


class Trial(Protocol):
    """What a searched value asks of an Optuna trial (a real one or a ``FixedTrial``)."""

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...


@runtime_checkable
class Searched(Protocol):
    """A value a trial chooses: :class:`IntRange`, :class:`FloatRange`, :class:`Choices` or
    :class:`Layers`."""

    def suggest(self, trial: Trial, name: str) -> Any:
        """The trial's value, recorded under the parameter ``name``."""
        ...

    def extremes(self) -> list[Any]:
        """The values at the edges of the space (checked against the part's options)."""
        ...


def draw(trial: Trial, name: str, value: Any) -> Any:
    """``value`` chosen by ``trial`` when it is searched, else ``value`` itself."""
    return value.suggest(trial, name) if isinstance(value, Searched) else value


class IntRange(Strict):
    """Integers from ``low`` to ``high`` (both included), every ``step``, or log-uniform."""

    low: StrictInt
    high: StrictInt
    log: bool = False
    step: PositiveInt = 1

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError("a log range takes no step")
        return self

    def suggest(self, trial: Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]


class FloatRange(Strict):
    """Floats from ``low`` to ``high``, uniform or (``log``) log-uniform."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        _check_range(self.low, self.high, self.log)
        return self

    def suggest(self, trial: Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]


def _check_range(low: float, high: float, log: bool) -> None:
    if high < low:
        raise ValueError(f"empty range: low {low} is above high {high}")
    if log and low <= 0:
        raise ValueError(f"a log range needs low > 0, got {low}")


class Choices(Strict):
    """One of ``choices`` (at least one)."""

    choices: list[Any]

    @field_validator("choices")
    @classmethod
    def _not_empty(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("empty list of choices")
        return value

    def suggest(self, trial: Trial, name: str) -> Any:
        if all(_plain(c) for c in self.choices):
            return trial.suggest_categorical(name, list(self.choices))
        # Optuna records plain values only: a list (layer sizes) is chosen by its JSON text
        return json.loads(trial.suggest_categorical(name, [json.dumps(c) for c in self.choices]))

    def extremes(self) -> list[Any]:
        return list(self.choices)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _param_kind(value: Any) -> str:
    """Which kind of :data:`Param` a raw value is (``fixed``: not searched)."""
    if isinstance(value, BaseModel):
        return {IntRange: "int", FloatRange: "float", Choices: "choices", Layers: "layers"}.get(
            type(value), "fixed"
        )
    if not isinstance(value, dict):
        return "fixed"
    keys = set(value)
    if keys == {"choices"}:
        return "choices"
    if keys == {"width", "depth"}:
        return "layers"
    if {"low", "high"} <= keys <= {"low", "high", "log", "step"}:
        ints = all(
            isinstance(value[k], int) and not isinstance(value[k], bool)
            for k in keys & {"low", "high"}
        )
        return "int" if ints else "float"
    return "fixed"


Bound = Annotated[
    Annotated[IntRange, Tag("int")]
    | Annotated[Choices, Tag("choices")]
    | Annotated[NonNegativeInt, Tag("fixed")],
    Discriminator(_param_kind),
]
"""An integer range, a list of choices or one integer (the width or depth of :class:`Layers`)."""


class Layers(Strict):
    """``depth`` hidden layers of one ``width``: ``[width] * depth``."""

    width: Bound
    depth: Bound

    def suggest(self, trial: Trial, name: str) -> list[int]:
        depth = draw(trial, f"{name}.depth", self.depth)
        return [draw(trial, f"{name}.width", self.width)] * depth

    def extremes(self) -> list[Any]:
        return [[w] * d for w in _extremes(self.width) for d in _extremes(self.depth)]


def _extremes(value: Any) -> list[Any]:
    return value.extremes() if isinstance(value, Searched) else [value]


Param = Annotated[
    Annotated[IntRange, Tag("int")]
    | Annotated[FloatRange, Tag("float")]
    | Annotated[Choices, Tag("choices")]
    | Annotated[Layers, Tag("layers")]
    | Annotated[Any, Tag("fixed")],
    Discriminator(_param_kind),
]
"""A searched value (a range, choices or layers), or a fixed value passed on as written."""


class PartChoice(BaseModel):
    """One registered part to choose, with its options (searched or fixed) written inline."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Param] = Field(init=False)  # type: ignore[assignment]
    name: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


PartChoices = Annotated[list[PartChoice], Field(min_length=1)]


class SearchSpace(Strict):
    """What a trial may change; everything not listed keeps the run config's value."""

    encoders: dict[str, PartChoices] = Field(default_factory=dict)
    default_encoder: PartChoices | None = None
    fusion: PartChoices | None = None
    head: dict[str, Param] = Field(default_factory=dict)
    training: dict[str, Param] = Field(default_factory=dict)

    @field_validator("encoders", mode="before")
    @classmethod
    def _encoder_lists(cls, value: Any) -> Any:
        return {k: _as_list(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("default_encoder", "fusion", mode="before")
    @classmethod
    def _part_list(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("encoders")
    @classmethod
    def _safe_modalities(cls, value: dict[str, list[PartChoice]]) -> dict[str, list[PartChoice]]:
        check_names(value, "modality")
        return value

    @field_validator("head")
    @classmethod
    def _head_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        from biozoo.config import HeadConfig

        _known_keys(value, HeadConfig, "head")
        return value

    @field_validator("training")
    @classmethod
    def _training_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        from biozoo.config import FitOptions

        _known_keys(value, FitOptions, "fit option")
        return value


def _known_keys(value: dict[str, Any], model: type[BaseModel], what: str) -> None:
    for key in value:
        if key not in model.model_fields:
            known = ", ".join(model.model_fields)
            raise ValueError(f"unknown {what} {key!r} (known: {known})")


class SearchConfig(Strict):
    """The ``search:`` section: the space, the budget and the nested evaluation.

    ``trials`` is the number of finished (complete or pruned) trials per outer split;
    ``inner`` splits each outer training part for the search (``kfold`` or ``holdout``);
    ``seed`` seeds the TPE sampler (default: ``training.seed``); ``pruner`` stops a trial
    whose running inner score falls below the median of earlier trials at the same inner
    fold (``median``), by successive halving over the inner folds (``hyperband``), or never
    (``none``); ``timeout`` caps the seconds of search per outer split; ``label`` names the
    leaderboard row (default ``searched-<encoder>`` when every choice is one encoder
    family, else ``searched``); ``heartbeat`` is the seconds between a trial's heartbeats in
    a shared storage, after which a silent (killed) worker's trial is marked failed.
    """

    trials: PositiveInt = 20
    inner: SplitConfig = Field(default_factory=lambda: SplitConfig(kind="kfold", folds=3))
    seed: int | None = None
    pruner: str = "median"
    timeout: PositiveFloat | None = None
    label: str | None = Field(None, pattern=SAFE_NAME)
    heartbeat: PositiveInt = 30
    space: SearchSpace

    def name(self) -> str:
        """The leaderboard row of the searched model."""
        if self.label is not None:
            return self.label
        parts = [*self.space.encoders.values()]
        if self.space.default_encoder is not None:
            parts.append(self.space.default_encoder)
        families = {c.name for choices in parts for c in choices}
        return f"searched-{families.pop()}" if len(families) == 1 else "searched"
