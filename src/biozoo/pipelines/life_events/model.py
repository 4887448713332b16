"""The generative event-history model: a causal event encoder plus a log-rate head, trained on
the Delphi-2M likelihood over each patient's own history.

From the state after event ``i`` the head gives one log-rate per code; the transition to event
``i + 1`` (code ``c`` after ``dt`` years) scores ``log rate_c - R dt``
(:func:`~biozoo.layers.competing_exponentials.exponential_log_likelihood`). A transition into
a *silent* token scores ``-R dt`` only: the censoring code (end of follow-up), and the
no-event tokens :func:`with_no_events` puts at every multiple of a few years of age, as
Delphi-2M does, so that rates are read again as age goes by between distant events. Silent
tokens and padding never occur as events (log-rate ``-inf``). Training is a plain loop on
patients: AdamW, early stopping on the validation patients' mean negative log-likelihood per
transition, best weights restored. It runs where the model's weights are
(:func:`~biozoo.train.device.module_device`; the life-event run puts the model on its
``training.accelerator``); the batches are drawn on the CPU, so the same seed draws the same
batches on any device.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from biozoo.data.batch import to_device
from biozoo.data.events import History
from biozoo.encoders.protocols import EventEncoder
from biozoo.errors import BiozooError
from biozoo.layers.competing_exponentials import exponential_log_likelihood
from biozoo.train.device import module_device

__all__ = [
    "NO_EVENT",
    "EventHistoryModel",
    "Transitions",
    "fit_event_model",
    "transitions",
    "with_no_events",
]

NO_EVENT = "[NO EVENT]"


def with_no_events(history: History, every: float | None) -> History:
    """The history with a :data:`NO_EVENT` token at each multiple of ``every`` years of age
    strictly between its first and last events, where no event is (None: unchanged)."""
    if every is None or len(history) < 2:
        return history
    first, last = float(history.ages[0]), float(history.ages[-1])
    ticks = np.arange(np.floor(first / every) + 1, np.ceil(last / every)) * every
    ticks = ticks[(ticks > first) & (ticks < last) & ~np.isin(ticks, history.ages)]
    if not len(ticks):
        return history
    ages = np.concatenate([history.ages, ticks])
    codes = np.concatenate([history.codes, np.full(len(ticks), NO_EVENT, dtype=object)])
    order = np.argsort(ages, kind="stable")
    return History(ages[order], codes[order], history.covariates)


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transitions:
    """Every (event -> next event) step of a batch of histories, ``[B, L - 1]`` each.

    Attributes:
        valid: bool, a next event (or censoring) follows the event.
        code: int64, the next event's token id.
        dt: float, years from the event to the next.
        observed: bool, the next token is an event (not a silent token).
    """

    valid: Tensor
    code: Tensor
    dt: Tensor
    observed: Tensor


def transitions(x: dict[str, Tensor], silent: list[int]) -> Transitions:
    """The transitions of encoded histories (``codes``, ``ages``, ``mask`` of a batch);
    arriving at a token of ``silent`` is not an event."""
    codes, ages, mask = x["codes"], x["ages"], x["mask"]
    valid = mask[:, :-1] & mask[:, 1:]
    code = codes[:, 1:]
    silent_ids = torch.tensor(silent, dtype=code.dtype, device=code.device)
    observed = valid & ~torch.isin(code, silent_ids)
    dt = (ages[:, 1:] - ages[:, :-1]).clamp(min=0.0) * valid
    return Transitions(valid, code, dt, observed)


class EventHistoryModel(nn.Module):
    """An :class:`~biozoo.encoders.protocols.EventEncoder` and a linear log-rate head.

    Args:
        encoder: a causal event encoder (e.g. ``delphi``).
        vocab: number of token ids.
        never: token ids that never occur as a next event (padding, silent tokens).

    Shape:
        - log_rates: ``[B, L, vocab]``, per year.
    """

    def __init__(self, encoder: nn.Module, vocab: int, never: list[int]) -> None:
        super().__init__()
        if not isinstance(encoder, EventEncoder):
            raise BiozooError(
                f"encoder {type(encoder).__name__} gives no state per event; a life-event "
                "model needs a causal event encoder such as 'delphi'."
            )
        self.encoder = encoder
        self.head = nn.Linear(encoder.d_model, vocab)
        self.register_buffer("never", torch.tensor(sorted(set(never)), dtype=torch.long))

    def log_rates(self, x: dict[str, Tensor]) -> Tensor:
        out = self.head(self.encoder.event_states(x))
        return out.index_fill(-1, self.never, float("-inf"))

    def log_likelihood(self, x: dict[str, Tensor], silent: list[int]) -> tuple[Tensor, Tensor]:
        """Sum of the transitions' log-likelihoods and their number."""
        t = transitions(x, silent)
        ll = exponential_log_likelihood(self.log_rates(x)[:, :-1], t.code, t.dt, t.observed)
        return torch.where(t.valid, ll, torch.zeros_like(ll)).sum(), t.valid.sum()


def _take(x: dict[str, Tensor], rows: Tensor) -> dict[str, Tensor]:
    return {k: v[rows] for k, v in x.items()}


@torch.no_grad()
def _mean_nll(model: EventHistoryModel, x: dict[str, Tensor], silent: list[int]) -> float:
    model.eval()
    total, count = model.log_likelihood(x, silent)
    return float(-total / count.clamp(min=1))


def fit_event_model(
    model: EventHistoryModel,
    fit: dict[str, Tensor],
    val: dict[str, Tensor],
    *,
    silent: list[int],
    epochs: int = 50,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int = 5,
    seed: int = 0,
) -> dict[str, object]:
    """Train on the ``fit`` patients, early-stopping on the ``val`` patients' likelihood.

    The patients' tensors are moved to the model's device (see the module docstring); the
    model stays there.

    Returns:
        ``epochs_run``, ``best_epoch`` (0-based), ``best_val_nll`` (per transition) and the
        per-epoch ``history`` (fit and validation NLL).
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(fit["codes"])
    device = module_device(model)
    fit, val = to_device(fit, device), to_device(val, device)
    best, best_epoch, best_state, wait = np.inf, -1, copy.deepcopy(model.state_dict()), 0
    history: list[dict[str, float]] = []
    epoch = 0
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        for rows in torch.randperm(n, generator=g).split(batch_size):
            ll, k = model.log_likelihood(_take(fit, rows.to(device)), silent)
            loss = -ll / k.clamp(min=1)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total, count = total - float(ll.detach()), count + int(k)
        val_nll = _mean_nll(model, val, silent)
        history.append({"epoch": epoch, "fit_nll": total / max(count, 1), "val_nll": val_nll})
        if val_nll < best - 1e-4:
            best, best_epoch, wait = val_nll, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            wait += 1
            if wait >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    log.info("life-event model: best validation NLL %.4f at epoch %d", best, best_epoch)
    return {
        "epochs_run": epoch + 1,
        "best_epoch": best_epoch,
        "best_val_nll": best,
        "history": history,
    }
