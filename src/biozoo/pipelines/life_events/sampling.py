"""Trajectory sampling: future histories generated from any age.

From a history cut at ``start_age``, each step reads the log-rates after the last event, runs
one exponential clock per code (:func:`~biozoo.layers.competing_exponentials.sample_next_event`)
and appends the first one to ring. Rates are constant from an event to the next, so, given that
nothing happened between the last event and ``start_age``, the first new event comes at
``max(last age, start_age)`` plus the sampled wait (the exponential has no memory). A
trajectory stops at a terminal code (kept) or when the next event would fall after
``max_age`` (dropped). The trajectories of all histories are sampled in parallel, in
lockstep, from one seeded generator: the same seed gives the same trajectories. The model
reads the histories on its own device (:func:`~biozoo.train.device.module_device`); the
rates come back to the CPU, where the generator draws, so the draws do not depend on the
device.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from biozoo.data.batch import to_device
from biozoo.data.events import PAD, EventTokens, History
from biozoo.errors import BiozooError
from biozoo.layers.competing_exponentials import sample_next_event
from biozoo.pipelines.life_events.model import NO_EVENT, EventHistoryModel, with_no_events
from biozoo.train.device import module_device

__all__ = ["rates_after", "sample_trajectories"]


@torch.no_grad()
def rates_after(
    model: EventHistoryModel,
    part: EventTokens,
    histories: list[History],
    *,
    no_event_every: float | None = None,
) -> pd.DataFrame:
    """The rate of every code (per year) right after the last event of each history.

    Comparing two histories that differ in one earlier event reads off what the model learned
    that event does to each code's rate (a counterfactual probe). ``no_event_every``: the
    spacing of no-event tokens the model was trained with (they are added to the histories).

    Returns:
        One row per history, one column per token.
    """
    model.eval()
    x = part.encode([with_no_events(h, no_event_every) for h in histories])
    last = x["mask"].sum(dim=1) - 1
    rates = _rates_at(model, x, torch.arange(len(histories)), last).exp()
    return pd.DataFrame(rates.double().numpy(), columns=part.token_names())


def _rates_at(
    model: EventHistoryModel, x: dict[str, torch.Tensor], rows: torch.Tensor, at: torch.Tensor
) -> torch.Tensor:
    """Log-rates ``[len(rows), V]`` after event ``at`` of each row, computed on the model's
    device and handed back on the CPU."""
    device = module_device(model)
    log_rates = model.log_rates(to_device(x, device))
    return log_rates[rows.to(device), at.to(device)].cpu()


@torch.no_grad()
def sample_trajectories(
    model: EventHistoryModel,
    part: EventTokens,
    histories: list[History],
    *,
    start_ages: list[float],
    max_age: float,
    terminal: list[str],
    n: int = 1,
    seed: int = 0,
    max_events: int = 200,
    no_event_every: float | None = None,
) -> pd.DataFrame:
    """Sample ``n`` futures of each history after its start age.

    Args:
        model: the trained model.
        part: the fitted tokens part (its vocabulary and covariate scaling).
        histories: the patients' histories (events after the start age are ignored).
        start_ages: per history, the age from which its future is generated.
        max_age: no event is generated after this age.
        terminal: codes that end a trajectory (e.g. death).
        n: trajectories per history.
        seed: seed of the generator.
        max_events: most steps per trajectory (events and no-event tokens).
        no_event_every: the spacing of the no-event tokens the model was trained with (see
            :func:`~biozoo.pipelines.life_events.model.with_no_events`): the history gets them,
            and when a sampled wait passes the next multiple of it, a no-event token is put
            there instead and the rates are read again (the exponential has no memory).

    Returns:
        The generated events (no-event tokens left out): columns ``history`` (position in
        ``histories``), ``trajectory`` (0..n-1), ``age``, ``code``, in age order per
        trajectory.

    Raises:
        BiozooError: a history has no event before its start age.
    """
    model.eval()
    pasts = []
    for h, start in zip(histories, start_ages, strict=True):
        past = h.until(start)
        if len(past) == 0:
            raise BiozooError(
                f"a trajectory starts from the events before age {start:g}, and a history has none."
            )
        pasts.extend([with_no_events(past, no_event_every)] * n)
    x = part.encode(pasts)
    no_event = part.index().get(NO_EVENT) if no_event_every is not None else None
    if no_event_every is not None and no_event is None:
        raise BiozooError(
            f"no_event_every is {no_event_every:g} but the vocabulary has no {NO_EVENT} token: "
            "the model was trained without no-event tokens."
        )
    m = len(pasts)
    last = x["mask"].sum(dim=1) - 1
    width = int(last.max()) + 1 + max_events
    codes = torch.zeros(m, width, dtype=torch.long)
    ages = torch.zeros(m, width)
    codes[:, : x["codes"].shape[1]], ages[:, : x["ages"].shape[1]] = x["codes"], x["ages"]
    floor = torch.tensor(start_ages, dtype=torch.float64).repeat_interleave(n)
    stop = torch.tensor(sorted(part.index()[c] for c in terminal if c in part.index()))
    g = torch.Generator().manual_seed(seed)
    alive = torch.ones(m, dtype=torch.bool)
    rows = torch.arange(m)
    out: list[tuple[int, float, int]] = []
    for _ in range(max_events):
        used = int(last.max()) + 1
        inputs = {
            "codes": codes[:, :used],
            "ages": ages[:, :used],
            "mask": codes[:, :used] != PAD,
            "covariates": x["covariates"],
        }
        log_rates = _rates_at(model, inputs, rows, last)  # (m, V)
        code, wait = sample_next_event(log_rates.double(), generator=g)
        now = torch.maximum(ages[rows, last].double(), floor)
        when = now + wait
        tick = torch.full_like(when, float("inf"))
        if no_event is not None:  # a no-event token first when the wait passes a tick
            tick = (torch.floor(now / no_event_every) + 1) * no_event_every  # type: ignore[operator]
        ticked = alive & (when > tick) & (tick <= max_age)
        code = torch.where(ticked, torch.full_like(code, no_event or 0), code)
        when = torch.where(ticked, tick, when)
        alive &= when <= max_age
        live = torch.nonzero(alive).flatten()
        codes[live, last[live] + 1] = code[live]
        ages[live, last[live] + 1] = when[live].float()
        shown = torch.nonzero(alive & ~ticked).flatten()
        out.extend(zip(shown.tolist(), when[shown].tolist(), code[shown].tolist(), strict=True))
        last = torch.where(alive, last + 1, last)
        alive &= ~torch.isin(code, stop)
        if not alive.any():
            break
    vocab = part.token_names() or []
    row = np.array([o[0] for o in out], dtype=np.int64)
    frame = pd.DataFrame(
        {
            "history": row // n,
            "trajectory": row % n,
            "age": [o[1] for o in out],
            "code": [vocab[o[2]] for o in out],
        }
    )
    return frame.sort_values(["history", "trajectory", "age"], kind="stable").reset_index(drop=True)
