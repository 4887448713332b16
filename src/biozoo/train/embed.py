"""A latent model's posterior and reconstruction, for a fold's samples or for new ones.

:func:`reconstruction_metrics` scores how well a trained latent ensemble reconstructs held-out
samples (the leaderboard's ``recon_*`` columns); :func:`embed` writes latent coordinates of
new samples from a finished run, read as :func:`biozoo.train.predict.predict` reads them.

Which coordinates. The latent spaces of different networks (the members of an ensemble, the
ensembles of different splits) are not aligned: each is fixed only up to rotation and sign.
Averaging them would blur unrelated axes, so :func:`embed` gives one network's posterior: a
split's ensemble (default: the first split) and one of its members (default: member 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from biozoo.config import DataConfig
from biozoo.data.align import load_cohort
from biozoo.data.batch import FoldData
from biozoo.errors import BiozooError
from biozoo.latent.protocols import Embeds
from biozoo.train.ensemble import Ensemble
from biozoo.train.plan import member_args, member_models
from biozoo.train.predict import data_for_prediction
from biozoo.train.saved_run import SavedRun

__all__ = ["embed", "is_latent", "posterior_members", "reconstruction_metrics"]


def is_latent(ensemble: Ensemble) -> bool:
    """Whether the ensemble's members have a posterior over a latent space."""
    return isinstance(member_models(ensemble)[0], Embeds)


@torch.no_grad()
def posterior_members(ensemble: Ensemble, data: FoldData) -> tuple[Tensor, Tensor]:
    """Every member's posterior mean and variance, ``[M, n, d]`` each (on the CPU)."""
    ensemble.eval()
    mean, var = ensemble(*member_args(ensemble, data), posterior=True)
    return mean.cpu(), var.cpu()


@torch.no_grad()
def reconstruction_metrics(ensemble: Ensemble, data: FoldData) -> dict[str, float]:
    """Each reconstruction metric, averaged over members and over the samples that have the
    modality (``recon_mse``, ``recon_nb_deviance``; per modality when there are several)."""
    ensemble.eval()
    scores = ensemble(*member_args(ensemble, data), reconstruct=True)
    out = {}
    for name, values in scores.items():
        per_sample = values.mean(dim=0).cpu().numpy()  # NaN where the sample lacks the modality
        seen = per_sample[~np.isnan(per_sample)]
        out[name] = float(seen.mean()) if len(seen) else float("nan")
    return out


def embed(
    run: SavedRun | Path,
    data: DataConfig | dict[str, Path],
    *,
    model: str | None = None,
    split: str | None = None,
    member: int = 0,
) -> pd.DataFrame:
    """Latent coordinates (posterior mean and variance) of new samples.

    Args:
        run: a finished run folder (or a run read with its own weights loader).
        data: modality name -> table path (read with the run's reader options), or a full
            data section. A run that kept samples lacking a modality accepts a subset; a
            sample with no modality gets the prior.
        model: one of the run's latent models (default: every one).
        split: the split whose ensemble embeds (default: the first).
        member: the member of that ensemble.

    Returns:
        One row per sample and model: ``sample_id``, ``model``, ``split``, ``member``, then
        ``mean_0 ... mean_{d-1}`` and ``var_0 ... var_{d-1}``.

    Raises:
        BiozooError: an unknown model, split or member, a model without a latent space, or
            data the run cannot read (one sentence each).
    """
    run = run if isinstance(run, SavedRun) else SavedRun(run)
    if not isinstance(data, DataConfig):
        data = data_for_prediction(run.cfg, {k: Path(v) for k, v in data.items()})
    if model is not None:
        run.check_model(model)
    latent = [m for m in run.cfg.models if run.cfg.models[m].objective is not None]
    if model is not None and model not in latent:
        raise BiozooError(
            f"model {model!r} of run {run.path} has no latent space; embed reads models with "
            f"an objective (ae, vae, beta_vae)."
        )
    if not latent:
        raise BiozooError(
            f"run {run.path} has no latent model; embed reads models with an objective "
            f"(ae, vae, beta_vae)."
        )
    models = [model] if model else latent
    splits = run.splits()
    if split is not None and split not in splits:
        raise BiozooError(f"run {run.path} has no split {split!r} (it has {', '.join(splits)}).")
    chosen = split or splits[0]
    cohort = load_cohort(data, with_target=False)
    frames = []
    for m in models:
        saved = run.split(chosen, m)
        n = saved.ensemble.n_members
        if not 0 <= member < n:
            raise BiozooError(f"--member {member} is out of range: model {m!r} has {n} members.")
        mean, var = posterior_members(saved.ensemble, saved.transforms.fold_data(cohort))
        mean, var = mean[member].numpy(), var[member].numpy()
        frame = pd.DataFrame({"sample_id": cohort.ids, "model": m, "split": chosen})
        frame["member"] = member
        d = mean.shape[1]
        coords = {f"mean_{j}": mean[:, j] for j in range(d)}
        coords |= {f"var_{j}": var[:, j] for j in range(d)}
        frames.append(pd.concat([frame, pd.DataFrame(coords)], axis=1))
    return pd.concat(frames, ignore_index=True)
