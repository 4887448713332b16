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
    field_serializer,
    field_validator,
    model_validator,
)

from biozoo._yaml import read_yaml
from biozoo.data.spec import DataConfig, PartSpec, Strict, check_names, describe_error
from biozoo.data.splits import SplitConfig
from biozoo.errors import BiozooError

__all__ = [
    "FitOptions",
    "ModelConfig",
    "OutputConfig",
    "PretrainConfig",
    "RunConfig",
    "SplitConfig",
    "TrainingConfig",
    "load_config",
    "parse_config",
]


class HeadConfig(Strict):
    hidden: list[PositiveInt] = Field(default_factory=list)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class PretrainConfig(Strict):
    """Masked-value pretraining of token encoders before fine-tuning
    (:mod:`biozoo.train.pretrain`): ``epochs`` over the fold's training samples, a share
    ``mask_fraction`` of the valued tokens (or of the gene groups) hidden, optimised with AdamW
    at ``lr``."""

    epochs: PositiveInt = 20
    mask_fraction: float = Field(0.15, gt=0.0, lt=1.0)
    lr: PositiveFloat = 1e-3


class FitOptions(Strict):
    """How one model's ensemble is fitted: the training keys a model may set for itself.

    ``optimizer`` names a registered optimizer (torch's and pytorch-optimizer's: ``adamw``,
    ``lion``, ``soap``, ``adahessian``...), ``optimizer_options`` its other keyword
    arguments (e.g. ``betas``). ``schedule`` names a learning-rate schedule
    (``warmup_cosine``, ``one_cycle``, ``constant``) with ``warmup_epochs`` and the
    schedule's own options. ``gradient_noise`` adds annealed Gaussian noise of initial
    variance ``eta`` to the gradients. ``ensemble`` is the number of members. ``pretrain``
    (:class:`PretrainConfig`) first pretrains the members' token encoders self-supervised on
    the training samples (none by default).

    For classification: ``class_weight: balanced`` weighs each class's loss by
    ``n / (C * n_c)``, counted over the labels the ensemble is fitted on; ``label_smoothing``
    smooths the loss's targets; ``decision`` is the rule that turns the members' mean
    probabilities into a class (:mod:`biozoo.train.decision`): ``argmax``, or a rule fitted on
    the ensemble's inner validation part (``prior_correction``, ``thresholds``) and saved
    with it.

    Under ``models.<name>.training`` only the keys given override the run's ``training``
    (see :meth:`RunConfig.training_for`).
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
    gradient_clip: PositiveFloat | None = 1.0
    ensemble: PositiveInt = 5
    class_weight: Literal["none", "balanced"] = "none"
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    decision: Literal["argmax", "prior_correction", "thresholds"] = "argmax"
    pretrain: PretrainConfig | None = None


class ModelConfig(Strict):
    """Encoders per modality, a fusion and a head; optionally its own training keys.

    ``encoders`` maps modality names to encoder specs; a modality not listed gets
    ``default_encoder``. The ``early`` fusion names its single encoder in its own options.
    ``training`` overrides the run's fit options (optimizer, lr, epochs, schedule...) for
    this model alone. ``objective`` (``ae``, ``vae``, ``beta_vae`` with their options, see
    :mod:`biozoo.latent.objectives`) makes the model a latent model: a decoder per modality,
    the modalities joined by product of experts instead of a fusion, and the head on the
    latent. A ``decoder`` (a :data:`~biozoo.decoders.DECODERS` spec) makes the model an
    encoder-decoder for sequence targets: the one modality's encoder hands its token states
    to the decoder, and fusion and head options do not apply.
    """

    encoders: dict[str, PartSpec] = Field(default_factory=dict)
    default_encoder: PartSpec = Field(default_factory=lambda: PartSpec(name="mlp"))
    fusion: PartSpec = Field(default_factory=lambda: PartSpec(name="concat"))
    head: HeadConfig = Field(default_factory=HeadConfig)
    training: FitOptions | None = None
    objective: PartSpec | None = None
    decoder: PartSpec | None = None

    @model_validator(mode="after")
    def _objective_or_fusion(self) -> ModelConfig:
        if self.objective is not None and self.fusion != PartSpec(name="concat"):
            raise ValueError(
                "a model with an objective joins its modalities by product of experts; "
                "leave out 'fusion'"
            )
        if self.objective is not None and self.decoder is not None:
            raise ValueError(
                "a model has an objective (a latent model) or a decoder (an encoder-decoder), "
                "not both"
            )
        return self

    @field_validator("encoders")
    @classmethod
    def _safe_encoder_names(cls, value: dict[str, PartSpec]) -> dict[str, PartSpec]:
        check_names(value, "modality")
        return value

    @field_serializer("training")
    def _given_keys(self, training: FitOptions | None) -> dict[str, Any] | None:
        # only the keys given override the run's: a dump must not turn defaults into keys
        return None if training is None else training.model_dump(mode="json", exclude_unset=True)


class TrainingConfig(FitOptions):
    """How each ensemble is trained: the fit options, plus what every model shares.

    The outer ``split``, the ``seed`` and the inner validation fraction (``val_fraction``)
    are the run's, so every model sees the same samples. ``threads`` caps torch's CPU threads
    while a model trains and predicts (``null``, the default: leave torch's setting alone), so
    that several trainings side by side do not oversubscribe the cores. ``accelerator`` is
    where models train and predict (:mod:`biozoo.train.device`): ``auto`` (the default) a
    CUDA GPU when torch sees one and the CPU otherwise, ``cpu``, or ``cuda`` (a run that asks
    for it on a machine without CUDA stops before it writes anything). Weights are saved from
    the CPU, so a run trained on a GPU predicts on a machine without one.
    """

    val_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    seed: int = 0
    split: SplitConfig = Field(default_factory=SplitConfig)
    threads: PositiveInt | None = None
    accelerator: Literal["auto", "cpu", "cuda"] = "auto"


class OutputConfig(Strict):
    """What a run writes besides its metrics and predictions.

    ``report`` writes ``report.html`` (self-contained: leaderboard, curves, latent maps,
    attributions, attention, graph explanations); ``attributions`` explains the run at its
    end as ``biozoo explain`` does later for an existing run: feature attributions of every
    table modality, attention of transformer encoders, GNNExplainer masks of molecule models,
    attention rollout and Grad-CAM maps of image encoders. ``mlflow``, a tracking URI, logs
    the finished run to MLflow (:mod:`biozoo.train.tracking`; needs ``biozoo[track]``).
    """

    dir: Path = Path("runs")
    latents: bool = True
    save_models: bool = True
    report: bool = True
    attributions: bool = False
    mlflow: str | None = None


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

    def training_for(self, model: str) -> TrainingConfig:
        """The run's ``training`` with the keys ``models.<model>.training`` gives replaced."""
        own = self.models[model].training
        if own is None or not own.model_fields_set:
            return self.training
        return self.training.model_copy(
            update={key: getattr(own, key) for key in own.model_fields_set}
        )


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
