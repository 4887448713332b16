"""A run's finished units, recorded in its unfinished folder and read back.

Each :class:`~biozoo.train.experiment.Unit` (the baselines, or one deep model, on one split)
is recorded as soon as it finishes, as one folder ``units/<key>/`` written atomically: a
unit that is there is whole. ``biozoo train --resume`` reads the recorded units back and
trains only the others; a Dask worker sends its unit back in the same form.

What a unit holds, in formats that read back exactly and run no code when read:
``unit.json`` (metrics, training summaries, timings: JSON floats round-trip exactly),
``frames/<i>.parquet`` (predictions, latents, cross-attention maps, training curves) and
``weights/<i>.safetensors`` (the trained ensemble, as a finished run saves it) and
``baselines/<i>.skops`` (a fitted baseline kept for ``output.save_models``, as a finished run
saves it: read back with trusted types only).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from safetensors.torch import save as save_tensors

from biozoo._atomic import atomic_dir, json_default
from biozoo.config import RunConfig
from biozoo.model import build_model
from biozoo.train.experiment import ExperimentResult, FoldModel, Unit
from biozoo.train.runfolder import UNIT_FILE
from biozoo.train.saved_baselines import baseline_bytes, load_baseline
from biozoo.train.saved_run import load_float, reading

__all__ = ["RunJournal", "decode_unit", "encode_unit"]

UNIT = UNIT_FILE


def encode_unit(result: ExperimentResult) -> dict[str, bytes]:
    """One unit's results as files (relative path -> bytes), see :func:`decode_unit`."""
    files: dict[str, bytes] = {}

    def frame(f: pd.DataFrame) -> str:
        name = f"frames/{sum(k.startswith('frames/') for k in files)}.parquet"
        buf = io.BytesIO()
        f.to_parquet(buf)
        files[name] = buf.getvalue()
        return name

    models = []
    for i, fm in enumerate(result.models):
        weights = f"weights/{i}.safetensors"
        state = {k: v.detach().cpu().contiguous() for k, v in fm.ensemble.stacked_state().items()}
        files[weights] = save_tensors(state)
        models.append(
            {
                "model": fm.model,
                "split": fm.split,
                "meta": fm.meta,
                "n_members": fm.ensemble.n_members,
                "weights": weights,
                "history": None if fm.history is None else frame(fm.history),
            }
        )
    baselines = []
    for i, ((name, split), model) in enumerate(result.baselines.items()):
        files[f"baselines/{i}.skops"] = baseline_bytes(model)
        baselines.append([name, split, f"baselines/{i}.skops"])
    doc = {
        "metrics": result.metrics,
        "member_metrics": result.member_metrics,
        "training": result.training,
        "seconds": result.seconds,
        "predictions": [frame(f) for f in result.predictions],
        "latents": [[m, n, [frame(f) for f in fs]] for (m, n), fs in result.latents.items()],
        "cross_attention": {m: [frame(f) for f in fs] for m, fs in result.cross_attention.items()},
        "models": models,
        "baselines": baselines,
    }
    files[UNIT] = json.dumps(doc, default=json_default).encode()
    return files


def decode_unit(folder: Path, cfg: RunConfig, n_outputs: int) -> ExperimentResult:
    """A unit recorded in ``folder`` (:func:`encode_unit`'s files), its ensembles rebuilt
    from ``cfg``'s model specs with a head of ``n_outputs``."""
    with reading(folder / UNIT):
        doc = json.loads((folder / UNIT).read_text())
    result = ExperimentResult([])

    def frame(name: str) -> pd.DataFrame:
        with reading(folder / name):
            return pd.read_parquet(folder / name)

    result.metrics = doc["metrics"]
    result.member_metrics = doc["member_metrics"]
    result.training = doc["training"]
    result.seconds = doc["seconds"]
    result.predictions = [frame(n) for n in doc["predictions"]]
    result.latents = {(m, n): [frame(f) for f in fs] for m, n, fs in doc["latents"]}
    result.cross_attention = {m: [frame(f) for f in fs] for m, fs in doc["cross_attention"].items()}
    for name, split, path in doc.get("baselines", []):
        result.baselines[(name, split)] = load_baseline(folder / path)
    for saved in doc["models"]:
        spec, meta = cfg.models[saved["model"]], saved["meta"]

        def build(spec=spec, meta=meta):  # noqa: ANN202 - one untrained member
            return build_model(spec, meta["in_dims"], n_outputs)

        path = folder / saved["weights"]
        with reading(path):
            ensemble = load_float(path, {"n_members": saved["n_members"]}, build)
        history = None if saved["history"] is None else frame(saved["history"])
        result.models.append(FoldModel(saved["model"], saved["split"], ensemble, meta, history))
    return result


class RunJournal:
    """The finished units of one unfinished run folder (``<run>/units``).

    Args:
        folder: the run's ``units`` folder.
        cfg: the run's config (to rebuild the recorded ensembles).
        n_outputs: the size of the task head's output.
    """

    def __init__(self, folder: Path, cfg: RunConfig, n_outputs: int) -> None:
        self.folder = Path(folder)
        self.cfg = cfg
        self.n_outputs = n_outputs

    def done(self, unit: Unit) -> bool:
        """Whether ``unit`` is recorded."""
        return (self.folder / unit.key / UNIT).is_file()

    def load(self, unit: Unit) -> ExperimentResult | None:
        """``unit``'s recorded results, or None when it has not finished."""
        if not self.done(unit):
            return None
        return decode_unit(self.folder / unit.key, self.cfg, self.n_outputs)

    def record(self, unit: Unit, result: ExperimentResult) -> None:
        """Record ``unit``'s results."""
        self.write(unit, encode_unit(result))

    def write(self, unit: Unit, files: dict[str, bytes]) -> None:
        """Record ``unit`` from its encoded files (:func:`encode_unit`), atomically."""
        with atomic_dir(self.folder / unit.key) as tmp:
            for name, data in files.items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / name).write_bytes(data)

    def recorded(self) -> Iterator[str]:
        """The keys of the recorded units."""
        if self.folder.is_dir():
            done = (p for p in self.folder.iterdir() if not p.name.startswith("."))
            yield from sorted(p.name for p in done if (p / UNIT).is_file())
