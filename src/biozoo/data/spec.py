"""The ``data`` section of a run config: modalities, target, and what to do with gaps.

Each modality names its ``kind`` (``table`` by default); the kind, looked up in
:data:`~biozoo.data.protocol.MODALITIES`, validates the rest of the modality's keys with its
own config class (a subclass of :class:`ModalityConfig`), so an error keeps its location
(``data.modalities.pep.sequence.alphabet: ...``) and an unknown kind gets "did you mean".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveInt,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from biozoo.data.protocol import MODALITIES, Part
from biozoo.errors import BiozooError
from biozoo.tasks import TASKS, TargetOptions, Task

__all__ = [
    "SAFE_NAME",
    "DataConfig",
    "ModalityConfig",
    "PartSpec",
    "Strict",
    "TargetConfig",
    "TransformConfig",
    "describe_error",
    "nested_error",
    "part_for",
    "view_class",
]


SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_+-]{0,63}$"
"""Names that become file names or module keys (models, modalities, splits): letters,
digits, ``_`` and ``-``, starting with a letter or digit, at most 64 characters. No ``/``, no
``..`` (a path outside the run folder) and no ``.`` (torch module keys cannot hold one)."""


def check_names(names: Any, what: str) -> None:
    """Raise ``ValueError`` naming the first of ``names`` that is not a :data:`SAFE_NAME`."""
    for name in names:
        if not isinstance(name, str) or not re.match(SAFE_NAME, name):
            raise ValueError(
                f"{what} name {name!r} is not allowed: use letters, digits, '_', '+' and '-' "
                "(at most 64, starting with a letter or digit)"
            )


class Strict(BaseModel):
    """Base for every config section: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class PartSpec(BaseModel):
    """A registered part by name plus its options: ``{name: mlp, hidden: [64]}``.

    Options are validated against the part's own ``Config`` when the run config is checked.
    """

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TransformConfig(Strict):
    """A table's transforms, fitted on the training part of each fold only.

    Mirrors the keyword arguments of :class:`biozoo.data.table.transform.TableTransform`.
    """

    impute: Literal["median", "mean", "zero"] = "median"
    min_variance: NonNegativeFloat = 1e-8
    max_missing: float = Field(0.5, gt=0.0, le=1.0)
    top_k: PositiveInt | None = None
    max_corr: float | None = Field(None, gt=0.0, le=1.0)
    scale: bool | Literal["robust_clip"] = True
    log1p: bool = False


Format = Literal["auto", "csv", "tsv", "parquet", "h5ad", "h5mu"]


class _Source(Strict):
    path: Path | None = None
    dataset: str | None = None
    format: Format = "auto"
    id_column: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.path is None) == (self.dataset is None):
            raise ValueError("give exactly one of 'path' or 'dataset'")
        return self

    def resolved(self, base: Path) -> Self:
        """A copy whose relative file paths are made absolute against ``base``."""
        if self.path is None or self.path.is_absolute():
            return self
        return self.model_copy(update={"path": (base / self.path).resolve()})


class ModalityConfig(_Source):
    """One input modality: its ``kind``, where it is, and the view it is fed through.

    A kind subclasses this with its own keys (reader options, view options) and registers
    it as its :attr:`~biozoo.data.protocol.ModalityKind.Config`. ``view`` names one of the
    kind's views (default: the kind's default view).
    """

    kind: str = "table"
    view: str | None = None

    @model_validator(mode="after")
    def _known_view(self) -> Self:
        views = MODALITIES.get(self.kind).views
        if self.view is not None and self.view not in views:
            msg = views.unknown_message(self.view)
            raise PydanticCustomError("nested", "{loc}: {msg}", {"loc": "view", "msg": msg})
        return self

    def view_spec(self) -> tuple[str, dict[str, Any]]:
        """The view this modality is fed through, and the view's options."""
        return self.view or MODALITIES.get(self.kind).default_view, {}

    def check_view_options(self, section: str) -> None:
        """Validate :meth:`view_spec`'s options with the view's ``Config``.

        Raises:
            PydanticCustomError: an option is wrong; its location starts at ``section``.
        """
        name, options = self.view_spec()
        schema = getattr(MODALITIES.get(self.kind).views.get(name), "Config", None)
        if schema is None:
            return
        try:
            schema(**options)
        except ValidationError as err:
            raise nested_error(err, section) from None


def view_class(cfg: ModalityConfig) -> type[Part]:
    """The part class (the kind's view) a modality's config asks for."""
    return MODALITIES.get(cfg.kind).views.get(cfg.view_spec()[0])


def part_for(cfg: ModalityConfig) -> Part:
    """A fresh (unfitted) part for a modality's config: its kind's view, with its options."""
    return view_class(cfg)(**cfg.view_spec()[1])


class RecordConfig(ModalityConfig):
    """Base of the kinds read from one file of records (sequences, series, molecules)."""

    @model_validator(mode="after")
    def _a_file(self) -> Self:
        if self.dataset is not None:
            raise ValueError(f"kind {self.kind} reads a file given by 'path'")
        return self


class TargetConfig(_Source):
    """The target: label columns of a file with a sample-id column, or of a bundled dataset.

    ``task`` names a :data:`~biozoo.tasks.TASKS` entry; the task's own keys follow and are
    validated by the task (``column`` for binary, multiclass and regression; ``time`` and
    ``event``, optionally ``ties``, for survival).
    """

    model_config = ConfigDict(extra="allow", frozen=False)
    task: str

    @model_validator(mode="after")
    def _task_keys(self) -> Self:
        if self.task not in TASKS:
            raise ValueError(TASKS.unknown_message(self.task, where="task"))
        self.options()
        return self

    def options(self) -> TargetOptions:
        """The task's target options (its keys of this section).

        Raises:
            ValueError: a key is missing, unknown or wrong, in one sentence.
        """
        try:
            return TASKS.get(self.task).parse_options(self.model_extra or {}, where="target")
        except BiozooError as err:
            raise ValueError(str(err).removeprefix("target.").rstrip(".")) from None

    def build_task(self) -> Task:
        """The task this target is for, with its options."""
        return TASKS.get(self.task).from_options(self.options())

    def columns(self) -> list[str]:
        """The label columns the task reads."""
        return self.options().columns()


class DataConfig(Strict):
    """Modalities by name, the target, and whether samples lacking a modality are kept.

    ``unlabelled: keep`` keeps the samples whose label is missing (default: they are
    dropped, with a warning). They join the training part of every split, so a latent
    model's unsupervised loss learns from them (a semi-supervised model); they are never in
    a test part, never scored, and left out of every supervised loss, fold transform and
    classical baseline.
    """

    modalities: dict[str, SerializeAsAny[ModalityConfig]] = Field(min_length=1)
    target: TargetConfig
    missing_modality: Literal["drop", "keep"] = "drop"
    unlabelled: Literal["drop", "keep"] = "drop"

    @field_validator("modalities", mode="before")
    @classmethod
    def _by_kind(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        check_names(raw, "modality")
        return {name: _modality(name, value) for name, value in raw.items()}

    def resolved(self, base: Path) -> DataConfig:
        """A copy whose relative file paths (data, gene sets, edge lists) are absolute."""
        return self.model_copy(
            update={
                "modalities": {k: m.resolved(base) for k, m in self.modalities.items()},
                "target": self.target.resolved(base),
            }
        )


def _modality(name: str, value: Any) -> Any:
    """One modality validated by its kind's own config class."""
    if isinstance(value, ModalityConfig) or not isinstance(value, dict):
        return value
    kind = value.get("kind", "table")
    if kind not in MODALITIES:
        msg = MODALITIES.unknown_message(str(kind))
        raise PydanticCustomError("nested", "{loc}: {msg}", {"loc": f"{name}.kind", "msg": msg})
    schema = MODALITIES.get(kind).Config
    # run folders written before kinds had their own config classes list every kind's
    # section, most of them null
    value = {k: v for k, v in value.items() if v is not None or k in schema.model_fields}
    try:
        return schema.model_validate(value)
    except ValidationError as err:
        raise nested_error(err, name) from None


def nested_error(err: ValidationError, where: str) -> PydanticCustomError:
    """An error raised inside a validator that keeps the inner error's location.

    ``where`` is the location of the validated value relative to the validator's field;
    :func:`describe_error` joins it back to the outer location.
    """
    e = err.errors()[0]
    inner = [str(p) for p in e["loc"]]
    ctx = e.get("ctx") or {}
    if e["type"] == "nested":
        inner.append(str(ctx["loc"]))
        msg = str(ctx["msg"])
    else:
        msg = describe_error(e)[1]
    loc = ".".join([where, *inner])
    return PydanticCustomError("nested", "{loc}: {msg}", {"loc": loc, "msg": msg})


def describe_error(e: Any) -> tuple[str, str]:
    """A pydantic error as ``(location, message)``, nested locations joined."""
    loc = ".".join(str(p) for p in e["loc"])
    if e["type"] == "nested":
        ctx = e["ctx"]
        return ".".join(p for p in (loc, str(ctx["loc"])) if p), str(ctx["msg"])
    if e["type"] == "extra_forbidden":
        return loc, "unknown key"
    return loc, str(e["msg"]).removeprefix("Value error, ")
