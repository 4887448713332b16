"""Explanation maps of a run's image encoders, on every test image of every split.

For every deep model whose encoder of an image modality can show where it looks, each
split's ensemble maps the split's *test* images (every image once under k-fold), members'
maps averaged. Which maps an encoder gets follows its capabilities
(:mod:`biozoo.encoders.protocols`), never its name:

- :class:`~biozoo.encoders.protocols.PatchAttention` (``vit``): attention rollout
  (:func:`~biozoo.explain.image_maps.rollout_map`);
- :class:`~biozoo.encoders.protocols.ConvFeatureMap` with a layer (``cnn2d``, the hybrid
  ``vit``'s stem): Grad-CAM (:func:`~biozoo.explain.image_maps.grad_cam`) of the head's
  explained output for each image's true class where there are classes (the log-odds of
  that class: with two classes, the positive class's log-odds times ``2 y - 1``; Grad-CAM
  keeps only what speaks FOR the output, so explaining class 1 on a class-0 image would show
  nothing useful), the prediction otherwise; the other modalities held at their values.

Written to ``image_maps/<model>/<modality>.npz``: ``sample_id`` and ``split`` per map, one
``[n, H, W]`` float32 array per method (``rollout``, ``grad_cam``), and ``images``: the first
``max_images`` test images of the first split as the model read them (standardised,
``[k, C, H, W]``), which the report draws beside their maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from biozoo.config import RunConfig
from biozoo.data.batch import FoldData, take_rows, to_device
from biozoo.data.cohort import Cohort
from biozoo.encoders import ENCODERS
from biozoo.encoders.protocols import ConvFeatureMap, PatchAttention
from biozoo.explain.image_maps import grad_cam, model_output, rollout_map
from biozoo.fusion import FUSIONS
from biozoo.model import MultiModalModel
from biozoo.train.device import module_device
from biozoo.train.saved_run import SavedRun

__all__ = ["ImageMaps", "image_models", "run_image_maps"]

_BATCH = 64  # images per forward pass


def image_models(cfg: RunConfig, names: Sequence[str]) -> dict[str, list[str]]:
    """model -> the modalities read by an encoder with a map capability (early fusion, whose
    one encoder reads a joined table, left out)."""
    out = {}
    for name in names:
        spec = cfg.models[name]
        if FUSIONS.get(spec.fusion.name).early:
            continue
        mods = [
            m
            for m in cfg.data.modalities
            if issubclass(
                ENCODERS.get(spec.encoders.get(m, spec.default_encoder).name),
                PatchAttention | ConvFeatureMap,
            )
        ]
        if mods:
            out[name] = mods
    return out


class ImageMaps:
    """One model's maps, per modality: ids, splits, ``method -> [n, H, W]`` and a few images."""

    def __init__(self) -> None:
        self.ids: dict[str, list[str]] = {}
        self.splits: dict[str, list[str]] = {}
        self.maps: dict[str, dict[str, list[np.ndarray]]] = {}
        self.images: dict[str, np.ndarray] = {}

    def add(self, mod: str, split: str, ids: list[str], maps: dict[str, Tensor]) -> None:
        self.ids.setdefault(mod, []).extend(ids)
        self.splits.setdefault(mod, []).extend([split] * len(ids))
        for method, values in maps.items():
            self.maps.setdefault(mod, {}).setdefault(method, []).append(values.numpy())

    def write(self, folder: Path) -> None:
        """``<modality>.npz`` per modality into ``folder``."""
        for mod, ids in self.ids.items():
            arrays = {m: np.concatenate(v).astype(np.float32) for m, v in self.maps[mod].items()}
            np.savez_compressed(
                folder / f"{mod}.npz",
                sample_id=np.array(ids, dtype=str),
                split=np.array(self.splits[mod], dtype=str),
                images=self.images.get(mod, np.zeros((0, 1, 1, 1), np.float32)),
                **arrays,
            )


def run_image_maps(
    run: SavedRun,
    model: str,
    modalities: Sequence[str],
    cohort: Cohort,
    rows: dict[str, dict[str, np.ndarray]] | None = None,
    *,
    max_images: int = 4,
) -> ImageMaps:
    """The maps of one model's image encoders on every split's test images.

    ``rows`` is :meth:`SavedRun.split_rows` of ``cohort``, if already read.
    """
    out = ImageMaps()
    for tested in run.test_splits(model, cohort, rows):
        saved, data = tested.saved, tested.data
        members = saved.members()
        for mod in modalities:
            present = np.flatnonzero(data.present[mod].numpy())
            ids = [str(s) for s in cohort.ids[tested.test][present]]
            for start in range(0, len(present), _BATCH):
                idx = torch.as_tensor(present[start : start + _BATCH], dtype=torch.long)
                maps = _member_mean(members, saved.head, data, mod, idx, cohort.n_classes)
                out.add(mod, tested.name, ids[start : start + _BATCH], maps)
            if mod not in out.images and len(present):
                few = torch.as_tensor(present[:max_images], dtype=torch.long)
                out.images[mod] = data.inputs[mod][few].float().numpy()
    return out


def _member_mean(
    members: list[MultiModalModel],
    head: nn.Module,
    data: FoldData,
    mod: str,
    idx: Tensor,
    n_classes: int | None,
) -> dict[str, Tensor]:
    """``method -> [b, H, W]``: each member's maps of the rows ``idx``, averaged (computed
    on the members' device, handed back on the CPU)."""
    device = module_device(members[0])
    inputs = to_device({m: take_rows(v, idx) for m, v in data.inputs.items()}, device)
    present = to_device({m: v[idx] for m, v in data.present.items()}, device)
    images = inputs[mod].float()
    y = None if data.y is None else to_device(data.y[idx], device)
    target = y if head.per_class else None
    two = n_classes == 2 and not head.per_class  # one log-odds: turn it to the true class
    sign = 2.0 * y.float() - 1.0 if two else None
    sums: dict[str, Tensor] = {}
    for member in members:
        member.eval()
        encoder = member.encoders[mod]
        found = {}
        if isinstance(encoder, PatchAttention):
            found["rollout"] = rollout_map(encoder, images)
        layer = encoder.cam_layer() if isinstance(encoder, ConvFeatureMap) else None
        if layer is not None:
            forward = model_output(member, head, mod, inputs, present, sign=sign)
            found["grad_cam"] = grad_cam(forward, layer, images, target=target)
        for method, values in found.items():
            sums[method] = sums.get(method, 0) + values
    return {method: (total / len(members)).cpu() for method, total in sums.items()}
