"""Int8 export of a finished run's ensembles, for CPU inference, and scoring with it.

:func:`export_int8` rebuilds every member of every saved ensemble (``models/<model>/<split>``)
and makes a dynamic int8 copy of it: each ``nn.Linear`` becomes torch's dynamically quantized
Linear (``torch.ao.quantization.quantize_dynamic``) with int8 weights, one scale per output
row (per-channel, symmetric), and activations quantized on the fly at each call; other layers
(normalisation, learnable activations) stay float32. The per-row weight scales are the
weight half of LLM.int8()'s vector-wise quantization (Dettmers et al. 2022,
https://arxiv.org/abs/2208.07339); activations get one scale per call, and there is no
outlier decomposition. torch marks ``torch.ao.quantization`` as deprecated in favour of
torchao; its warnings are silenced here, and moving to torchao is the way out when it goes.

No pickle: the export is safetensors files holding each quantized layer's int8 weight
matrix, its scales and zero points and its float bias, plus the float tensors of the other
layers. Loading rebuilds the float model from the run config, quantizes it (which sets the
module types) and then overwrites every weight with the stored values, so an export is read
with the same code and the same safety as a run folder.

The export folder (default ``RUN/int8``) holds ``config.yaml``, ``models/transforms/`` (copied)
and ``models/<model>/<split>.safetensors`` (int8), and is written atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from biozoo.config import DataConfig, RunConfig
from biozoo.data.load import load_cohort
from biozoo.errors import BiozooError
from biozoo.model import build_model
from biozoo.train.ensemble import LoopEnsemble
from biozoo.train.plan import predict_members
from biozoo.train.predict import (
    SavedSplit,
    _frame,
    data_for_prediction,
    load_run_config,
    load_split,
)
from biozoo.train.saving import load_transforms

__all__ = ["export_int8", "is_int8_export", "load_int8", "predict_int8"]

FORMAT = "biozoo-int8-dynamic-v1"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.ao.quantization and quantized tensors warn that they are deprecated."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*torch.ao.quantization is deprecated.*")
        warnings.filterwarnings("ignore", ".*quantized tensor creation functions.*")
        warnings.filterwarnings("ignore", ".*quantize_per_(tensor|channel).*deprecated.*")
        yield


def _quantized_linear() -> type[nn.Module]:
    try:
        from torch.ao.nn.quantized.dynamic import Linear
    except ImportError:  # pragma: no cover - depends on the torch build
        raise BiozooError(
            f"this torch ({torch.__version__}) has no torch.ao dynamic quantization, "
            "which int8 export needs."
        ) from None
    return Linear


def _quantize(model: nn.Module) -> nn.Module:
    """A dynamic int8 copy of ``model``: every nn.Linear with per-channel int8 weights."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with _quiet():
        return quantize_dynamic(
            model.eval(), {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )


def _int8_tensors(q: nn.Module) -> dict[str, Tensor]:
    """The quantized model as plain tensors (int8 weights, scales, zero points, floats)."""
    qlinear = _quantized_linear()
    out: dict[str, Tensor] = {}
    for name, mod in q.named_modules():
        if isinstance(mod, qlinear):
            w, b = mod.weight(), mod.bias()
            out[f"{name}.weight_int8"] = w.int_repr().contiguous()
            out[f"{name}.weight_scales"] = w.q_per_channel_scales().contiguous()
            out[f"{name}.weight_zero_points"] = w.q_per_channel_zero_points().contiguous()
            if b is not None:
                out[f"{name}.bias"] = b.detach().contiguous()
    for name, t in [*q.named_parameters(), *q.named_buffers()]:
        out[name] = t.detach().contiguous()
    return out


def _load_int8_tensors(q: nn.Module, tensors: dict[str, Tensor], where: str) -> None:
    """Overwrite quantized model ``q``'s weights with ``tensors`` (as made by _int8_tensors)."""
    qlinear = _quantized_linear()
    expected = set(_int8_tensors(q))
    if expected != set(tensors):
        odd = sorted(expected ^ set(tensors))[0]
        raise BiozooError(f"{where} does not match the run's model (tensor {odd!r}).")
    with torch.no_grad(), _quiet():
        for name, mod in q.named_modules():
            if isinstance(mod, qlinear):
                q_int = tensors[f"{name}.weight_int8"]
                scales = tensors[f"{name}.weight_scales"]
                zeros = tensors[f"{name}.weight_zero_points"]
                dequant = (q_int.double() - zeros[:, None]) * scales[:, None]
                w = torch.quantize_per_channel(
                    dequant.float(), scales, zeros, axis=0, dtype=torch.qint8
                )
                mod.set_weight_bias(w, tensors.get(f"{name}.bias"))
        for name, t in [*q.named_parameters(), *q.named_buffers()]:
            t.copy_(tensors[name])


def _build(cfg: RunConfig, model: str, meta: dict) -> tuple[nn.Module, nn.Module]:
    """An untrained member of ``model`` (eval mode) and its head, sized from ``meta``."""
    classes = meta["classes"]
    head = cfg.data.target.build_task().head(len(classes) if classes else None)
    return build_model(cfg.models[model], meta["in_dims"], head.n_outputs).eval(), head


def _splits(run: Path) -> list[str]:
    splits = sorted(p.stem for p in (run / "models" / "transforms").glob("*.safetensors"))
    if not splits:
        raise BiozooError(f"run {run} saved no models (output.save_models was off).")
    return splits


def is_int8_export(folder: Path) -> bool:
    """Whether ``folder`` is an int8 export made by :func:`export_int8`."""
    return (Path(folder) / "int8.json").is_file()


def export_int8(run_dir: Path, *, out: Path | None = None) -> Path:
    """Write a dynamic int8 copy of every saved ensemble member of a finished run.

    Args:
        run_dir: the run folder (it must have been run with ``output.save_models``).
        out: the export folder to create (default ``run_dir / "int8"``); must not exist.

    Returns:
        The export folder, usable with :func:`predict_int8`.

    Raises:
        BiozooError: not a run folder, no saved models, or ``out`` already exists.
    """
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    splits = _splits(run_dir)
    out = Path(out) if out is not None else run_dir / "int8"
    if out.exists():
        raise BiozooError(f"{out} already exists; remove it or choose another output folder.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", suffix=".partial", dir=out.parent))
    try:
        shutil.copy2(run_dir / "config.yaml", tmp / "config.yaml")
        shutil.copytree(run_dir / "models" / "transforms", tmp / "models" / "transforms")
        sizes = {"float32_bytes": 0, "int8_bytes": 0}
        for model in cfg.models:
            for split in splits:
                src = run_dir / "models" / model / f"{split}.safetensors"
                dst = tmp / "models" / model / f"{split}.safetensors"
                dst.parent.mkdir(parents=True, exist_ok=True)
                _export_one(cfg, run_dir, model, split, dst)
                sizes["float32_bytes"] += src.stat().st_size
                sizes["int8_bytes"] += dst.stat().st_size
        info = {
            "format": FORMAT,
            "source": str(run_dir.resolve()),
            "torch": torch.__version__,
            "models": list(cfg.models),
            "splits": splits,
            **sizes,
        }
        (tmp / "int8.json").write_text(json.dumps(info, indent=2) + "\n")
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _export_one(cfg: RunConfig, run_dir: Path, model: str, split: str, dst: Path) -> None:
    saved = load_split(run_dir, model, split, cfg=cfg)
    tensors: dict[str, Tensor] = {}
    for i in range(saved.ensemble.n_members):
        member, _ = _build(cfg, model, saved.meta)
        member.load_state_dict(saved.ensemble.member_state_dict(i))
        q = _quantize(member)
        tensors.update({f"member{i}.{k}": v for k, v in _int8_tensors(q).items()})
    meta = {**saved.meta, "int8": FORMAT}
    save_file(tensors, str(dst), metadata={"biozoo": json.dumps(meta, default=_plain)})


def _plain(obj: object) -> object:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(type(obj).__name__)


def load_int8(export: Path, model: str, split: str) -> SavedSplit:
    """One split's int8 ensemble of ``model``, rebuilt from an int8 export.

    The members are quantized copies called one after the other (a
    :class:`~biozoo.train.ensemble.LoopEnsemble`; quantized layers cannot run under vmap), so
    :func:`biozoo.train.plan.predict_members` scores them like a float ensemble.
    """
    export = Path(export)
    if not is_int8_export(export):
        raise BiozooError(f"{export} is not an int8 export (no int8.json in it).")
    cfg = load_run_config(export)
    path = export / "models" / model / f"{split}.safetensors"
    if not path.is_file():
        raise BiozooError(f"{export} has no saved ensemble for model {model!r}, split {split!r}.")
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["biozoo"])
    tensors = load_file(str(path))
    members, head = [], None
    for i in range(int(meta["n_members"])):
        member, head = _build(cfg, model, meta)
        prefix = f"member{i}."
        q = _quantize(member)
        _load_int8_tensors(
            q, {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}, str(path)
        )
        members.append(q)
    queue = iter(members)
    ensemble = LoopEnsemble(lambda: next(queue), [0] * len(members)).eval()
    path = export / "models" / "transforms" / f"{split}.safetensors"
    transforms = load_transforms(path, cfg.data.target.build_task())
    return SavedSplit(ensemble, head, transforms, meta)


def predict_int8(
    export: Path,
    data: DataConfig | dict[str, Path],
    *,
    model: str | None = None,
    split: str | None = None,
) -> pd.DataFrame:
    """Predictions of an int8 export for the samples in ``data``, as :func:`biozoo.predict`.

    Args:
        export: an int8 export folder (see :func:`export_int8`).
        data: modality name -> table path, or a full data section.
        model: one of the run's models (default: every one).
        split: one split's ensemble (default: the average over every split's ensemble).

    Returns:
        The same columns as :func:`biozoo.train.predict.predict`.
    """
    export = Path(export)
    if not is_int8_export(export):
        raise BiozooError(f"{export} is not an int8 export (no int8.json in it).")
    cfg = load_run_config(export)
    if not isinstance(data, DataConfig):
        data = data_for_prediction(cfg, {k: Path(v) for k, v in data.items()})
    models = [model] if model else list(cfg.models)
    for m in models:
        if m not in cfg.models:
            raise BiozooError(f"{export} has no model {m!r} (it has {', '.join(cfg.models)}).")
    splits = _splits(export)
    if split is not None and split not in splits:
        raise BiozooError(f"{export} has no split {split!r} (it has {', '.join(splits)}).")
    cohort = load_cohort(data, with_target=False)
    frames = []
    for m in models:
        preds, meta = [], {}
        for s in [split] if split else splits:
            saved = load_int8(export, m, s)
            meta = saved.meta
            fold = saved.transforms.fold_data(cohort)
            p = predict_members(saved.ensemble, saved.head, fold).numpy().mean(axis=0)
            preds.append(saved.transforms.target.inverse_transform(p))
        frames.append(_frame(cohort, m, split or "all", np.mean(preds, axis=0), meta))
    return pd.concat(frames, ignore_index=True)
