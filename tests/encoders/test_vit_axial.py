"""The vit with axial attention: a planted row-versus-column task it learns, its attention
maps and rollout, and its members stacked under ``vmap``."""

import pytest
import torch
from torch.func import functional_call, stack_module_state, vmap

from biozoo.encoders import ViTEncoder
from biozoo.explain.image_maps import rollout_map
from biozoo.inputs import ImageInput
from biozoo.layers.axial_attention import AxialAttention

SPEC = ImageInput(channels=1, height=8, width=8)


def _vit(seed: int = 0, **options) -> ViTEncoder:
    torch.manual_seed(seed)
    opts = {"patch": 2, "d_model": 16, "heads": 2, "hidden": 32, "dropout": 0.0, "out_dim": 8}
    return ViTEncoder(SPEC, **{**opts, "attention": "axial", **options})


def _pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two lit 2x2 patches on a 4x4 patch grid, in one row (label 1) or one column (label 0):
    the same pixels either way, only their relative place tells the classes apart."""
    g = torch.Generator().manual_seed(seed)
    images = 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    labels = torch.arange(n) % 2
    for i in range(n):
        line, a, b = torch.randint(4, (1,), generator=g), *torch.randperm(4, generator=g)[:2]
        cells = [(line, a), (line, b)] if labels[i] else [(a, line), (b, line)]
        for r, c in cells:
            images[i, 0, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2] += 1.5
    return images, labels.float()


def test_a_small_axial_vit_learns_whether_two_lit_patches_share_a_row_or_a_column():
    x, y = _pairs(256, seed=0)
    x_test, y_test = _pairs(256, seed=1)
    vit = _vit()
    head = torch.nn.Linear(vit.out_dim, 1)
    params = [*vit.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)

    def accuracy() -> float:
        with torch.no_grad():
            return float(((head(vit(x_test)).squeeze(1) > 0).float() == y_test).float().mean())

    before = accuracy()
    torch.manual_seed(0)
    for _ in range(8):
        for idx in torch.randperm(256).split(32):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                head(vit(x[idx])).squeeze(1), y[idx]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    vit.eval()
    after = accuracy()
    assert before < 0.65 < 0.9 < after, (before, after)


def test_axial_vit_attention_maps_and_rollout():
    vit = _vit()
    assert all(isinstance(b.attn, AxialAttention) for b in vit.blocks)
    images = _pairs(3, seed=2)[0]
    maps = vit.attention_maps(images)
    assert maps.shape == (3, 2, 2, 17, 17)
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 2, 2, 17))
    heat = rollout_map(vit, images)
    assert heat.shape == (3, 8, 8) and torch.all(heat >= 0) and heat.sum() > 0


def test_axial_vit_members_stack_under_vmap():
    members = [_vit(seed=s) for s in (1, 2)]
    params, buffers = stack_module_state(members)
    images = _pairs(4, seed=3)[0]

    def one(p, b, x):
        return functional_call(members[0], (p, b), (x,))

    stacked = vmap(one)(params, buffers, images.expand(2, *images.shape))
    for i, member in enumerate(members):
        torch.testing.assert_close(stacked[i], member(images), atol=1e-5, rtol=1e-5)


def test_axial_is_a_kind_of_the_patch_grid_only():
    from biozoo.config import ModelConfig
    from biozoo.data.spec import PartSpec
    from biozoo.errors import BiozooError
    from biozoo.inputs import TokensInput
    from biozoo.model import build_model

    spec = ModelConfig(default_encoder=PartSpec(name="vit", attention="axial"))
    model = build_model(spec, {"img": SPEC}, 1)
    assert isinstance(model.encoders["img"].blocks[0].attn, AxialAttention)
    spec = ModelConfig(default_encoder=PartSpec(name="transformer", attention="axial"))
    with pytest.raises(BiozooError, match="modality 'seq': unknown attention 'axial'"):
        build_model(spec, {"seq": TokensInput(vocab=10, max_len=7)}, 1)
