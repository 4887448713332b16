"""The run configuration: a typed schema read from YAML.

A YAML file and a Python call describe the same run: :func:`load_config` reads YAML with
``yaml.safe_load`` and validates it into :class:`RunConfig`; building a :class:`RunConfig` in
Python does the same validation. Unknown keys are rejected with their location, and names of
registered parts (encoders, fusions, optimizers, baselines) are checked against their registry
with "did you mean ...".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from biozoo.errors import BiozooError
from biozoo.tasks import TASKS, TargetOptions, Task

__all__ = [
    "DataConfig",
    "ModalityConfig",
    "ModelConfig",
    "OutputConfig",
    "PartSpec",
    "RunConfig",
    "SplitConfig",
    "TargetConfig",
    "TrainingConfig",
    "TransformConfig",
    "load_config",
    "parse_config",
]


class Strict(BaseModel):
    """Base for every config section: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class TransformConfig(Strict):
    """Per-modality transforms, fitted on the training part of each fold only.

    Mirrors the keyword arguments of :class:`biozoo.data.transforms.TableTransform`.
    """

    impute: Literal["median", "mean", "zero"] = "median"
    min_variance: NonNegativeFloat = 1e-8
    max_missing: float = Field(0.5, gt=0.0, le=1.0)
    top_k: PositiveInt | None = None
    max_corr: float | None = Field(None, gt=0.0, le=1.0)
    scale: bool = True
    log1p: bool = False


Format = Literal["auto", "csv", "tsv", "parquet", "h5ad", "h5mu"]


class _Source(Strict):
    path: Path | None = None
    dataset: str | None = None
    format: Format = "auto"
    id_column: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _Source:
        if (self.path is None) == (self.dataset is None):
            raise ValueError("give exactly one of 'path' or 'dataset'")
        return self


class PartSpec(BaseModel):
    """A registered part by name plus its options: ``{name: mlp, hidden: [64]}``.

    Options are validated against the part's own ``Config`` when the run config is checked.
    """

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


Kind = Literal["table", "sequence", "series", "molecule"]


class ModalityConfig(_Source):
    """One input modality.

    ``kind: table`` (the default) reads a file (CSV/TSV/parquet with samples as rows, or as
    columns with ``transpose: true``; AnnData ``.h5ad``; one ``mod`` of a MuData ``.h5mu``);
    ``dataset`` names a bundled table as ``<dataset>/<table>`` (see ``biozoo datasets``).
    A table is fed to its encoder as a matrix, as tokens (``tokenizer: {name: gene_rank}``
    or ``omics_groups``) or as node values on a feature graph (``graph: {...}``).

    ``kind: sequence`` reads protein or nucleotide strings (FASTA, or a CSV column), options
    under ``sequence:``; ``kind: series`` reads time series (a long CSV), options under
    ``series:``; ``kind: molecule`` reads SMILES from a CSV column, options under
    ``molecule:``.
    """

    kind: Kind = "table"
    transpose: bool = False
    mod: str | None = None
    layer: str | None = None
    transforms: TransformConfig = Field(default_factory=TransformConfig)
    tokenizer: PartSpec | None = None
    graph: dict[str, Any] | None = None
    sequence: dict[str, Any] | None = None
    series: dict[str, Any] | None = None
    molecule: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _kind_options(self) -> ModalityConfig:
        for key in ("sequence", "series", "molecule"):
            if getattr(self, key) is not None and self.kind != key:
                raise ValueError(f"'{key}' options need kind: {key} (this is kind: {self.kind})")
        if self.kind != "table":
            for key in ("tokenizer", "graph", "mod", "layer"):
                if getattr(self, key):
                    raise ValueError(f"'{key}' applies to tables only (this is kind: {self.kind})")
            if self.dataset is not None:
                raise ValueError(f"kind {self.kind} reads a file given by 'path'")
        if self.tokenizer is not None and self.graph is not None:
            raise ValueError("give either 'tokenizer' or 'graph', not both")
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
    def _task_keys(self) -> TargetConfig:
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
    modalities: dict[str, ModalityConfig] = Field(min_length=1)
    target: TargetConfig
    missing_modality: Literal["drop", "keep"] = "drop"


class HeadConfig(Strict):
    hidden: list[PositiveInt] = Field(default_factory=list)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class ModelConfig(Strict):
    """Encoders per modality, a fusion and a head.

    ``encoders`` maps modality names to encoder specs; a modality not listed gets
    ``default_encoder``. The ``early`` fusion names its single encoder in its own options.
    """

    encoders: dict[str, PartSpec] = Field(default_factory=dict)
    default_encoder: PartSpec = Field(default_factory=lambda: PartSpec(name="mlp"))
    fusion: PartSpec = Field(default_factory=lambda: PartSpec(name="concat"))
    head: HeadConfig = Field(default_factory=HeadConfig)


class SplitConfig(Strict):
    """Outer evaluation splits: stratified k-fold (repeatable) or repeated hold-out."""

    kind: Literal["kfold", "holdout"] = "kfold"
    folds: int = Field(5, ge=2)
    repeats: PositiveInt = 1
    test_size: float = Field(0.3, gt=0.0, lt=1.0)


class TrainingConfig(Strict):
    """How each ensemble is trained.

    ``optimizer`` names a registered optimizer (torch's and pytorch-optimizer's: ``adamw``,
    ``lion``, ``soap``, ``adahessian``...), ``optimizer_options`` its other keyword
    arguments (e.g. ``betas``). ``schedule`` names a learning-rate schedule
    (``warmup_cosine``, ``one_cycle``, ``constant``) with ``warmup_epochs`` and the
    schedule's own options. ``gradient_noise`` adds annealed Gaussian noise of initial
    variance ``eta`` to the gradients.
    """

    optimizer: str = "adamw"
    optimizer_options: dict[str, Any] = Field(default_factory=dict)
    schedule: PartSpec | None = None
    gradient_noise: PositiveFloat | None = None
    lr: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 1e-4
    epochs: PositiveInt = 200
    batch_size: PositiveInt = 32
    patience: PositiveInt = 20
    val_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    gradient_clip: PositiveFloat | None = 1.0
    ensemble: PositiveInt = 5
    seed: int = 0
    split: SplitConfig = Field(default_factory=SplitConfig)


class OutputConfig(Strict):
    """What a run writes besides its metrics and predictions.

    ``report`` writes ``report.html`` (self-contained: leaderboard, curves, latent maps,
    attributions, attention, graph explanations); ``attributions`` explains the run at its
    end as ``biozoo explain`` does later for an existing run: feature attributions of every
    table modality, attention of transformer encoders, GNNExplainer masks of molecule models.
    """

    dir: Path = Path("runs")
    latents: bool = True
    save_models: bool = True
    report: bool = True
    attributions: bool = False


class RunConfig(Strict):
    """A whole run: data, the deep models to compare, training, baselines and outputs."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    data: DataConfig
    models: dict[str, ModelConfig] = Field(
        default_factory=lambda: {"multimodule": ModelConfig()}, min_length=0
    )
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    baselines: list[str] = Field(
        default_factory=lambda: ["linear", "random_forest", "gradient_boosting"]
    )
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _check_outputs(self) -> RunConfig:
        if self.output.attributions and not self.output.save_models:
            raise ValueError("output.attributions needs output.save_models: true")
        return self

    @model_validator(mode="after")
    def _check_parts(self) -> RunConfig:
        check_parts(self)
        return self


def check_parts(cfg: RunConfig) -> None:
    """Check every registered name and its options; raise ValueError naming the location."""
    from biozoo.data.parts import validate_modality
    from biozoo.encoders import ENCODERS
    from biozoo.fusion import FUSIONS
    from biozoo.train.baselines import BASELINES
    from biozoo.train.optim import OPTIMIZERS, check_optimizer_options
    from biozoo.train.schedules import SCHEDULES, check_schedule_options

    for name, mod in cfg.data.modalities.items():
        validate_modality(mod, f"data.modalities.{name}")
    _name(OPTIMIZERS, cfg.training.optimizer, "training.optimizer")
    check_optimizer_options(
        cfg.training.optimizer, cfg.training.optimizer_options, where="training.optimizer_options"
    )
    if cfg.training.schedule is not None:
        spec = cfg.training.schedule
        _name(SCHEDULES, spec.name, "training.schedule.name")
        options = {k: v for k, v in spec.options.items() if k != "warmup_epochs"}
        check_schedule_options(spec.name, options)
    for i, b in enumerate(cfg.baselines):
        _name(BASELINES, b, f"baselines[{i}]")
    for mname, m in cfg.models.items():
        where = f"models.{mname}"
        fusion_cls = _name(FUSIONS, m.fusion.name, f"{where}.fusion.name")
        validate_options(fusion_cls, m.fusion, f"{where}.fusion")
        for mod in m.encoders:
            if mod not in cfg.data.modalities:
                raise ValueError(
                    f"{where}.encoders.{mod} names no modality of data.modalities "
                    f"({', '.join(cfg.data.modalities)})"
                )
        for mod, spec in [*m.encoders.items(), ("default_encoder", m.default_encoder)]:
            loc = f"{where}.encoders.{mod}" if mod != "default_encoder" else f"{where}.{mod}"
            enc_cls = _name(ENCODERS, spec.name, f"{loc}.name")
            validate_options(enc_cls, spec, loc)


def _name(registry: Any, name: str, where: str) -> Any:
    if name not in registry:
        raise ValueError(registry.unknown_message(name, where=where))
    return registry.get(name)


def validate_options(cls: Any, spec: PartSpec, where: str) -> BaseModel:
    """Validate ``spec.options`` against ``cls.Config``; errors name the key's location."""
    try:
        return cls.Config(**spec.options)
    except ValidationError as err:
        e = err.errors()[0]
        key = ".".join(str(p) for p in e["loc"])
        raise ValueError(f"{where}.{key}: {_describe(e)}") from None


def _describe(e: dict[str, Any]) -> str:
    if e["type"] == "extra_forbidden":
        return "unknown key"
    return str(e["msg"]).removeprefix("Value error, ")


def parse_config(raw: dict[str, Any], *, source: str = "config") -> RunConfig:
    """Validate a mapping into a :class:`RunConfig`; errors become one-sentence BiozooErrors."""
    if not isinstance(raw, dict):
        raise BiozooError(f"{source} must be a mapping of sections, got {type(raw).__name__}.")
    try:
        return RunConfig(**raw)
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(str(p) for p in e["loc"])
        msg = _describe(e)
        if loc:
            raise BiozooError(f"{source}: {loc}: {msg}.".replace("..", ".")) from None
        raise BiozooError(f"{source}: {msg}.".replace("..", ".")) from None


def load_config(path: str | Path) -> RunConfig:
    """Read a run config from YAML.

    Relative data paths are resolved against the YAML file's folder.

    Raises:
        BiozooError: the file is missing, is not YAML, or does not validate.
    """
    path = Path(path)
    if not path.is_file():
        raise BiozooError(f"config file {path} does not exist.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BiozooError(f"config file {path} is not valid YAML{where}.") from None
    cfg = parse_config(raw, source=str(path))
    return resolve_paths(cfg, path.parent)


def resolve_paths(cfg: RunConfig, base: Path) -> RunConfig:
    """Make relative data paths absolute against ``base``."""
    for m in [*cfg.data.modalities.values(), cfg.data.target]:
        if m.path is not None and not m.path.is_absolute():
            m.path = (base / m.path).resolve()
    for m in cfg.data.modalities.values():  # files named inside options: gene sets, edges
        for options, key in (
            (m.tokenizer.model_extra if m.tokenizer else None, "gmt"),
            (m.graph, "edges"),
        ):
            if options and options.get(key) and not Path(options[key]).is_absolute():
                options[key] = str((base / options[key]).resolve())
    return cfg
