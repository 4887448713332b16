"""Training batches are augmented, per member and deterministically; nothing else is."""

from __future__ import annotations

import numpy as np
import torch

from biozoo.config import ModelConfig
from biozoo.data.batch import FoldData
from biozoo.data.cohort import RecordModality
from biozoo.data.image.part import ImagePart
from biozoo.data.protocol import Augments
from biozoo.data.spec import PartSpec
from biozoo.heads import BinaryHead
from biozoo.model import build_model
from biozoo.train.ensemble import StackedEnsemble
from biozoo.train.plan import MemberBatches, fit_ensemble, predict_members

DIMS = {"a": 6}


class Spy:
    """Adds draws from the member's generator to a table batch, and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        self.calls += 1
        return x + 0.1 * torch.randn(x.shape, generator=generator)


def data(n: int, seed: int, spy: Spy | None = None) -> FoldData:
    g = torch.Generator().manual_seed(seed)
    x = {"a": torch.randn(n, 6, generator=g)}
    y = (x["a"][:, 0] > 0).long()
    return FoldData(x, {"a": torch.ones(n, dtype=torch.bool)}, y, {"a": spy} if spy else {})


def images(n: int = 6) -> FoldData:
    rng = np.random.default_rng(0)
    records = np.empty(n, dtype=object)
    for i in range(n):
        records[i] = rng.normal(size=(2, 8, 8)).astype(np.float32)
    mod = RecordModality("img", "image", records, np.ones(n, dtype=bool))
    part = ImagePart(augment={"flip": True, "rotate": True, "jitter": 0.1}).fit(mod)
    x = part.transform(mod)
    return FoldData({"img": x}, {"img": torch.ones(n, dtype=torch.bool)}, None, {"img": part})


def test_the_image_part_is_found_by_its_capability():
    assert isinstance(ImagePart(), Augments)
    assert isinstance(Spy(), Augments)
    assert not isinstance(object(), Augments)


def test_same_seed_same_batches_and_each_member_its_own_draws():
    def epochs(seed: int) -> list[torch.Tensor]:
        feed = MemberBatches(images(), n_members=3, batch_size=6, seed=seed)
        return [b.inputs["img"] for _ in range(2) for b in feed]

    first, again, other = epochs(0), epochs(0), epochs(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    assert not torch.equal(first[0], first[1])  # epoch 2 draws anew
    base = images()
    for batch in first:
        for m in range(3):  # every member's images are changed
            assert batch.shape[1:] == (6, 2, 8, 8)
            assert not any(torch.equal(batch[m][i], base.inputs["img"][j]) for i in range(6)
                           for j in range(6))  # fmt: skip


def test_flips_and_rotations_alone_keep_the_pixels():
    base = images()
    part = base.augment["img"]
    part.options.augment.jitter = 0.0
    x = base.inputs["img"]
    out = part.augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.equal(out, x)
    for i in range(len(x)):
        assert torch.equal(out[i].flatten().sort().values, x[i].flatten().sort().values)
    assert torch.equal(x, base.inputs["img"])  # the input is left as it was


def test_an_image_part_without_augment_options_leaves_the_batch():
    records = np.empty(3, dtype=object)
    records[0], records[1] = np.zeros((2, 8, 8), np.float32), np.ones((2, 8, 8), np.float32)
    plain = ImagePart().fit(RecordModality("img", "image", records, np.array([1, 1, 0], bool)))
    x = images().inputs["img"]
    assert plain.augment(x, torch.Generator().manual_seed(0)) is x


def test_training_batches_are_augmented_and_evaluation_batches_never():
    head = BinaryHead()
    spec = ModelConfig(encoders={"a": PartSpec(name="mlp", hidden=[8], out_dim=4)})

    def run(spy: Spy | None):
        ens = StackedEnsemble(lambda: build_model(spec, DIMS, 1), seeds=[1, 2])
        fit, val = data(32, 1, spy), data(16, 2, spy)
        fit_ensemble(
            ens, head, fit, val, epochs=3, batch_size=8, patience=10, optimizer="adamw",
            lr=1e-2, weight_decay=0.0, gradient_clip=1.0, seed=0,
        )  # fmt: skip
        calls = spy.calls if spy else 0
        return predict_members(ens, head, val), calls, (spy.calls if spy else 0) - calls

    p, calls, after = run(Spy())
    assert calls == 3 * 4 * 2  # epochs x batches x members; validation is never augmented
    assert after == 0  # nor prediction
    p_again, _, _ = run(Spy())
    p_plain, _, _ = run(None)
    assert torch.equal(p, p_again) and not torch.equal(p, p_plain)
