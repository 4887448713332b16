"""Where models train and predict: ``training.accelerator`` (``auto``, ``cpu``, ``cuda``).

``auto`` picks the first CUDA device when torch sees one and the CPU otherwise; ``cpu`` and
``cuda`` ask for one. A run that asks for ``cuda`` on a machine without it stops before it
writes anything (:func:`check_accelerator`). Training hands the choice to Lightning
(:func:`lightning_accelerator`); code that calls a model outside Lightning (predictions,
latents, attributions, attention maps) moves its inputs to the device the model's weights
are on (:func:`module_device`) and brings the outputs back to the CPU. Everything that
leaves a unit (saved weights, recorded units, frames) is on the CPU, so a run trained on a
GPU is read, resumed and scored on a machine without one: a saved run is scored on
:func:`serving_device`, which falls back to the CPU there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
from typing import Literal, Protocol, get_args, runtime_checkable

import torch
from torch import nn

from biozoo.errors import BiozooError

__all__ = [
    "ACCELERATORS",
    "Accelerated",
    "Accelerator",
    "check_accelerator",
    "lightning_accelerator",
    "module_device",
    "on_device",
    "resolve_device",
    "serving_device",
]

Accelerator = Literal["auto", "cpu", "cuda"]
ACCELERATORS: tuple[str, ...] = get_args(Accelerator)


@runtime_checkable
class Accelerated(Protocol):
    """A fitted model outside a run's ensembles that runs torch where its ``accelerator``
    (``auto``, ``cpu`` or ``cuda``) says, e.g. the patient GCN baseline, which trains when it
    predicts; a saved run sets it to its serving device (a plain string, so that the model
    is still written and read by skops)."""

    accelerator: str


def resolve_device(
    accelerator: str, *, cuda_available: bool | None = None, where: str = "training.accelerator"
) -> torch.device:
    """The device ``training.accelerator`` (or another option naming one) names here.

    Args:
        accelerator: ``auto``, ``cpu`` or ``cuda``.
        cuda_available: whether CUDA can be used (default: ``torch.cuda.is_available()``).
        where: the key or option the value comes from, for the error message
            (e.g. ``--device``).

    Raises:
        BiozooError: a value other than those three, or ``cuda`` on a machine where torch
            sees no CUDA device.
    """
    if accelerator not in ACCELERATORS:
        raise BiozooError(f"{where} {accelerator!r} is not a device; use auto, cpu or cuda.")
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if accelerator == "cpu" or (accelerator == "auto" and not cuda):
        return torch.device("cpu")
    if not cuda:
        raise BiozooError(
            f"{where} is 'cuda' but torch sees no CUDA device on this machine; use 'auto' or 'cpu'."
        )
    return torch.device("cuda", 0)


def check_accelerator(accelerator: str) -> None:
    """Raise now (before a run writes anything) if ``accelerator`` cannot be used here."""
    resolve_device(accelerator)


def serving_device(
    accelerator: str,
    *,
    override: str | None = None,
    cuda_available: bool | None = None,
    where: str = "device",
) -> torch.device:
    """Where a saved run trained with ``accelerator`` scores new samples: its own choice, but
    the CPU where a run trained with ``cuda`` is read on a machine without CUDA.

    Args:
        accelerator: the run's ``training.accelerator``.
        override: ``auto``, ``cpu`` or ``cuda`` asked for at serving time (``--device``),
            in place of the run's choice; ``cuda`` is then an error where CUDA is absent.
        cuda_available: whether CUDA can be used (default: ``torch.cuda.is_available()``).
        where: the option ``override`` comes from, for the error message.

    Raises:
        BiozooError: an ``override`` that is not a device, or ``cuda`` without CUDA.
    """
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if override is not None:
        return resolve_device(override, cuda_available=cuda, where=where)
    return resolve_device("cpu" if not cuda else accelerator, cuda_available=cuda)


def lightning_accelerator(device: torch.device) -> tuple[str, list[int] | int]:
    """Lightning's ``accelerator`` and ``devices`` arguments for ``device``."""
    if device.type == "cuda":
        return "cuda", [device.index or 0]
    return "cpu", 1


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first weight or buffer (the CPU when it has none)."""
    first = next(chain(module.parameters(), module.buffers()), None)
    return torch.device("cpu") if first is None else first.device


@contextmanager
def on_device(module: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """``module`` on ``device`` for the block and back on the CPU after it (in place)."""
    module.to(device)
    try:
        yield module
    finally:
        module.cpu()
