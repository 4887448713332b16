"""N copies of one model trained together.

:class:`StackedEnsemble` stacks the members' weights and drives them through
``torch.func.vmap``; :class:`LoopEnsemble` calls the members one after the other, for models
vmap cannot batch (recurrent layers, graph message passing, mixtures of experts). Both take
inputs with the member dim first and give outputs likewise, so the training loop does not
care which it drives; :func:`make_ensemble` picks one.

On small cohorts a model's forward pass is a handful of tiny matrix products and the cost is
per-call overhead, so training five members as one batched computation is several times
faster than five separate fits. Each member keeps its own initialisation (its own seed), its own
dropout masks (``randomness="different"``) and its own minibatch order (the data loader
hands each member its own permutation).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from biozoo.data.batch import member_graphs
from biozoo.encoders.protocols import Stackable

__all__ = ["Ensemble", "LoopEnsemble", "StackedEnsemble", "make_ensemble", "pad_graphs"]


class StackedEnsemble(nn.Module):
    """``n_members`` independently initialised copies of a model, stacked on a leading dim.

    Args:
        make_model: builds one member; called once per seed.
        seeds: one seed per member, used for its initialisation.

    Shape:
        - every input tensor carries the member dim first: ``[M, B, ...]``; outputs likewise.
    """

    def __init__(
        self, make_model: Callable[[], nn.Module], seeds: list[int], *, _members: list | None = None
    ) -> None:
        super().__init__()
        members = _members if _members is not None else _build(make_model, seeds)
        params, buffers = stack_module_state(members)
        self.n_members = len(members)
        self.param_names = list(params)
        self.buffer_names = list(buffers)
        self.stacked = nn.ParameterList([nn.Parameter(params[n]) for n in self.param_names])
        for i, n in enumerate(self.buffer_names):
            self.register_buffer(f"buffer_{i}", buffers[n].clone())
        # The template holds the architecture only; kept out of the module tree on purpose.
        self._template = [copy.deepcopy(members[0]).to("meta")]

    @property
    def template(self) -> nn.Module:
        return self._template[0]

    def train(self, mode: bool = True) -> StackedEnsemble:
        super().train(mode)
        self.template.train(mode)
        return self

    def _state(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        params = dict(zip(self.param_names, self.stacked, strict=True))
        buffers = {n: getattr(self, f"buffer_{i}") for i, n in enumerate(self.buffer_names)}
        return params, buffers

    def forward(self, *args: object, **static: object) -> object:
        """Call every member on its slice of ``args`` (member dim first).

        ``static`` keyword arguments are passed unchanged to every member.
        """
        params, buffers = self._state()
        template = self.template
        args = tuple(pad_graphs(a) for a in args)

        def one(p: dict[str, Tensor], b: dict[str, Tensor], *a: object) -> object:
            return functional_call(template, (p, b), a, static)

        return vmap(one, randomness="different")(params, buffers, *args)

    def member_state_dict(self, index: int) -> dict[str, Tensor]:
        """Member ``index``'s weights as a plain state dict of the template's architecture."""
        params, buffers = self._state()
        return {n: t[index].detach().clone() for n, t in {**params, **buffers}.items()}

    def stacked_state(self) -> dict[str, Tensor]:
        """All members' weights keyed by the template's parameter names (member dim first)."""
        params, buffers = self._state()
        return {n: t.detach() for n, t in {**params, **buffers}.items()}

    def load_stacked_state(self, state: dict[str, Tensor]) -> None:
        params, buffers = self._state()
        with torch.no_grad():
            for n, t in {**params, **buffers}.items():
                t.copy_(state[n])

    def clip_member_gradients(self, max_norm: float) -> None:
        """Scale each member's gradient to norm at most ``max_norm`` (members apart)."""
        params = [p for p in self.stacked if p.grad is not None]
        if not params:
            return
        with torch.no_grad():
            sq = torch.stack([p.grad.pow(2).flatten(1).sum(1) for p in params]).sum(0)  # (M,)
            scale = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for p in params:
            _scale_grad(p, scale.view(-1, *([1] * (p.grad.dim() - 1))))


class LoopEnsemble(nn.Module):
    """``n_members`` independently initialised copies of a model, called one by one.

    The same interface as :class:`StackedEnsemble`: inputs carry the member dim first (a
    tensor ``[M, B, ...]``, or a list of M per-member objects such as graph batches) and
    outputs are stacked on a leading member dim.

    Args:
        make_model: builds one member; called once per seed.
        seeds: one seed per member, used for its initialisation.
    """

    def __init__(
        self, make_model: Callable[[], nn.Module], seeds: list[int], *, _members: list | None = None
    ) -> None:
        super().__init__()
        members = _members if _members is not None else _build(make_model, seeds)
        self.members = nn.ModuleList(members)
        self.n_members = len(members)

    @property
    def template(self) -> nn.Module:
        return self.members[0]

    def forward(self, *args: object, **static: object) -> object:
        outs = [
            member(*[_member_slice(a, m) for a in args], **static)
            for m, member in enumerate(self.members)
        ]
        return _stack(outs)

    def member_state_dict(self, index: int) -> dict[str, Tensor]:
        return {n: t.detach().clone() for n, t in self.members[index].state_dict().items()}

    def stacked_state(self) -> dict[str, Tensor]:
        states = [m.state_dict() for m in self.members]
        return {n: torch.stack([s[n].detach() for s in states]) for n in states[0]}

    def load_stacked_state(self, state: dict[str, Tensor]) -> None:
        for i, member in enumerate(self.members):
            member.load_state_dict({n: t[i] for n, t in state.items()})

    def clip_member_gradients(self, max_norm: float) -> None:
        for member in self.members:
            params = [p for p in member.parameters() if p.grad is not None]
            if not params:
                continue
            with torch.no_grad():
                norm = torch.stack([p.grad.pow(2).sum() for p in params]).sum().sqrt()
                scale = (max_norm / (norm + 1e-6)).clamp(max=1.0)
            for p in params:
                _scale_grad(p, scale)


def _scale_grad(p: Tensor, scale: Tensor) -> None:
    """Scale ``p.grad``; out of place when the gradient carries a graph (second-order
    optimizers read it again), in place otherwise."""
    if p.grad.requires_grad:
        p.grad = p.grad * scale
    else:
        p.grad.mul_(scale)


Ensemble = StackedEnsemble | LoopEnsemble


def make_ensemble(
    make_model: Callable[[], nn.Module], seeds: list[int]
) -> StackedEnsemble | LoopEnsemble:
    """A :class:`StackedEnsemble` when every part of the model can run under vmap, else a
    :class:`LoopEnsemble`. A module says it cannot with ``stackable = False``."""
    members = _build(make_model, seeds)
    stackable = all(m.stackable for m in members[0].modules() if isinstance(m, Stackable))
    return (StackedEnsemble if stackable else LoopEnsemble)(make_model, seeds, _members=members)


def _build(make_model: Callable[[], nn.Module], seeds: list[int]) -> list[nn.Module]:
    members = []
    for s in seeds:
        torch.manual_seed(s)
        members.append(make_model())
    return members


def pad_graphs(value: object) -> object:
    """Lists of per-member PyG batches become one :class:`MemberGraphs` (vmap needs tensors
    with the member dim first); everything else (already padded graphs included) is left as
    it is."""
    if isinstance(value, dict):
        return {k: pad_graphs(v) for k, v in value.items()}
    if isinstance(value, list) and value and hasattr(value[0], "num_graphs"):
        return member_graphs(value)
    return value


def _member_slice(value: object, m: int) -> object:
    if isinstance(value, dict):
        return {k: _member_slice(v, m) for k, v in value.items()}
    if isinstance(value, Tensor | list | tuple):
        return value[m]
    return value


def _stack(outs: list[object]) -> object:
    first = outs[0]
    if isinstance(first, Tensor):
        return torch.stack(outs)  # type: ignore[arg-type]
    if isinstance(first, dict):
        return {k: _stack([o[k] for o in outs]) for k in first}  # type: ignore[index]
    if isinstance(first, tuple):
        return tuple(_stack([o[i] for o in outs]) for i in range(len(first)))  # type: ignore[index]
    raise TypeError(f"cannot stack member outputs of type {type(first).__name__}")
