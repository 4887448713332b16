"""Attention rollout and Grad-CAM maps on images."""

import pytest
import torch
from torch import nn

from biozoo.config import ModelConfig
from biozoo.data.sources.image_patterns import mass_inside
from biozoo.data.spec import PartSpec
from biozoo.encoders import ENCODERS
from biozoo.errors import BiozooError
from biozoo.explain.image_maps import grad_cam, model_output, rollout_map
from biozoo.heads import BinaryHead
from biozoo.inputs import ImageInput
from biozoo.model import build_model


class _FixedAttention(nn.Module):
    """Two layers of given attention over ``[CLS]`` and a 1 x 2 grid of patches."""

    def __init__(self, maps: torch.Tensor, pixels: int) -> None:
        super().__init__()
        self.maps, self.pixels = maps, pixels

    def attention_maps(self, x):
        return self.maps.expand(x.shape[0], -1, -1, -1, -1)

    def patch_grid(self):
        return (1, 2)

    def patch_pixels(self):
        return self.pixels


def _hand_case() -> torch.Tensor:
    """``[1, layers=2, heads=2, 3, 3]``; rows 1 and 2 (the patches) attend to themselves."""
    eye = torch.eye(3)
    l1a, l1b, l2 = eye.clone(), eye.clone(), eye.clone()
    l1a[0] = torch.tensor([0.0, 1.0, 0.0])  # [CLS] -> patch 0
    l1b[0] = torch.tensor([0.0, 0.5, 0.5])
    l2[0] = torch.tensor([0.0, 0.0, 1.0])  # [CLS] -> patch 1
    layer1 = torch.stack([l1a, l1b])
    layer2 = torch.stack([l2, l2])
    return torch.stack([layer1, layer2]).unsqueeze(0)


def test_rollout_of_a_hand_checked_case():
    # layer 1: heads averaged, row 0 = [0, .75, .25]; + identity, halved: [.5, .375, .125]
    # layer 2: row 0 = [0, 0, 1]; + identity, halved: [.5, 0, .5]
    # rollout row 0 = .5 * [.5, .375, .125] + .5 * [0, 0, 1] = [.25, .1875, .5625]
    enc = _FixedAttention(_hand_case(), pixels=1)
    got = rollout_map(enc, torch.zeros(1, 1, 1, 2))
    torch.testing.assert_close(got, torch.tensor([[[0.1875, 0.5625]]]))


def test_rollout_is_upsampled_onto_the_pixels_with_its_mass_kept():
    enc = _FixedAttention(_hand_case(), pixels=2)
    got = rollout_map(enc, torch.zeros(1, 1, 3, 5))  # 2 x 4 covered, last row and column not
    assert got.shape == (1, 3, 5)
    assert torch.all(got[:, 2] == 0) and torch.all(got[:, :, 4] == 0)
    torch.testing.assert_close(got.sum(), torch.tensor(0.75))
    assert got[0, :2, :2].sum() < got[0, :2, 2:4].sum()


def test_rollout_of_a_vit_sums_to_at_most_one():
    torch.manual_seed(0)
    vit = ENCODERS.get("vit")(ImageInput(2, 8, 8), patch=4, stem="conv", stem_stages=2)
    vit.train()
    got = rollout_map(vit, torch.randn(3, 2, 8, 8))
    assert vit.training  # its mode is given back
    assert got.shape == (3, 8, 8) and torch.all(got >= 0)
    assert torch.all(got.sum(dim=(1, 2)) <= 1 + 1e-5)


def test_rollout_needs_patch_attention():
    cnn = ENCODERS.get("cnn2d")(ImageInput(1, 8, 8))
    with pytest.raises(BiozooError, match="attends over patches.*CNN2dEncoder"):
        rollout_map(cnn, torch.zeros(1, 1, 8, 8))


def _planted(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noise images; class 1 holds a bright 4 x 4 square somewhere."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.randn(n, 1, 16, 16, generator=g)
    y = torch.arange(n) % 2
    regions = torch.zeros(n, 16, 16, dtype=torch.bool)
    for i in range(n):
        if y[i]:
            r, c = torch.randint(0, 13, (2,), generator=g).tolist()
            regions[i, r : r + 4, c : c + 4] = True
    return x + 2.0 * regions.unsqueeze(1), y, regions


def test_grad_cam_finds_a_planted_square():
    torch.manual_seed(0)
    spec = ModelConfig(default_encoder=PartSpec(name="cnn2d", width=8, stages=2, dropout=0.0))
    model = build_model(spec, {"img": ImageInput(1, 16, 16)}, 1)
    head = BinaryHead()
    x, y, _ = _planted(64, seed=0)
    present = {"img": torch.ones(64, dtype=torch.bool)}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        head(*model({"img": x}, present), y).loss.backward()
        opt.step()
    model.eval()
    xt, yt, regions = _planted(32, seed=1)
    pos = yt == 1
    xt, regions = xt[pos], regions[pos]
    present = {"img": torch.ones(len(xt), dtype=torch.bool)}
    forward = model_output(model, head, "img", {"img": xt}, present)
    cam = grad_cam(forward, model.encoders["img"].cam_layer(), xt)
    assert cam.shape == (len(xt), 16, 16) and torch.all(cam >= 0)
    inside = mass_inside(cam.numpy(), regions.numpy())
    chance = regions.double().mean().item()  # 16 of 256 pixels
    # the 8 x 8 feature map, upsampled, spreads each cell over 2 x 2 pixels: 0.22 here
    assert inside.mean() > 3 * chance, (inside.mean(), chance)
    near = torch.nn.functional.max_pool2d(regions.float().unsqueeze(1), 3, 1, 1)[:, 0] > 0
    peak = cam.flatten(1).argmax(1)
    hit = near.flatten(1)[torch.arange(len(peak)), peak]
    assert hit.float().mean() >= 0.9  # the brightest pixel within a pixel of the square
