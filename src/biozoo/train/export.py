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

The export folder (default ``RUN/int8``) has the run folder's layout: ``config.yaml``,
``models/transforms/`` (copied) and ``models/<model>/<split>.safetensors`` (int8), plus
``int8.json``; it is written atomically. :func:`open_int8` reads it as a
:class:`~biozoo.train.saved_run.SavedRun` whose loader is :func:`load_int8`, so
:func:`biozoo.train.predict.predict` scores it like the float run.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from biozoo._atomic import atomic_dir, json_default
from biozoo.errors import BiozooError
from biozoo.train.ensemble import LoopEnsemble
from biozoo.train.runfolder import RunLayout
from biozoo.train.saved_run import SavedRun, SavedSplit

__all__ = ["export_int8", "is_int8_export", "load_int8", "open_int8"]

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


def is_int8_export(folder: Path) -> bool:
    """Whether ``folder`` is an int8 export made by :func:`export_int8`."""
    return RunLayout(Path(folder)).int8_info.is_file()


def export_int8(run_dir: Path, *, out: Path | None = None) -> Path:
    """Write a dynamic int8 copy of every saved ensemble member of a finished run.

    Args:
        run_dir: the run folder (it must have been run with ``output.save_models``).
        out: the export folder to create (default ``run_dir / "int8"``); must not exist.

    Returns:
        The export folder, readable with :func:`open_int8`.

    Raises:
        BiozooError: not a run folder, no saved models, or ``out`` already exists.
    """
    run = SavedRun(run_dir, device="cpu")  # quantized on the CPU, where int8 layers run
    splits = run.splits()
    out = Path(out) if out is not None else run.path / "int8"
    if out.exists():
        raise BiozooError(f"{out} already exists; remove it or choose another output folder.")
    with atomic_dir(out) as tmp:
        dest = RunLayout(tmp)
        shutil.copy2(run.layout.config, dest.config)
        shutil.copytree(run.layout.transforms_dir, dest.transforms_dir)
        sizes = {"float32_bytes": 0, "int8_bytes": 0}
        for model in run.cfg.models:
            for split in splits:
                dst = dest.ensemble(model, split)
                dst.parent.mkdir(parents=True, exist_ok=True)
                _export_one(run.split(split, model), dst)
                sizes["float32_bytes"] += run.layout.ensemble(model, split).stat().st_size
                sizes["int8_bytes"] += dst.stat().st_size
        info = {
            "format": FORMAT,
            "source": str(run.path.resolve()),
            "torch": torch.__version__,
            "models": list(run.cfg.models),
            "splits": splits,
            **sizes,
        }
        dest.int8_info.write_text(json.dumps(info, indent=2) + "\n")
    return out


def _export_one(saved: SavedSplit, dst: Path) -> None:
    tensors: dict[str, Tensor] = {}
    for i in range(saved.ensemble.n_members):
        q = _quantize(saved.member(i))
        tensors.update({f"member{i}.{k}": v for k, v in _int8_tensors(q).items()})
    meta = {**saved.meta, "int8": FORMAT}
    save_file(tensors, str(dst), metadata={"biozoo": json.dumps(meta, default=json_default)})


def load_int8(path: Path, meta: dict, build: Callable[[], nn.Module]) -> LoopEnsemble:
    """The int8 ensemble in one file of an export: a :data:`~biozoo.train.saved_run.EnsembleLoader`.

    The members are quantized copies called one after the other (a
    :class:`~biozoo.train.ensemble.LoopEnsemble`; quantized layers cannot run under vmap), so
    :func:`biozoo.train.plan.predict_members` scores them like a float ensemble.
    """
    tensors = load_file(str(path))
    members = []
    for i in range(int(meta["n_members"])):
        prefix = f"member{i}."
        q = _quantize(build())
        _load_int8_tensors(
            q, {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}, str(path)
        )
        members.append(q)
    queue = iter(members)
    return LoopEnsemble(lambda: next(queue), [0] * len(members)).eval()


def open_int8(export: Path) -> SavedRun:
    """An int8 export, read like a run folder (its splits score with int8 members).

    Raises:
        BiozooError: ``export`` is not an int8 export.
    """
    export = Path(export)
    if not is_int8_export(export):
        raise BiozooError(f"{export} is not an int8 export (no int8.json in it).")
    return SavedRun(export, loader=load_int8, device="cpu")  # quantized layers run on the CPU
