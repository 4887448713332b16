"""The report's image-explanation section, from image_maps/ files alone."""

from types import SimpleNamespace

import numpy as np

from biozoo.report.overlays import image_maps_section
from biozoo.train.runfolder import RunLayout


def _run(root):
    return SimpleNamespace(layout=RunLayout(root), preds=None, classes=[])


def test_no_image_maps_no_section(tmp_path):
    assert image_maps_section(_run(tmp_path)) is None


def test_one_figure_per_file_and_a_damaged_file_is_named(tmp_path):
    folder = tmp_path / "image_maps" / "vit"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(
        folder / "cells.npz",
        sample_id=np.array(["a", "b", "c"]),
        split=np.array(["r0-f0"] * 3),
        images=rng.normal(size=(2, 3, 8, 8)).astype(np.float32),  # three channels: RGB
        rollout=rng.uniform(size=(3, 8, 8)).astype(np.float32),
    )
    (folder / "broken.npz").write_bytes(b"not a zip")
    html = image_maps_section(_run(tmp_path))
    assert html.count('data-plot="image-maps-') == 1
    assert "attention rollout" in html and "Grad-CAM</text>" not in html
    assert "image_maps/vit/broken.npz skipped" in html
