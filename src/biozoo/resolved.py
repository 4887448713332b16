"""A run config with every part's options filled in from the part's own defaults.

``config.yaml`` in a run folder records what ran: ``{name: mlp}`` alone would change meaning the
day the MLP encoder's default width changes, so each :class:`~biozoo.config.PartSpec` (encoders,
fusions, the learning-rate schedules of the run and of each model) is written with its options
completed from its ``Config``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from biozoo.config import FitOptions, RunConfig
from biozoo.data.spec import PartSpec

__all__ = ["resolved_config"]

F = TypeVar("F", bound=FitOptions | None)

_SCHEDULE_OWN = ("warmup_epochs",)  # read by the training loop, not by the schedule's Config


def _complete(registry: Any, spec: PartSpec, keep: tuple[str, ...] = ()) -> PartSpec:
    cls = registry.get(spec.name)
    own = {k: v for k, v in spec.options.items() if k not in keep}
    filled = cls.Config(**own).model_dump(mode="json")
    extra = {k: v for k, v in spec.options.items() if k in keep}
    return PartSpec(name=spec.name, **filled, **extra)


def _complete_nested(registry: Any, spec: PartSpec) -> PartSpec:
    """Like :func:`_complete`, and an option that is itself an encoder spec is completed too."""
    from biozoo.encoders import ENCODERS

    done = _complete(registry, spec)
    options = {
        k: _complete(ENCODERS, PartSpec(**v)).model_dump()
        if isinstance(v, dict) and v.get("name") in ENCODERS
        else v
        for k, v in done.options.items()
    }
    return PartSpec(name=spec.name, **options)


def resolved_config(cfg: RunConfig) -> RunConfig:
    """A copy of ``cfg`` whose encoder, fusion and schedule specs list every option.

    The copy builds the same models as ``cfg``: only defaults are written out.

    Args:
        cfg: a checked run config (see :func:`biozoo.api.check_config`).
    """
    from biozoo.encoders import ENCODERS
    from biozoo.fusion import FUSIONS

    models = {
        name: m.model_copy(
            update={
                "encoders": {mod: _complete(ENCODERS, s) for mod, s in m.encoders.items()},
                "default_encoder": _complete(ENCODERS, m.default_encoder),
                "fusion": _complete_nested(FUSIONS, m.fusion),
                "training": _complete_schedule(m.training),
            }
        )
        for name, m in cfg.models.items()
    }
    training = _complete_schedule(cfg.training)
    return cfg.model_copy(update={"models": models, "training": training})


def _complete_schedule(training: F) -> F:
    """``training`` with its schedule's options completed (a model's own keys stay its own)."""
    from biozoo.train.schedules import SCHEDULES

    if training is None or training.schedule is None:
        return training
    schedule = _complete(SCHEDULES, training.schedule, keep=_SCHEDULE_OWN)
    return training.model_copy(update={"schedule": schedule})
