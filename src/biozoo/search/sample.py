"""A trial's run config: the run config with the search space's choices filled in.

Optuna parameter names read like config keys: ``encoder.<modality>`` (which encoder),
``<modality>.<encoder>.<option>`` (its options, present only when that encoder is chosen),
``fusion`` and ``fusion.<name>.<option>``, ``head.<key>``, and the fit options by their own
names (``lr``, ``weight_decay``, ``epochs``...). The same function turns the best trial's
parameters (an ``optuna.trial.FixedTrial``) back into the config to retrain and to write.
"""

from __future__ import annotations

from typing import Any

from biozoo.config import ModelConfig, RunConfig, TrainingConfig
from biozoo.data.spec import PartSpec
from biozoo.search.space import PartChoice, SearchConfig, Trial, draw

__all__ = ["trial_config"]


def trial_config(cfg: RunConfig, search: SearchConfig, trial: Trial) -> RunConfig:
    """``cfg`` with one deep model, the trial's, and the trial's fit options.

    The model is named :meth:`SearchConfig.name`; the run's baselines stay, so the config
    written for the best trial trains as a plain run config beside them.

    Raises:
        pydantic.ValidationError: a chosen value that a fit option or the head refuses.
    """
    space = search.space
    model: dict[str, Any] = {}
    if space.encoders:
        model["encoders"] = {
            mod: _pick(trial, f"encoder.{mod}", mod, choices)
            for mod, choices in space.encoders.items()
        }
    if space.default_encoder is not None:
        model["default_encoder"] = _pick(trial, "default_encoder", "default", space.default_encoder)
    if space.fusion is not None:
        model["fusion"] = _pick(trial, "fusion", "fusion", space.fusion)
    if space.head:
        model["head"] = {k: draw(trial, f"head.{k}", p) for k, p in space.head.items()}
    fit = {k: draw(trial, k, p) for k, p in space.training.items()}
    training = TrainingConfig.model_validate({**cfg.training.model_dump(), **fit})
    return cfg.model_copy(
        update={"models": {search.name(): ModelConfig.model_validate(model)}, "training": training}
    )


def _pick(trial: Trial, name: str, prefix: str, choices: list[PartChoice]) -> PartSpec:
    """The chosen part (asked only when there is a choice) with its options drawn."""
    names = [c.name for c in choices]
    chosen = trial.suggest_categorical(name, names) if len(set(names)) > 1 else names[0]
    part = next(c for c in choices if c.name == chosen)
    options = {k: draw(trial, f"{prefix}.{chosen}.{k}", v) for k, v in part.options.items()}
    return PartSpec(name=chosen, **options)
