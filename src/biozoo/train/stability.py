"""Training stability: annealed gradient noise and a clear stop when the loss diverges.

Gradient clipping and weight decay live in the training plan and the optimizers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from biozoo.errors import BiozooError

__all__ = ["GradientNoise", "check_finite"]


class GradientNoise:
    """Adds annealed Gaussian noise to gradients before each optimizer step.

    At step ``t`` every gradient element gets independent noise
    ``N(0, sigma_t^2)`` with ``sigma_t^2 = eta / (1 + t)^gamma``
    (Neelakantan et al. 2015, "Adding Gradient Noise Improves Learning for Very Deep
    Networks", https://arxiv.org/abs/1511.06807; they use ``eta`` in {0.01, 0.3, 1.0} and
    ``gamma = 0.55``).

    The noise comes from the instance's own ``torch.Generator``, so a run is reproducible and
    the global random state (dropout, shuffling) is left untouched. Noise is drawn on the CPU
    and moved to the gradient's device, so the sequence does not depend on the device.

    Args:
        eta: noise variance at step 0 (> 0).
        gamma: decay exponent of the variance.
        seed: seed of the noise generator.

    Example:
        >>> noise = GradientNoise(0.01)
        >>> # after loss.backward(), before optimizer.step():
        >>> # noise(model.parameters(), step=global_step)
    """

    def __init__(self, eta: float, gamma: float = 0.55, *, seed: int = 0) -> None:
        if not eta > 0:
            raise BiozooError(f"gradient noise eta must be positive, got {eta}.")
        if gamma < 0:
            raise BiozooError(f"gradient noise gamma must be at least 0, got {gamma}.")
        self.eta, self.gamma = float(eta), float(gamma)
        self.generator = torch.Generator().manual_seed(seed)

    def variance(self, step: int) -> float:
        """``eta / (1 + step)^gamma``."""
        return self.eta / (1.0 + step) ** self.gamma

    def std(self, step: int) -> float:
        """The noise standard deviation at ``step``."""
        return math.sqrt(self.variance(step))

    @torch.no_grad()
    def __call__(self, params: Iterable[Tensor], step: int) -> None:
        """Add noise to the ``.grad`` of each parameter that has one, in place.

        Args:
            params: parameters after ``backward()``.
            step: the optimizer step about to be taken (0-based).
        """
        sd = self.std(step)
        for p in params:
            g = p.grad
            if g is None:
                continue
            noise = torch.randn(g.shape, generator=self.generator, dtype=g.dtype).to(g.device)
            if g.requires_grad:  # a second-order backward: keep the graph, add a constant
                with torch.enable_grad():
                    p.grad = g + sd * noise
            else:
                g.add_(noise, alpha=sd)

    def __repr__(self) -> str:
        return f"GradientNoise(eta={self.eta}, gamma={self.gamma})"


def check_finite(loss: Tensor, *, epoch: int, step: int) -> None:
    """Raise a :class:`BiozooError` when the training loss is NaN or infinite.

    Args:
        loss: a scalar loss, or one loss per ensemble member ``[M]``.
        epoch: the current epoch (0-based, as Lightning counts).
        step: the optimizer step (0-based).

    Raises:
        BiozooError: naming the epoch, the step (and the members) and what to try.
    """
    finite = torch.isfinite(loss.detach())
    if bool(finite.all()):
        return
    flat = loss.detach().reshape(-1)
    bad = (~finite).reshape(-1).nonzero().flatten().tolist()
    kind = "NaN" if bool(torch.isnan(flat[bad]).any()) else "infinite"
    who = f" for ensemble member(s) {', '.join(map(str, bad))}" if loss.dim() > 0 else ""
    raise BiozooError(
        f"the training loss became {kind}{who} at epoch {epoch}, step {step}; try a lower "
        "training.lr, gradient clipping (training.gradient_clip), or another optimizer."
    )
