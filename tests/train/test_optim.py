"""The optimizer registry: every optimizer steps, members stay apart, errors name the fix."""

from __future__ import annotations

import pytest
import torch

from biozoo.errors import BiozooError
from biozoo.train.optim import (
    OPTIMIZERS,
    PerMemberOptimizer,
    build_optimizer,
    check_optimizer_options,
    needs_create_graph,
    optimizer_options,
)
from biozoo.train.schedules import build_scheduler

# Learning rates that suit each method on the toy problem (sign-based and Hessian-scaled
# methods take steps of about lr per coordinate).
LR = {"adahessian": 0.1, "sophia_h": 1.0, "lion": 0.01, "adagrad": 0.1, "radam": 0.05, "sgdp": 0.1}

# create_graph=True warns about a parameter-gradient reference cycle: expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph")


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, generator=g)
    w_true = torch.randn(5, 3, generator=g)
    return x, x @ w_true + 0.01 * torch.randn(64, 3, generator=g)


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_reduces_a_least_squares_loss(name):
    torch.manual_seed(0)
    x, y = _problem()
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    opt = build_optimizer(name, model.parameters(), lr=LR.get(name, 0.01), weight_decay=0.0)
    create_graph = needs_create_graph(name)

    def loss() -> torch.Tensor:
        return torch.nn.functional.mse_loss(model(x), y)

    first = loss().item()
    for _ in range(40):
        opt.zero_grad(set_to_none=True)
        loss().backward(create_graph=create_graph)
        opt.step()
    last = loss().item()
    assert torch.isfinite(torch.tensor(last))
    assert last < 0.7 * first, (first, last)


def _stacked_loss(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((torch.einsum("mbi,mio->mbo", x, w) - y) ** 2).mean(dim=(1, 2)).sum()


def _data():
    g = torch.Generator().manual_seed(1)
    w0 = torch.randn(3, 4, 6, generator=g) * 0.3
    return w0, torch.randn(3, 16, 4, generator=g), torch.randn(3, 16, 6, generator=g)


FIRST_ORDER = [n for n in OPTIMIZERS.names() if not needs_create_graph(n)]


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_stacked_members_train_as_if_alone(name):
    """Members stacked on dim 0 get exactly the updates they would get one by one.

    Each lone member gets its slice of the stacked gradient (equal to its own gradient
    while the weights agree, which is checked at every step): recomputing it would differ
    in the last bit, which SOAP's eigenbases amplify.
    """
    w0, x, y = _data()
    w = torch.nn.Parameter(w0.clone())
    opt = build_optimizer(name, [w], lr=0.01, weight_decay=0.01, members=3)
    alone = [torch.nn.Parameter(w0[m].clone()) for m in range(3)]
    opts = [build_optimizer(name, [a], lr=0.01, weight_decay=0.01) for a in alone]
    for _ in range(6):
        opt.zero_grad()
        _stacked_loss(w, x, y).backward()
        for m in range(3):
            alone[m].grad = w.grad[m].clone()
            opts[m].step()
        opt.step()
        torch.testing.assert_close(w.detach(), torch.stack([a.detach() for a in alone]))
    assert not torch.allclose(w.detach(), w0)


def test_whole_tensor_optimizers_would_mix_members_without_the_split():
    w0, x, y = _data()
    runs = []
    for members in (3, None):
        w = torch.nn.Parameter(w0.clone())
        opt = build_optimizer("soap", [w], lr=0.01, weight_decay=0.0, members=members)
        for _ in range(6):
            opt.zero_grad()
            _stacked_loss(w, x, y).backward()
            opt.step()
        runs.append(w.detach())
    assert (runs[0] - runs[1]).abs().max() > 1e-3
    assert isinstance(opt, torch.optim.Optimizer)
    w = torch.nn.Parameter(w0.clone())
    split = build_optimizer("soap", [w], lr=0.1, weight_decay=0.0, members=3)
    assert isinstance(split, PerMemberOptimizer) and len(split.members) == 3
    lion = build_optimizer("lion", [w], lr=0.1, weight_decay=0.0, members=3)
    assert not isinstance(lion, PerMemberOptimizer)


def test_per_member_optimizer_follows_the_scheduled_learning_rate():
    w = torch.nn.Parameter(torch.ones(2, 3))
    opt = build_optimizer("lamb", [w], lr=0.1, weight_decay=0.0, members=2)
    sched = build_scheduler("warmup_cosine", opt, total_steps=10, warmup_steps=4)
    for _ in range(3):
        w.grad = torch.ones_like(w)
        opt.step()
        sched.step()
    assert [m.param_groups[0]["lr"] for m in opt.members] == pytest.approx([0.1 * 3 / 5] * 2)


def test_per_member_optimizer_rejects_unstacked_tensors():
    with pytest.raises(BiozooError, match="3 members on dim 0"):
        build_optimizer(
            "soap", [torch.nn.Parameter(torch.ones(2, 3))], lr=0.1, weight_decay=0.0, members=3
        )


def test_second_order_optimizers_say_so():
    assert needs_create_graph("adahessian") and needs_create_graph("sophia_h")
    assert not needs_create_graph("adamw") and not needs_create_graph("lion")


def test_options_are_passed_and_checked():
    p = [torch.nn.Parameter(torch.ones(2))]
    opt = build_optimizer("lion", p, lr=1e-3, weight_decay=0.1, betas=(0.95, 0.98))
    assert opt.param_groups[0]["betas"] == (0.95, 0.98)
    assert opt.param_groups[0]["weight_decay"] == 0.1
    assert "betas" in optimizer_options("adamw") and "lr" not in optimizer_options("adamw")
    assert build_optimizer("sgd", p, lr=0.1, weight_decay=0.0).param_groups[0]["momentum"] == 0.9
    with pytest.raises(BiozooError, match="unknown option 'beta' .*did you mean 'betas'"):
        build_optimizer("adamw", p, lr=1e-3, weight_decay=0.0, beta=(0.9, 0.99))
    with pytest.raises(BiozooError, match="it takes: "):
        build_optimizer("lion", p, lr=1e-3, weight_decay=0.0, zzz=1)
    with pytest.raises(BiozooError, match="set by training.lr"):
        check_optimizer_options("lion", {"lr": 1.0}, where="training.optimizer_options")
    with pytest.raises(BiozooError, match="optimizer 'lion' rejected its options"):
        build_optimizer("lion", p, lr=1e-3, weight_decay=0.0, betas=(2.0, 0.9))


def test_unknown_optimizer_suggests_the_close_name():
    with pytest.raises(BiozooError, match="did you mean 'lion'"):
        build_optimizer("lino", [torch.nn.Parameter(torch.ones(1))], lr=0.1, weight_decay=0.0)
