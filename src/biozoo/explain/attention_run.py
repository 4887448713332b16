"""Attention of a run's transformer encoders, written next to the samples' tokens.

For every deep model with a ``transformer`` encoder, each split's ensemble explains the
split's *test* samples (every sample once under k-fold; a sample tested in several hold-out
splits appears once per split). Per modality read by a transformer:

- ``attention/<model>/<modality>.csv``: one row per (split, sample, token) with the token
  (a residue or k-mer, a gene name for ``gene_rank``, a group name for ``omics_groups``, a
  feature name or a visit index otherwise) and the attention it receives, averaged over
  heads and layers, then over the real queries of the sample, then over the ensemble's
  members (see :func:`~biozoo.explain.attention.received_attention`);
- ``attention_maps/<model>/<modality>.csv``: the full per-layer, per-head maps (query x key,
  members averaged) of the first ``max_maps`` test samples of the first split, so a map can
  be drawn for a few samples without writing ``n x L^2`` numbers for all of them.

The report draws the first file as heat strips; the second is for the user's own figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from biozoo.config import RunConfig
from biozoo.data.batch import FoldData, take_rows, to_device
from biozoo.data.cohort import Cohort
from biozoo.encoders import ENCODERS
from biozoo.encoders.protocols import AttentionEncoder, PatchAttention
from biozoo.explain.attention import attention_map_frame, token_attention
from biozoo.fusion import FUSIONS
from biozoo.train.device import module_device
from biozoo.train.saved_run import SavedRun

__all__ = ["attention_models", "run_attention"]

_BATCH = 256  # samples per forward pass (maps are [B, layers, heads, L, L])


def attention_models(cfg: RunConfig, names: Sequence[str]) -> dict[str, list[str]]:
    """model -> the modalities it reads with an attention encoder (models without left out)."""
    out = {}
    for name in names:
        spec = cfg.models[name]
        classes = {m: ENCODERS.get(spec.encoders.get(m, spec.default_encoder).name) for m in
                   cfg.data.modalities}  # fmt: skip
        mods = [
            m
            for m, cls in classes.items()
            # patches are drawn on their image instead (explain.image_run)
            if issubclass(cls, AttentionEncoder) and not issubclass(cls, PatchAttention)
            and not FUSIONS.get(spec.fusion.name).early
        ]  # fmt: skip
        if mods:
            out[name] = mods
    return out


def run_attention(
    run: SavedRun,
    model: str,
    modalities: Sequence[str],
    cohort: Cohort,
    rows: dict[str, dict[str, np.ndarray]] | None = None,
    *,
    max_maps: int = 4,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """modality -> (received attention per token, full maps of a few samples) for one model.

    ``rows`` is :meth:`SavedRun.split_rows` of ``cohort``, if already read.
    """
    tokens: dict[str, list[pd.DataFrame]] = {m: [] for m in modalities}
    maps: dict[str, pd.DataFrame] = {}
    for tested in run.test_splits(model, cohort, rows):
        split, saved, test, data = tested.name, tested.saved, tested.test, tested.data
        members = saved.members()
        for mod in modalities:
            encoders = [m.encoders[mod] for m in members]
            labels = saved.transforms.parts[mod].token_names()
            rows = np.flatnonzero(data.present[mod].numpy())
            ids = [str(s) for s in cohort.ids[test][rows]]
            frame = _received(encoders, data, mod, rows, ids, labels)
            frame.insert(0, "split", split)
            tokens[mod].append(frame)
            if mod not in maps and len(rows):
                few = rows[:max_maps]
                maps[mod] = _mean_maps(encoders, data, mod, few, ids[: len(few)], labels)
                maps[mod].insert(0, "split", split)
    return {
        m: (pd.concat(tokens[m], ignore_index=True), maps.get(m, pd.DataFrame())) for m in tokens
    }


def _inputs(data: FoldData, mod: str, rows: np.ndarray, encoder: nn.Module) -> object:
    """The rows' input of ``mod``, on ``encoder``'s device."""
    x = take_rows(data.inputs[mod], torch.as_tensor(rows, dtype=torch.long))
    return to_device(x, module_device(encoder))


def _received(
    encoders: list[nn.Module],
    data: FoldData,
    mod: str,
    rows: np.ndarray,
    ids: list[str],
    labels: list[str] | None,
) -> pd.DataFrame:
    frames = []
    for start in range(0, len(rows), _BATCH):
        x = _inputs(data, mod, rows[start : start + _BATCH], encoders[0])
        batch_ids = ids[start : start + _BATCH]
        per = [token_attention(e, x, batch_ids, labels=labels) for e in encoders]
        frame = per[0].copy()
        frame["received_attention"] = np.mean([f["received_attention"] for f in per], axis=0)
        frames.append(frame)
    columns = ["sample_id", "position", "token", "received_attention"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _mean_maps(
    encoders: list[nn.Module],
    data: FoldData,
    mod: str,
    rows: np.ndarray,
    ids: list[str],
    labels: list[str] | None,
) -> pd.DataFrame:
    x = _inputs(data, mod, rows, encoders[0])
    per = [attention_map_frame(e, x, ids, labels=labels) for e in encoders]
    frame = per[0].copy()
    frame["weight"] = np.mean([f["weight"] for f in per], axis=0)
    return frame
