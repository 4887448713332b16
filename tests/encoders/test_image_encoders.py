"""The image encoders: cnn2d and vit (plain and hybrid), alone and beside a table."""

import pytest
import torch

from biozoo.config import ModelConfig
from biozoo.data.spec import PartSpec
from biozoo.encoders import ENCODERS, CNN2dEncoder, ViTEncoder
from biozoo.encoders.protocols import (
    AttentionEncoder,
    ConvFeatureMap,
    PatchAttention,
    Stackable,
)
from biozoo.errors import BiozooError
from biozoo.inputs import ImageInput, TableInput
from biozoo.layers.attention import TransformerBlock
from biozoo.layers.positional import sinusoidal_2d
from biozoo.model import build_model

SPEC = ImageInput(channels=3, height=16, width=12)
VARIANTS = {
    "cnn2d": ("cnn2d", {}),
    "cnn2d-deep": ("cnn2d", {"stages": 2, "blocks": 2, "width": 8}),
    "vit": ("vit", {}),
    "vit-sinusoidal": ("vit", {"positional": "sinusoidal", "patch": 8, "layers": 3}),
    "hybrid": ("vit", {"stem": "conv", "patch": 2}),
    "vit-axial": ("vit", {"attention": "axial"}),  # rows, then columns of the 4 x 3 patches
}


def _images(n: int = 4, spec: ImageInput = SPEC, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, spec.channels, spec.height, spec.width, generator=g)


def _build(key: str, seed: int = 0) -> torch.nn.Module:
    name, opts = VARIANTS[key]
    torch.manual_seed(seed)
    cls = ENCODERS.get(name)
    return cls(SPEC, **{**cls.Config().model_dump(), **opts, "dropout": 0.0})


@pytest.mark.parametrize("key", VARIANTS)
def test_shape_determinism_and_gradients(key):
    enc = _build(key)
    x = _images().requires_grad_(True)
    z = enc(x)
    assert z.shape == (4, enc.out_dim) and torch.isfinite(z).all()
    assert torch.equal(_build(key)(x), z)  # same seed, same weights, same output
    z.pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("key", VARIANTS)
def test_state_round_trip_gives_the_same_embedding(key):
    enc = _build(key, seed=1)
    enc(_images())  # training mode: batch norm's running statistics move
    enc.eval()
    other = _build(key, seed=2)
    other.load_state_dict(enc.state_dict())
    other.eval()
    x = _images(seed=3)
    assert torch.equal(enc(x), other(x))


def test_absent_samples_embed_to_zero():
    for key in VARIANTS:
        enc = _build(key).eval()
        z = enc(_images(), torch.tensor([True, False, True, True]))
        assert torch.all(z[1] == 0) and torch.any(z[0] != 0)


def test_vit_options_shape_the_tokens():
    vit = _build("vit")  # patch 4 on 16 x 12
    assert vit.patch_grid() == (4, 3)
    assert vit.attention_maps(_images()).shape == (4, 2, 4, 13, 13)
    deep = _build("vit-sinusoidal")  # patch 8: 2 x 1 patches, 3 blocks, no learned positions
    assert deep.patch_grid() == (2, 1) and len(deep.blocks) == 3 and deep.pos is None
    hybrid = _build("hybrid")  # 2 stem stages halve 16 x 12 to 8 x 6, then 2 x 2 patches
    assert hybrid.patch_grid() == (4, 3)
    assert all(isinstance(b, TransformerBlock) for b in vit.blocks)


def test_capabilities_are_protocols_not_names():
    cnn, vit, hybrid = _build("cnn2d"), _build("vit"), _build("hybrid")
    assert isinstance(cnn, ConvFeatureMap) and not isinstance(cnn, PatchAttention)
    assert isinstance(vit, PatchAttention) and isinstance(vit, AttentionEncoder)
    assert vit.cam_layer() is None and hybrid.cam_layer() is hybrid.stem.last
    assert cnn.cam_layer() is cnn.features.last
    # batch norm's in-place running statistics: members train one after the other
    assert isinstance(cnn, Stackable) and not cnn.stackable
    assert vit.stackable and not hybrid.stackable


def test_sinusoidal_2d_rows_and_columns():
    table = sinusoidal_2d(3, 2, 8)  # row-major: token r * 2 + c
    assert table.shape == (6, 8)
    assert torch.equal(table[0, :4], table[1, :4])  # same row, same first half
    assert torch.equal(table[0, 4:], table[2, 4:])  # same column, same second half
    assert not torch.equal(table[0], table[1])
    with pytest.raises(BiozooError, match="divisible by 4"):
        sinusoidal_2d(2, 2, 6)


def test_an_image_smaller_than_one_patch_is_one_sentence_naming_the_modality():
    spec = ModelConfig(default_encoder=PartSpec(name="vit", patch=8))
    with pytest.raises(BiozooError, match=r"modality 'cells'.*8x8 patch.*6x6 images") as err:
        build_model(spec, {"cells": ImageInput(1, 6, 6)}, 1)
    assert "\n" not in str(err.value)
    hybrid = {"patch": 4, "stem": "conv", "stem_stages": 3}  # 12 x 12 -> 3 x 3 after the stem
    spec = ModelConfig(default_encoder=PartSpec(name="vit", **hybrid))
    with pytest.raises(BiozooError, match=r"modality 'cells'.*3x3 after the convolutional stem"):
        build_model(spec, {"cells": ImageInput(1, 12, 12)}, 1)


def test_a_batch_of_the_wrong_channels_or_rank_is_refused():
    enc = _build("cnn2d")
    with pytest.raises(BiozooError, match="3-channel images but the image batch has 1"):
        enc(torch.zeros(2, 1, 16, 12))
    with pytest.raises(BiozooError, match=r"float tensor \[B, C, H, W\]"):
        _build("vit")(torch.zeros(2, 16, 12))


@pytest.mark.parametrize("encoder", ["cnn2d", "vit"])
@pytest.mark.parametrize("fusion", ["concat", "late"])
def test_an_image_and_a_table_fused_in_one_model(encoder, fusion):
    spec = ModelConfig(
        encoders={"image": PartSpec(name=encoder), "clinical": PartSpec(name="mlp")},
        fusion=PartSpec(name=fusion),
    )
    torch.manual_seed(0)
    model = build_model(spec, {"image": SPEC, "clinical": TableInput(5)}, 1)
    assert isinstance(model.encoders["image"], CNN2dEncoder | ViTEncoder)
    inputs = {"image": _images(), "clinical": torch.randn(4, 5)}
    present = {"image": torch.tensor([True, True, False, True]), "clinical": torch.ones(4).bool()}
    outputs, view_mask = model(inputs, present)
    assert outputs.shape[0] == 4 and torch.isfinite(outputs).all()
    outputs.sum().backward()
    assert model.encoders["image"].proj.weight.grad.abs().sum() > 0
    assert model.encoders["clinical"].mlp.net[0].weight.grad.abs().sum() > 0
    z = model(inputs, present, embed=True)
    assert torch.all(z["image"][2] == 0)  # the sample without an image
