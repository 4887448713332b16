"""Trajectory sampling: future histories generated from any age.

From a history cut at ``start_age``, each step reads the log-rates after the last event, runs
one exponential clock per code (:func:`~biozoo.layers.competing_exponentials.sample_next_event`)
and appends the first one to ring. Rates are constant from an event to the next, so, given that
nothing happened between the last event and ``start_age``, the first new event comes at
``max(last age, start_age)`` plus the sampled wait (the exponential has no memory). A
trajectory stops at a terminal code (kept) or when the next event would fall after
``max_age`` (dropped). Trajectories are sampled in parallel, in lockstep, from one seeded
generator: the same seed gives the same trajectories.
"""

from __future__ import annotations

import pandas as pd
import torch

from biozoo.data.events import PAD, EventTokens, History
from biozoo.errors import BiozooError
from biozoo.layers.competing_exponentials import sample_next_event
from biozoo.pipelines.life_events.model import EventHistoryModel

__all__ = ["sample_trajectories"]


@torch.no_grad()
def sample_trajectories(
    model: EventHistoryModel,
    part: EventTokens,
    history: History,
    *,
    start_age: float,
    max_age: float,
    terminal: list[str],
    n: int = 100,
    seed: int = 0,
    max_events: int = 200,
) -> pd.DataFrame:
    """Sample ``n`` futures of one patient's history after ``start_age``.

    Args:
        model: the trained model.
        part: the fitted tokens part (its vocabulary and covariate scaling).
        history: the patient's history (events after ``start_age`` are ignored).
        start_age: age from which the future is generated.
        max_age: no event is generated after this age.
        terminal: codes that end a trajectory (e.g. death).
        n: number of trajectories.
        seed: seed of the generator.
        max_events: most events generated per trajectory.

    Returns:
        The generated events: columns ``trajectory, age, code``, in age order per trajectory.
    """
    model.eval()
    past = history.until(start_age)
    if len(past) == 0:
        raise BiozooError(
            f"a trajectory starts from the events before age {start_age:g}, and this history "
            "has none."
        )
    x = {k: v.repeat(n, *[1] * (v.dim() - 1)) for k, v in part.encode([past]).items()}
    k = int(x["mask"][0].sum())
    codes, ages = x["codes"][:, :k], x["ages"][:, :k]
    cov = x["covariates"]
    stop = {part.index()[c] for c in terminal if c in part.index()}
    g = torch.Generator().manual_seed(seed)
    alive = torch.ones(n, dtype=torch.bool)
    last = torch.full((n,), k - 1, dtype=torch.long)
    floor = torch.full((n,), float(start_age))
    rows = torch.arange(n)
    out: list[tuple[int, float, str]] = []
    vocab = part.token_names() or []
    for _ in range(max_events):
        inputs = {"codes": codes, "ages": ages, "mask": codes != PAD, "covariates": cov}
        log_rates = model.log_rates(inputs)[rows, last]  # (n, V)
        code, wait = sample_next_event(log_rates.double(), generator=g)
        when = torch.maximum(ages[rows, last].double(), floor.double()) + wait
        alive &= when <= max_age
        new_code = torch.where(alive, code, torch.zeros_like(code))
        new_age = torch.where(alive, when, torch.zeros_like(when)).float()
        codes = torch.cat([codes, new_code[:, None]], dim=1)
        ages = torch.cat([ages, new_age[:, None]], dim=1)
        for i in torch.flatnonzero(alive).tolist():
            out.append((i, float(when[i]), vocab[int(code[i])]))
        last = torch.where(alive, last + 1, last)
        alive &= ~torch.isin(code, torch.tensor(sorted(stop), dtype=torch.long))
        if not alive.any():
            break
    frame = pd.DataFrame(out, columns=["trajectory", "age", "code"])
    return frame.sort_values(["trajectory", "age"], kind="stable").reset_index(drop=True)
