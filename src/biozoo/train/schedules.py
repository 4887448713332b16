"""Learning-rate schedules by name, stepped once per optimizer step.

Every schedule is a multiplier of the optimizer's learning rate (``training.lr``), as a
function of the step count, applied through ``torch.optim.lr_scheduler.LambdaLR``:

- ``constant``: 1, after an optional linear warm-up.
- ``warmup_cosine``: linear warm-up over ``warmup_steps``, then cosine decay to
  ``min_lr_ratio`` at ``total_steps`` (Loshchilov & Hutter 2017, https://arxiv.org/abs/1608.03983).
- ``one_cycle``: cosine rise from ``1/div_factor`` to 1, then cosine fall to
  ``1/(div_factor * final_div_factor)`` (Smith & Topin 2017, https://arxiv.org/abs/1708.07120);
  the same curve as ``torch.optim.lr_scheduler.OneCycleLR`` without momentum cycling, which
  would not suit optimizers without a momentum or ``betas`` of two.
- ``coslog``: RealMLP's ``coslog4`` (Holzmüller et al. 2024, https://arxiv.org/abs/2407.04491):
  ``(1 - cos(2 pi log2(1 + (2^k - 1) t))) / 2`` over the fraction ``t`` of the steps, ``k``
  cosine cycles of growing length on a log time axis, from and back to zero.

Steps past ``total_steps`` keep the last value.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from biozoo.errors import BiozooError
from biozoo.registry import Registry

__all__ = [
    "SCHEDULES",
    "CosLog",
    "Constant",
    "OneCycle",
    "WarmupCosine",
    "build_scheduler",
    "check_schedule_options",
]

SCHEDULES: Registry[type] = Registry("schedule")


def _warmup(step: int, warmup_steps: int) -> float:
    """Linear ramp: ``(step + 1) / (warmup_steps + 1)``, so no step has a zero rate."""
    return (step + 1) / (warmup_steps + 1)


def _cos_between(start: float, end: float, pct: float) -> float:
    """Cosine interpolation from ``start`` (pct 0) to ``end`` (pct 1)."""
    return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * min(max(pct, 0.0), 1.0)))


@SCHEDULES.register("constant")
class Constant:
    """The learning rate itself, after an optional linear warm-up."""

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def factor(self, step: int, *, total_steps: int, warmup_steps: int) -> float:
        """The learning-rate multiplier at optimizer step ``step`` (0-based)."""
        return _warmup(step, warmup_steps) if step < warmup_steps else 1.0


@SCHEDULES.register("warmup_cosine")
class WarmupCosine:
    """Linear warm-up then cosine decay to ``min_lr_ratio`` times the learning rate.

    Args:
        min_lr_ratio: the multiplier reached at ``total_steps``.
    """

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0)

    def __init__(self, *, min_lr_ratio: float = 0.0) -> None:
        self.min_lr_ratio = min_lr_ratio

    def factor(self, step: int, *, total_steps: int, warmup_steps: int) -> float:
        """The learning-rate multiplier at optimizer step ``step`` (0-based)."""
        if step < warmup_steps:
            return _warmup(step, warmup_steps)
        pct = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return _cos_between(1.0, self.min_lr_ratio, pct)


@SCHEDULES.register("one_cycle")
class OneCycle:
    """Cosine rise to the learning rate, then cosine fall far below it.

    The rise lasts ``warmup_steps`` steps when that is positive, else ``pct_start`` of
    ``total_steps``.

    Args:
        pct_start: fraction of the steps spent rising (when ``warmup_steps`` is 0).
        div_factor: the rate starts at ``lr / div_factor``.
        final_div_factor: the rate ends at ``lr / (div_factor * final_div_factor)``.
    """

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        pct_start: float = Field(0.3, gt=0.0, lt=1.0)
        div_factor: float = Field(25.0, ge=1.0)
        final_div_factor: float = Field(1e4, ge=1.0)

    def __init__(
        self, *, pct_start: float = 0.3, div_factor: float = 25.0, final_div_factor: float = 1e4
    ) -> None:
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor

    def factor(self, step: int, *, total_steps: int, warmup_steps: int) -> float:
        """The learning-rate multiplier at optimizer step ``step`` (0-based)."""
        start = 1.0 / self.div_factor
        end = start / self.final_div_factor
        rise = float(warmup_steps) if warmup_steps > 0 else self.pct_start * total_steps
        peak = rise - 1.0  # the step at which the multiplier is 1, as in OneCycleLR
        if step <= peak:
            return _cos_between(start, 1.0, step / peak if peak > 0 else 1.0)
        return _cos_between(1.0, end, (step - peak) / max(1.0, total_steps - 1 - peak))


@SCHEDULES.register("coslog")
class CosLog:
    """``k`` cosine cycles on a log time axis (RealMLP's default schedule with ``k = 4``).

    A warm-up, when given, ramps linearly to the curve's value at its end.

    Args:
        cycles: the number of cycles ``k``.
    """

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        cycles: int = Field(4, ge=1, le=16)

    def __init__(self, *, cycles: int = 4) -> None:
        self.cycles = cycles

    def _curve(self, t: float) -> float:
        t = min(max(t, 0.0), 1.0)
        return 0.5 - 0.5 * math.cos(2 * math.pi * math.log2(1.0 + (2**self.cycles - 1) * t))

    def factor(self, step: int, *, total_steps: int, warmup_steps: int) -> float:
        """The learning-rate multiplier at optimizer step ``step`` (0-based)."""
        # step + 1: the first step's rate is not zero
        value = self._curve((step + 1) / max(1, total_steps))
        if step < warmup_steps:
            return _warmup(step, warmup_steps) * self._curve((warmup_steps + 1) / total_steps)
        return value


def build_scheduler(
    name: str,
    optimizer: Optimizer,
    *,
    total_steps: int,
    warmup_steps: int = 0,
    **options: Any,
) -> LambdaLR:
    """A ``LambdaLR`` following schedule ``name``; call its ``step()`` after each optimizer step.

    Args:
        name: a registered schedule (see ``SCHEDULES.names()``).
        optimizer: the optimizer whose learning rate is scheduled.
        total_steps: optimizer steps of the whole training (epochs x batches per epoch).
        warmup_steps: steps of linear warm-up (the rise of ``one_cycle``).
        **options: the schedule's own options (its ``Config``).

    Returns:
        The scheduler.

    Raises:
        BiozooError: an unknown schedule or option, or inconsistent step counts.
    """
    cls = SCHEDULES.get(name, where="training.schedule")
    if total_steps < 1:
        raise BiozooError(f"schedule {name!r} needs total_steps >= 1, got {total_steps}.")
    if not 0 <= warmup_steps < total_steps:
        raise BiozooError(
            f"schedule {name!r}: warmup_steps ({warmup_steps}) must be at least 0 and less "
            f"than the {total_steps} optimizer steps of the training."
        )
    schedule = cls(**check_schedule_options(name, options))

    def factor(step: int) -> float:
        return schedule.factor(
            min(step, total_steps), total_steps=total_steps, warmup_steps=warmup_steps
        )

    return LambdaLR(optimizer, factor)


def check_schedule_options(
    name: str, options: dict[str, Any], *, where: str = ""
) -> dict[str, Any]:
    """Validate ``options`` against schedule ``name``'s ``Config``; return them with defaults.

    Raises:
        BiozooError: an unknown schedule, an unknown option (with "did you mean"), or a bad
            value.
    """
    cls = SCHEDULES.get(name, where="training.schedule")
    place = f" at {where}" if where else ""
    fields = list(cls.Config.model_fields)
    for key in options:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1, cutoff=0.5)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f" (it takes: {', '.join(fields) or 'no options'})."
            )
            raise BiozooError(f"unknown option {key!r}{place} for schedule {name!r}{hint}")
    try:
        return cls.Config(**options).model_dump()
    except ValidationError as err:
        e = err.errors()[0]
        raise BiozooError(
            f"schedule {name!r}{place}: option {e['loc'][0]!r}: {e['msg']}."
        ) from None
