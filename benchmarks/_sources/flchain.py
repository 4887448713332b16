"""flchain (Dispenzieri et al. 2012) from scikit-survival, as files a run config reads.

7,874 residents of Olmsted County with serum free light chain measurements and follow-up to
death or censoring (``futime`` days, ``death``). Features: ``age``, ``sex`` (male = 1),
``sample.yr``, ``kappa``, ``lambda``, ``flc.grp`` (1-10), ``creatinine`` (1,350 missing, imputed
by the fold transforms) and ``mgus`` (yes = 1). ``chapter`` (the chapter of the cause of death)
is left out: it is known only for those who died, so it would leak the event.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["flchain_frames", "write_flchain"]


def flchain_frames(n: int | None = None, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and target (``time``, ``event``) indexed by ``sample_id``.

    Args:
        n: keep a random subsample of ``n`` samples (all when None).
        seed: the subsample's random state.
    """
    from sksurv.datasets import load_flchain

    x, y = load_flchain()
    ids = pd.Index([f"flchain_{i + 1:04d}" for i in range(len(x))], name="sample_id")
    features = pd.DataFrame(
        {
            "age": x["age"].to_numpy(np.float64),
            "sex": (x["sex"].astype(str) == "M").to_numpy(np.float64),
            "sample.yr": x["sample.yr"].astype(str).astype(np.float64).to_numpy(),
            "kappa": x["kappa"].to_numpy(np.float64),
            "lambda": x["lambda"].to_numpy(np.float64),
            "flc.grp": x["flc.grp"].astype(str).astype(np.float64).to_numpy(),
            "creatinine": x["creatinine"].to_numpy(np.float64),
            "mgus": (x["mgus"].astype(str) == "yes").to_numpy(np.float64),
        },
        index=ids,
    )
    target = pd.DataFrame(
        {"time": y["futime"].astype(np.float64), "event": y["death"].astype(np.int64)}, index=ids
    )
    if n is not None and n < len(ids):
        keep = np.sort(np.random.default_rng(seed).choice(len(ids), n, replace=False))
        features, target = features.iloc[keep], target.iloc[keep]
    return features, target


def write_flchain(folder: Path, n: int | None = None, seed: int = 0) -> tuple[Path, Path]:
    """Write ``flchain_x.csv`` and ``flchain_y.csv`` into ``folder``; return their paths."""
    features, target = flchain_frames(n, seed)
    folder.mkdir(parents=True, exist_ok=True)
    x_path, y_path = folder / "flchain_x.csv", folder / "flchain_y.csv"
    features.to_csv(x_path)
    target.to_csv(y_path)
    return x_path, y_path
