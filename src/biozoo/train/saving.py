"""Saving and loading a split's fitted transforms and trained ensembles (safetensors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file

from biozoo._atomic import json_default
from biozoo.data.protocol import part_class
from biozoo.tasks import Task
from biozoo.train.fold import FittedTransforms

__all__ = ["load_transforms", "read_meta", "save_ensemble", "save_transforms"]


def save_transforms(path: Path, transforms: FittedTransforms) -> None:
    """All modalities' fitted parts of one split in one file; options in its metadata."""
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, object] = {"parts": {}}
    for name, part in transforms.parts.items():
        a, m = part.state()
        arrays.update({f"{name}/{k}": np.ascontiguousarray(v) for k, v in a.items()})
        meta["parts"][name] = {"type": part.type, "meta": m}
    a, m = transforms.target.state()
    arrays.update({f"__target__/{k}": np.ascontiguousarray(v) for k, v in a.items()})
    meta["target"] = m
    save_numpy(arrays, str(path), metadata={"biozoo": json.dumps(meta, default=json_default)})


def load_transforms(path: Path, task: Task) -> FittedTransforms:
    """One split's fitted parts and target transform (restored by ``task``)."""
    meta = read_meta(path)
    arrays = load_numpy(str(path))

    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) + 1 :]: v for k, v in arrays.items() if k.startswith(prefix + "/")}

    parts = {
        name: part_class(s["type"]).from_state(part(name), s["meta"])
        for name, s in meta["parts"].items()
    }
    target = task.load_target(part("__target__"), meta.get("target", {}))
    return FittedTransforms(parts, target)


def save_ensemble(path: Path, state: dict[str, torch.Tensor], meta: dict[str, object]) -> None:
    """A stacked ensemble's weights (member dim first) and what rebuilding it needs."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    save_file(tensors, str(path), metadata={"biozoo": json.dumps(meta, default=json_default)})


def read_meta(path: Path) -> dict[str, object]:
    """What was saved beside a file's tensors (``save_ensemble``'s ``meta``)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return json.loads(f.metadata()["biozoo"])
