"""Rebuild biozoo's bundled nuclei crops from the 2-D nuclei image that ships with stardist.

stardist (BSD-3-Clause) ships ``stardist/data/images/img2d.tif`` (512 x 512 uint16
fluorescence image of nuclei from the 2018 Data Science Bowl, Caicedo et al. 2019, Nature
Methods 16:1247, https://doi.org/10.1038/s41592-019-0612-7) and ``mask2d.tif`` (its instance
labels), read by ``stardist.data.test_image_nuclei_2d(return_mask=True)``. The files are
located with ``importlib`` and read with tifffile: stardist itself is never imported (it
needs csbdeep and numba), so ``pip install --no-deps stardist==0.9.2`` suffices.

For every nucleus: a 40 x 40 crop of the image centred on its bounding box
(:func:`biozoo.data.image.crops.cut_crops`), its own mask in the crop, its area, and whether
it touches another nucleus (another label within 1 pixel, 8-neighbourhood:
:func:`biozoo.data.image.crops.touching`). The result is written, compressed, to
``src/biozoo/data/sources/files/nuclei.npz``; the label baselines quoted in
:mod:`biozoo.data.sources.nuclei` are printed.

    python benchmarks/_sources/nuclei.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from biozoo.data.image.crops import cut_crops, touching
from biozoo.data.sources.nuclei import NUCLEI_FILE, label_baselines
from biozoo.errors import BiozooError

CROP = 40


def stardist_images() -> tuple[np.ndarray, np.ndarray]:
    """stardist's 2-D nuclei image and its instance labels, from the installed package."""
    import tifffile

    spec = importlib.util.find_spec("stardist")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise BiozooError(
            "the nuclei image ships with the stardist package, which is not installed; run "
            "'pip install --no-deps stardist==0.9.2'."
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "images"
    return tifffile.imread(folder / "img2d.tif"), tifffile.imread(folder / "mask2d.tif")


def main() -> None:
    image, labels = stardist_images()
    ids, crops, own = cut_crops(image[None], labels.astype(np.int64), CROP)
    touch = touching(labels.astype(np.int64), gap=1)
    area = np.bincount(labels.ravel())[ids]
    NUCLEI_FILE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        NUCLEI_FILE,
        values=crops.astype(np.uint16),
        ids=ids,
        masks=own,
        touching=np.array([touch[int(i)] for i in ids], dtype=np.int64),
        area=area.astype(np.int64),
    )
    print(f"wrote {NUCLEI_FILE} ({NUCLEI_FILE.stat().st_size} bytes, {len(ids)} nuclei)")
    for name, auc in label_baselines().items():
        print(f"{name}: {auc:.3f}")


if __name__ == "__main__":
    sys.exit(main())
