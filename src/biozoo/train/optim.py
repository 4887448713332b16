"""Optimizers by name: torch's own and the literature's (pytorch-optimizer).

Each name maps to an :class:`OptimizerSpec` that says how to load the class (those from
`pytorch-optimizer <https://github.com/kozistr/pytorch_optimizer>`_ are imported on first use,
which keeps ``import biozoo.config`` fast), whether its update of one tensor element depends
on other elements of the same tensor, and whether it needs a second-order backward.

Why the second point matters: a :class:`~biozoo.train.ensemble.StackedEnsemble` stacks its
members' weights on a leading dimension, so one parameter tensor holds every member.
Element-wise optimizers (Adam, Lion, ...) then update each member exactly as if it were
alone. Optimizers that look at whole tensors (SOAP's preconditioners, LAMB's and AdamP's
norms) would mix the members; :func:`build_optimizer` with ``members=M`` gives those a
:class:`PerMemberOptimizer`, one inner optimizer per member over its own slices.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from biozoo.errors import BiozooError
from biozoo.registry import Registry

__all__ = [
    "OPTIMIZERS",
    "OptimizerSpec",
    "PerMemberOptimizer",
    "build_optimizer",
    "check_optimizer_options",
    "needs_create_graph",
    "optimizer_options",
]

# Keyword arguments that are set by biozoo itself or are implementation switches.
_RESERVED = {"self", "params", "lr", "weight_decay", "kwargs", "args"}
_INTERNAL = {"foreach", "capturable", "differentiable", "fused"}


@dataclass(frozen=True)
class OptimizerSpec:
    """How to build one registered optimizer.

    Attributes:
        module: the module that defines the class.
        cls_name: the class name in ``module``.
        separable: True when each element's update depends on that element's own gradient
            history only, so members stacked on dim 0 stay independent.
        create_graph: True when the optimizer needs ``loss.backward(create_graph=True)``
            (Hessian estimates from Hessian-vector products).
        defaults: option values biozoo uses unless the user sets them.
        paper: where the method comes from.
    """

    module: str
    cls_name: str
    separable: bool = True
    create_graph: bool = False
    defaults: Mapping[str, object] = field(default_factory=dict)
    paper: str = ""

    def load(self) -> type[Optimizer]:
        """The optimizer class (imports its package on first use)."""
        try:
            mod = importlib.import_module(self.module)
        except ImportError:
            raise BiozooError(
                f"optimizer class {self.cls_name} needs the pytorch-optimizer package "
                "(pip install 'pytorch-optimizer>=4.1,<4.2')."
            ) from None
        return getattr(mod, self.cls_name)


OPTIMIZERS: Registry[OptimizerSpec] = Registry("optimizer")

_TORCH = {
    "adamw": "AdamW",
    "adam": "Adam",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "radam": "RAdam",
    "nadam": "NAdam",
    "adagrad": "Adagrad",
    "adamax": "Adamax",
}
for _name, _cls in _TORCH.items():
    OPTIMIZERS.register(_name)(
        OptimizerSpec("torch.optim", _cls, defaults={"momentum": 0.9} if _name == "sgd" else {})
    )

# name: (class, separable, create_graph, paper)
_LITERATURE = {
    "lion": ("Lion", True, False, "https://arxiv.org/abs/2302.06675"),
    "adamp": ("AdamP", False, False, "https://arxiv.org/abs/2006.08217"),
    "sgdp": ("SGDP", False, False, "https://arxiv.org/abs/2006.08217"),
    "soap": ("SOAP", False, False, "https://arxiv.org/abs/2409.11321"),
    "adahessian": ("AdaHessian", True, True, "https://arxiv.org/abs/2006.00719"),
    "sophia_h": ("SophiaH", True, True, "https://arxiv.org/abs/2305.14342"),
    "exadam": ("EXAdam", True, False, "https://arxiv.org/abs/2412.20302"),
    "lamb": ("Lamb", False, False, "https://arxiv.org/abs/1904.00962"),
    "adan": ("Adan", False, False, "https://arxiv.org/abs/2208.06677"),
    "adopt": ("ADOPT", True, False, "https://arxiv.org/abs/2411.02853"),
    "ademamix": ("AdEMAMix", True, False, "https://arxiv.org/abs/2409.03137"),
    "madgrad": ("MADGRAD", True, False, "https://arxiv.org/abs/2101.11075"),
}
for _name, (_cls, _sep, _graph, _paper) in _LITERATURE.items():
    OPTIMIZERS.register(_name)(
        OptimizerSpec("pytorch_optimizer", _cls, separable=_sep, create_graph=_graph, paper=_paper)
    )


def needs_create_graph(name: str) -> bool:
    """Whether optimizer ``name`` needs ``loss.backward(create_graph=True)`` before its step."""
    return OPTIMIZERS.get(name).create_graph


def optimizer_options(name: str) -> list[str]:
    """The option names a user may set for optimizer ``name`` (besides lr and weight decay)."""
    sig = inspect.signature(OPTIMIZERS.get(name).load().__init__)
    return [
        p.name
        for p in sig.parameters.values()
        if p.name not in _RESERVED | _INTERNAL and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def check_optimizer_options(name: str, options: Mapping[str, object], *, where: str = "") -> None:
    """Raise a :class:`BiozooError` if ``options`` has a key optimizer ``name`` does not take.

    Args:
        name: a registered optimizer name.
        options: option name -> value.
        where: the options' location in the config, for the message.
    """
    if not options:
        OPTIMIZERS.get(name, where="training.optimizer")
        return
    allowed = optimizer_options(name)
    place = f" at {where}" if where else ""
    for key in options:
        if key in ("lr", "weight_decay"):
            raise BiozooError(
                f"{key!r}{place} is set by training.{key}, not as an option of optimizer {name!r}."
            )
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
            hint = (
                f"; did you mean {close[0]!r}?" if close else f" (it takes: {', '.join(allowed)})."
            )
            raise BiozooError(f"unknown option {key!r}{place} for optimizer {name!r}{hint}")
    _check_option_types(name, options, place)


def _check_option_types(name: str, options: Mapping[str, object], place: str) -> None:
    """Each option's value has the kind of its default (a number, a flag, a pair...)."""
    params = inspect.signature(OPTIMIZERS.get(name).load().__init__).parameters
    for key, value in options.items():
        default = params[key].default if key in params else inspect.Parameter.empty
        if not _same_kind(default, value):
            raise BiozooError(
                f"option {key!r}{place} of optimizer {name!r} must be like {default!r}, "
                f"got {value!r}."
            )


def _same_kind(default: object, value: object) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int | float) and default is not None:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, tuple | list):
        return (
            isinstance(value, tuple | list)
            and len(value) == len(default)
            and all(_same_kind(d, v) for d, v in zip(default, value, strict=True))
        )
    return True  # no default, None or another kind: the optimizer itself checks


def build_optimizer(
    name: str,
    params: Iterable[Tensor],
    *,
    lr: float,
    weight_decay: float,
    members: int | None = None,
    **options: Any,
) -> Optimizer:
    """The optimizer registered as ``name`` over ``params``.

    Args:
        name: a registered optimizer name (see ``OPTIMIZERS.names()``).
        params: the parameters to optimize.
        lr: learning rate.
        weight_decay: weight decay, in the optimizer's own sense (decoupled for AdamW and most
            of pytorch-optimizer's, L2 for torch's Adam and SGD).
        members: when the parameters are a stacked ensemble's (member dim first), the number
            of members; an optimizer that is not element-wise then runs once per member.
        **options: the optimizer's other keyword arguments (e.g. ``betas``).

    Returns:
        A ``torch.optim.Optimizer``.

    Raises:
        BiozooError: unknown name (with "did you mean"), unknown option, or a bad value.
    """
    spec = OPTIMIZERS.get(name, where="training.optimizer")
    check_optimizer_options(name, options)
    kwargs = {**spec.defaults, **options, "lr": lr, "weight_decay": weight_decay}
    params = list(params)
    if members is not None and not spec.separable:
        return PerMemberOptimizer(params, members, lambda ps: _construct(spec, name, ps, kwargs))
    return _construct(spec, name, params, kwargs)


def _construct(spec: OptimizerSpec, name: str, params: list, kwargs: dict) -> Optimizer:
    cls = spec.load()
    try:
        return cls(params, **kwargs)
    except (ValueError, TypeError) as err:
        raise BiozooError(f"optimizer {name!r} rejected its options: {err}") from None


class PerMemberOptimizer(Optimizer):
    """Runs one inner optimizer per ensemble member on that member's slices of the weights.

    Each inner optimizer owns shadow copies of one member's slices. A step copies the
    member's gradients into its shadows, steps, and writes the shadows back, so every member
    is optimized exactly as if it had been trained alone (same state, same update). The
    learning rate of the outer parameter group (the one LR schedulers change) is handed to
    the inner optimizers before each step.

    Args:
        params: stacked parameters, member dim first (``[M, ...]``).
        n_members: ``M``.
        make: builds an inner optimizer over a list of tensors.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        n_members: int,
        make: Callable[[list[Tensor]], Optimizer],
    ) -> None:
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor) or p.dim() == 0 or p.shape[0] != n_members:
                raise BiozooError(
                    f"per-member optimization needs tensors with {n_members} members on dim 0, "
                    f"got shape {tuple(getattr(p, 'shape', ()))}."
                )
        shadows = [
            [p.detach()[m].clone().requires_grad_(True) for p in params] for m in range(n_members)
        ]
        inner = [make(s) for s in shadows]
        super().__init__(params, {"lr": inner[0].param_groups[0]["lr"]})
        self.n_members = n_members
        self._shadows = shadows
        self._inner = inner

    @property
    def members(self) -> list[Optimizer]:
        """The inner optimizers, one per member."""
        return list(self._inner)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = self.param_groups[0]["params"]
        lr = self.param_groups[0]["lr"]
        for m, (opt, shadows) in enumerate(zip(self._inner, self._shadows, strict=True)):
            for group in opt.param_groups:
                group["lr"] = lr
            for p, s in zip(params, shadows, strict=True):
                s.copy_(p[m])  # the weights may have been changed outside (early stopping)
                s.grad = None if p.grad is None else p.grad[m].detach().clone()
            opt.step()
            for p, s in zip(params, shadows, strict=True):
                p[m].copy_(s)
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.param_groups[0]["lr"], "members": [o.state_dict() for o in self._inner]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.param_groups[0]["lr"] = state_dict["lr"]
        for o, s in zip(self._inner, state_dict["members"], strict=True):
            o.load_state_dict(s)
