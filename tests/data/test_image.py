"""The image kind: readers (files, arrays, crops), sizes, the flat view, bundled images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
from PIL import Image

from biozoo.data.cohort import RecordModality
from biozoo.data.image.crops import cut_crops, touching
from biozoo.data.image.part import ImagePart, to_size
from biozoo.data.image.read import ImageOptions, read_images
from biozoo.data.sources.datasets import dataset_records, load_dataset
from biozoo.data.sources.image_patterns import PATTERNS, mass_inside, simulate_image_patterns
from biozoo.data.sources.nuclei import label_baselines
from biozoo.errors import BiozooError


def _modality(images: list[np.ndarray | None], channels=None) -> RecordModality:
    records = np.empty(len(images), dtype=object)
    for i, im in enumerate(images):
        records[i] = im
    present = np.array([im is not None for im in images])
    meta = {"channels": channels} if channels else {}
    return RecordModality("img", "image", records, present, "img.csv", meta)


def test_a_folder_of_png_and_tiff_files_reads_channels_first(tmp_path):
    grey = np.arange(30, dtype=np.uint8).reshape(5, 6)
    rgb = np.zeros((5, 6, 3), dtype=np.uint8)
    rgb[..., 2] = 200
    Image.fromarray(grey).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "b.png")
    (tmp_path / "sub").mkdir()
    tifffile.imwrite(tmp_path / "sub" / "c.tif", np.ones((3, 5, 6), dtype=np.uint16) * 7)
    tifffile.imwrite(tmp_path / "d.tiff", rgb)  # interleaved RGB
    pd.DataFrame({"id": ["s1", "s2"], "file": ["a.png", "a.png"]}).to_csv(
        tmp_path / "grey.csv", index=False
    )
    pd.DataFrame({"sample": ["s3", "s4", "s5"], "path": ["b.png", "sub/c.tif", "d.tiff"]}).to_csv(
        tmp_path / "colour.csv", index=False
    )
    images, channels = read_images(tmp_path / "grey.csv")
    assert list(images.index) == ["s1", "s2"] and channels == ["c0"]
    assert images["s1"].shape == (1, 5, 6) and images["s1"].dtype == np.float32
    assert np.array_equal(images["s1"][0], grey)
    rgb_names = ImageOptions(channels=list("rgb"))
    images, channels = read_images(tmp_path / "colour.csv", options=rgb_names)
    assert channels == ["r", "g", "b"]
    assert images["s3"].shape == images["s4"].shape == images["s5"].shape == (3, 5, 6)
    assert images["s3"][2].min() == 200 and images["s3"][0].max() == 0
    assert np.array_equal(images["s5"], images["s3"]) and images["s4"].max() == 7


def test_arrays_with_ids(tmp_path):
    values = np.random.default_rng(0).normal(size=(3, 2, 4, 5))
    np.savez(tmp_path / "x.npz", values=values, ids=np.array(["a", "b", "c"]),
             channels=np.array(["dna", "actin"]))  # fmt: skip
    images, channels = read_images(tmp_path / "x.npz")
    assert channels == ["dna", "actin"] and list(images.index) == ["a", "b", "c"]
    assert np.allclose(images["b"], values[1])
    np.save(tmp_path / "y.npy", values[:, 0])  # [n, H, W]: one channel
    (tmp_path / "y.ids.txt").write_text("a\nb\nc\n")
    images, channels = read_images(tmp_path / "y.npy")
    assert channels == ["c0"] and images["c"].shape == (1, 4, 5)


def test_crops_of_one_image_around_each_object(tmp_path):
    image = np.zeros((20, 30), dtype=np.uint16)
    labels = np.zeros((20, 30), dtype=np.uint16)
    labels[2:5, 3:6] = 4  # touches the image's edge region: its crop is padded
    labels[10:14, 20:24] = 9
    image[labels > 0] = 100
    tifffile.imwrite(tmp_path / "big.tif", image)
    tifffile.imwrite(tmp_path / "mask.tif", labels)
    opts = ImageOptions(mask=tmp_path / "mask.tif", crop=8, mask_channel=True)
    images, channels = read_images(tmp_path / "big.tif", options=opts)
    assert list(images.index) == ["4", "9"] and channels == ["c0", "mask"]
    assert images["9"].shape == (2, 8, 8)
    assert images["9"][0].sum() == 100 * 16 and images["9"][1].sum() == 16
    assert images["4"][0].sum() == 100 * 9  # all of the object, though the crop runs off
    ids, crops, own = cut_crops(image[None], labels.astype(np.int64), 8)
    assert list(ids) == [4, 9] and crops.dtype == np.uint16 and own.sum() == 9 + 16


def test_touching_objects():
    labels = np.zeros((10, 10), dtype=np.int64)
    labels[1:3, 1:3] = 1
    labels[3:5, 3:5] = 2  # diagonal neighbour of 1: touching (8-neighbourhood)
    labels[7:9, 7:9] = 3
    assert touching(labels) == {1: True, 2: True, 3: False}
    assert touching(labels, gap=3)[3] is True


@pytest.mark.parametrize(
    ("policy", "size", "shape_in"), [("resize", (4, 6), (8, 3)), ("pad", (4, 6), (8, 3)),
                                     ("crop", (4, 6), (8, 3)), ("pad", (8, 8), (2, 4))],
)  # fmt: skip
def test_every_policy_gives_the_size(policy, size, shape_in):
    x = torch.arange(float(np.prod(shape_in))).reshape(1, 1, *shape_in) + 1.0
    out = to_size(x, size, policy)
    assert out.shape == (1, 1, *size)
    if policy == "crop":  # no scaling: the centre rows, padded columns
        assert torch.equal(out[0, 0, :, 1:4], x[0, 0, 2:6, :]) and (out[..., 0] == 0).all()
    if policy == "pad" and shape_in == (2, 4):  # never enlarged: centred on zeros
        assert torch.equal(out[0, 0, 3:5, 2:6], x[0, 0]) and out.sum() == x.sum()
    if policy == "pad" and shape_in == (8, 3):  # shrunk to 4 x 2 (aspect kept), centred
        assert (out[0, 0, :, 2:3] != 0).all() and (out[0, 0, :, :2] == 0).all()


def test_the_part_standardises_with_training_pixels_and_names_its_features():
    rng = np.random.default_rng(0)
    imgs = [rng.normal(5.0, 2.0, size=(2, 6, 6)).astype(np.float32) for _ in range(8)]
    mod = _modality([*imgs, None], channels=["a", "b"])
    part = ImagePart(size=(6, 6)).fit(mod.subset(np.arange(8)))
    x = part.transform(mod)
    assert x.shape == (9, 2, 6, 6) and x.dtype == torch.float32
    assert abs(float(x[:8].mean())) < 1e-5 and abs(float(x[:8].std()) - 1.0) < 0.02
    assert (x[8] == 0).all()
    flat = part.flat(mod)
    assert flat.shape == (9, len(part.flat_names())) and (flat[8] == 0).all()
    assert part.flat_names()[:2] == ["a_mean", "a_sd"] and "glcm_contrast_d1" in part.flat_names()
    assert part.report == {"channels": 2, "height": 6, "width": 6}


def test_images_of_several_sizes_need_a_size():
    mod = _modality([np.zeros((1, 4, 4), np.float32), np.zeros((1, 5, 4), np.float32)])
    with pytest.raises(BiozooError, match=r"img\.csv.*several sizes.*size"):
        ImagePart().fit(mod)
    assert ImagePart(size=(4, 4), resize="crop").fit(mod).transform(mod).shape == (2, 1, 4, 4)


def test_the_simulated_patterns_hide_in_the_intensities():
    sim = simulate_image_patterns(60, size=16, seed=3)
    assert sim.images.shape == (60, 1, 16, 16) and sim.masks.shape == (60, 16, 16)
    assert np.bincount(sim.labels).tolist() == [30, 30]
    assert (sim.masks.sum(axis=(1, 2)) == 25).all()
    assert PATTERNS[0].sum() == PATTERNS[1].sum() == 9  # the same light in either class
    again = simulate_image_patterns(60, size=16, seed=3)
    assert np.array_equal(sim.images, again.images) and np.array_equal(sim.masks, again.masks)
    maps = sim.masks.astype(float) * 2.0
    assert np.allclose(mass_inside(maps, sim.masks), 1.0)
    assert np.allclose(mass_inside(np.ones((60, 16, 16)), sim.masks), 25 / 256)
    assert mass_inside(np.zeros((1, 16, 16)), sim.masks[:1]).tolist() == [0.0]


def test_bundled_images():
    nuclei = load_dataset("nuclei")
    assert nuclei.labels["touching"].sum() == 42 and len(nuclei.labels) == 125
    images, meta = dataset_records("nuclei/images")
    assert meta == {"channels": ["nuclei"]} and images.iloc[0].shape == (1, 40, 40)
    images.iloc[0][:] = -1.0  # a copy: the cache is not touched
    assert dataset_records("nuclei/images")[0].iloc[0].min() >= 0
    masks, _ = dataset_records("image_patterns/masks")
    assert len(masks) == 240 and masks.iloc[0].sum() == 25
    with pytest.raises(BiozooError, match="'pixels'.*images, masks"):
        dataset_records("nuclei/pixels")
    with pytest.raises(BiozooError, match="none: it holds tables"):
        dataset_records("gse7390/gex")


def test_touching_nuclei_are_not_told_by_area_or_mean_intensity():
    auc = label_baselines()
    assert auc["area"] < 0.5 and auc["nucleus mean intensity"] < 0.7
    assert auc["flat image features"] > 0.75
    assert auc["flat image features"] > max(auc["area"], auc["nucleus mean intensity"]) + 0.1
