"""The run configuration: a typed schema read from YAML.

A YAML file and a Python call describe the same run: :func:`load_config` reads YAML with
``yaml.safe_load`` and validates it into :class:`RunConfig`; building a :class:`RunConfig` in
Python does the same validation. Unknown keys are rejected with their location. Names of
registered parts (encoders, fusions, optimizers, baselines) and their options are checked
against their registries by :func:`biozoo.api.check_config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from biozoo._yaml import read_yaml
from biozoo.data.spec import DataConfig, PartSpec, Strict, check_names, describe_error
from biozoo.errors import BiozooError

__all__ = [
    "ModelConfig",
    "OutputConfig",
    "RunConfig",
    "SplitConfig",
    "TrainingConfig",
    "load_config",
    "parse_config",
]


class HeadConfig(Strict):
    hidden: list[PositiveInt] = Field(default_factory=list)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class ModelConfig(Strict):
    """Encoders per modality, a fusion and a head.

    ``encoders`` maps modality names to encoder specs; a modality not listed gets
    ``default_encoder``. The ``early`` fusion names its single encoder in its own options.
    A ``decoder`` (a :data:`~biozoo.decoders.DECODERS` spec) makes the model an
    encoder-decoder for sequence targets: the one modality's encoder hands its token states
    to the decoder, and fusion and head options do not apply.
    """

    encoders: dict[str, PartSpec] = Field(default_factory=dict)
    default_encoder: PartSpec = Field(default_factory=lambda: PartSpec(name="mlp"))
    fusion: PartSpec = Field(default_factory=lambda: PartSpec(name="concat"))
    head: HeadConfig = Field(default_factory=HeadConfig)
    decoder: PartSpec | None = None

    @field_validator("encoders")
    @classmethod
    def _safe_encoder_names(cls, value: dict[str, PartSpec]) -> dict[str, PartSpec]:
        check_names(value, "modality")
        return value


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

    @field_validator("models")
    @classmethod
    def _safe_model_names(cls, value: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        check_names(value, "model")
        return value

    @model_validator(mode="after")
    def _something_to_train(self) -> RunConfig:
        if not self.models and not self.baselines:
            raise ValueError("the run has no models and no baselines: nothing to train")
        return self

    @model_validator(mode="after")
    def _check_outputs(self) -> RunConfig:
        if self.output.attributions and not self.output.save_models:
            raise ValueError("output.attributions needs output.save_models: true")
        return self


def parse_config(raw: dict[str, Any], *, source: str = "config") -> RunConfig:
    """Validate a mapping into a :class:`RunConfig`; errors become one-sentence BiozooErrors."""
    if not isinstance(raw, dict):
        raise BiozooError(f"{source} must be a mapping of sections, got {type(raw).__name__}.")
    try:
        return RunConfig(**raw)
    except ValidationError as err:
        loc, msg = describe_error(err.errors()[0])
        msg = msg.rstrip(".")
        if loc:
            raise BiozooError(f"{source}: {loc}: {msg}.") from None
        raise BiozooError(f"{source}: {msg}.") from None


def load_config(path: str | Path) -> RunConfig:
    """Read a run config from YAML.

    Relative data paths are resolved against the YAML file's folder.

    Raises:
        BiozooError: the file is missing, is not UTF-8 YAML, has a key twice, or
            does not validate.
    """
    path = Path(path)
    raw = read_yaml(path, "config file")
    cfg = parse_config(raw, source=str(path))
    return resolve_paths(cfg, path.parent)


def resolve_paths(cfg: RunConfig, base: Path) -> RunConfig:
    """A copy of ``cfg`` whose relative data paths are absolute against ``base``."""
    return cfg.model_copy(update={"data": cfg.data.resolved(base)})
