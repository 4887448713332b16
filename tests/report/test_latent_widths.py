"""Latent maps of a model whose latent width differs between outer splits (a searched model)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from biozoo.report.latent_maps import latent_map_data
from biozoo.train.runfolder import RunLayout


def test_a_map_uses_only_the_first_splits_own_latent_columns(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for split, width in (("h0", 3), ("h1", 5)):  # the file's columns are the widest split's
        for i in range(12):
            z = {f"z{j}": rng.normal() for j in range(width)}
            rows.append({"sample_id": f"{split}-{i}", "split": split, "member": 0, **z})
    folder = RunLayout(tmp_path).latents / "searched"
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "gex.csv", index=False)

    (found,) = latent_map_data(tmp_path, umap=False)

    assert found.split == "h0"
    assert found.dim == 3
    assert np.isfinite(found.pca).all()
    assert found.explained.sum() > 0
