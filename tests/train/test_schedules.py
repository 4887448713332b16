"""Learning-rate schedules: the curves, checked step by step."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from biozoo.errors import BiozooError
from biozoo.train.schedules import SCHEDULES, build_scheduler

LR = 0.1


def _curve(name: str, steps: int, **kwargs) -> list[float]:
    """The learning rate used by each of ``steps`` optimizer steps."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR)
    sched = build_scheduler(name, opt, **kwargs)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_warmup_cosine_rises_linearly_then_decays_by_a_cosine():
    lrs = _curve("warmup_cosine", 12, total_steps=10, warmup_steps=3, min_lr_ratio=0.1)
    assert lrs[:3] == pytest.approx([LR * 1 / 4, LR * 2 / 4, LR * 3 / 4])
    expected = [
        LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (t - 3) / 7))) for t in range(3, 10)
    ]
    assert lrs[3:10] == pytest.approx(expected)
    assert lrs[3] == pytest.approx(LR)  # the peak, right after the warm-up
    assert all(a > b for a, b in zip(lrs[3:10], lrs[4:10], strict=False))
    assert lrs[10:] == pytest.approx([LR * 0.1] * 2)  # held at the floor afterwards


def test_warmup_cosine_without_warmup_starts_at_the_rate_and_ends_at_zero():
    lrs = _curve("warmup_cosine", 11, total_steps=10)
    assert lrs[0] == pytest.approx(LR)
    assert lrs[5] == pytest.approx(LR / 2)
    assert lrs[10] == pytest.approx(0.0, abs=1e-12)


def test_constant_with_and_without_warmup():
    assert _curve("constant", 5, total_steps=5) == pytest.approx([LR] * 5)
    assert _curve("constant", 5, total_steps=5, warmup_steps=2) == pytest.approx(
        [LR / 3, 2 * LR / 3, LR, LR, LR]
    )


@pytest.mark.parametrize("total, pct", [(20, 0.3), (37, 0.25), (100, 0.5)])
def test_one_cycle_matches_torch_one_cycle(total, pct):
    ours = _curve("one_cycle", total, total_steps=total, pct_start=pct)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR)
    ref = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=LR, total_steps=total, pct_start=pct, cycle_momentum=False
    )
    theirs = []
    for _ in range(total):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-12)
    assert 0.99 * LR < max(ours) <= LR  # the peak falls between steps when pct*total is not whole
    assert ours[0] == pytest.approx(LR / 25)


def test_one_cycle_rise_follows_warmup_steps():
    lrs = _curve("one_cycle", 20, total_steps=20, warmup_steps=5)
    assert max(range(20), key=lambda i: lrs[i]) == 4 and lrs[4] == pytest.approx(LR)


def test_unknown_schedule_and_option_are_clear_errors():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    with pytest.raises(BiozooError, match="did you mean 'warmup_cosine'"):
        build_scheduler("warmup_cosin", opt, total_steps=10)
    with pytest.raises(BiozooError, match="did you mean 'min_lr_ratio'"):
        build_scheduler("warmup_cosine", opt, total_steps=10, min_lr=0.1)
    with pytest.raises(BiozooError, match="no options"):
        build_scheduler("constant", opt, total_steps=10, gamma=0.1)
    with pytest.raises(BiozooError, match="min_lr_ratio"):
        build_scheduler("warmup_cosine", opt, total_steps=10, min_lr_ratio=2.0)
    with pytest.raises(BiozooError, match="warmup_steps \\(10\\)"):
        build_scheduler("constant", opt, total_steps=10, warmup_steps=10)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_config_matches_the_signature(name):
    cls = SCHEDULES.get(name)
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    if cls.__init__ is object.__init__:
        params = []
    assert sorted(cls.Config.model_fields) == sorted(params)
    defaults = {
        p.name: p.default
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.default is not inspect.Parameter.empty
    }
    assert cls.Config().model_dump() == {k: v for k, v in defaults.items() if k in params}


def test_check_schedule_options_fills_defaults_and_names_the_place():
    from biozoo.train.schedules import check_schedule_options

    assert check_schedule_options("one_cycle", {"pct_start": 0.5}) == {
        "pct_start": 0.5,
        "div_factor": 25.0,
        "final_div_factor": 1e4,
    }
    with pytest.raises(BiozooError, match="at training.schedule_options for schedule"):
        check_schedule_options("constant", {"x": 1}, where="training.schedule_options")


def test_coslog_rises_and_falls_in_cycles_and_ends_at_zero():
    total = 1000
    lrs = _curve("coslog", total + 1, total_steps=total, cycles=4)
    t = [(s + 1) / total for s in range(total)]
    expected = [LR * (0.5 - 0.5 * math.cos(2 * math.pi * math.log2(1 + 15 * x))) for x in t]
    assert lrs[:total] == pytest.approx(expected)
    assert 0 < lrs[0] < LR / 10 and max(lrs) == pytest.approx(LR, rel=1e-3)
    assert lrs[total] == pytest.approx(0.0, abs=1e-12)
    # four peaks: the multiplier reaches 1 at log2(1 + 15 t) = k + 1/2, k = 0..3
    peaks = [s for s in range(1, total - 1) if lrs[s - 1] < lrs[s] >= lrs[s + 1]]
    assert len(peaks) == 4
