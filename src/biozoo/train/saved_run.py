"""A finished run folder, read back: its config, its splits and each split's saved ensemble.

Everything that reads a run (predict, explain, export) goes through :class:`SavedRun`. The
ensemble weights are read by a pluggable loader, so the same reader serves the float run
folder (:func:`load_float`) and its int8 export (:func:`biozoo.train.export.load_int8`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from biozoo._yaml import read_yaml
from biozoo.config import ModelConfig, RunConfig, parse_config
from biozoo.data.batch import FoldData
from biozoo.data.cohort import Cohort
from biozoo.errors import BiozooError
from biozoo.model import MultiModalModel, build_model
from biozoo.tasks import BaselineModel
from biozoo.train.device import Accelerated, module_device, serving_device
from biozoo.train.ensemble import Ensemble, make_ensemble
from biozoo.train.fold import FittedTransforms
from biozoo.train.runfolder import RunLayout
from biozoo.train.saved_baselines import load_baseline
from biozoo.train.saving import load_transforms, read_meta

__all__ = [
    "EnsembleLoader",
    "SavedRun",
    "SavedSplit",
    "TestSplit",
    "load_float",
    "load_run_config",
]

EnsembleLoader = Callable[[Path, dict, Callable[[], nn.Module]], Ensemble]
"""``(weights file, its metadata, a builder of one untrained member) -> ensemble (eval)``."""


def load_float(path: Path, meta: dict, build: Callable[[], nn.Module]) -> Ensemble:
    """The float ensemble saved by a run (members stacked along the first dimension)."""
    from safetensors.torch import load_file

    ensemble = make_ensemble(build, [0] * int(meta["n_members"]))
    state = load_file(str(path), device="cpu")  # saved from any device, read on the CPU
    check_tensors(path, state, ensemble.stacked_state())
    ensemble.load_stacked_state(state)
    return ensemble.eval()


def check_tensors(path: Path, saved: dict, expected: dict) -> None:
    """The tensors of ``path`` are exactly those the run's config builds, shape for shape.

    Raises:
        BiozooError: a tensor is missing, extra, or of another shape (the file, or the
            run's config.yaml, was changed after the run).
    """
    missing = sorted(set(expected) - set(saved))
    extra = sorted(set(saved) - set(expected))
    wrong = [
        n for n in expected if n in saved and tuple(saved[n].shape) != tuple(expected[n].shape)
    ]
    if missing or extra or wrong:
        what = (
            f"lacks {missing[0]!r}"
            if missing
            else f"has an unexpected {extra[0]!r}"
            if extra
            else f"holds {wrong[0]!r} of shape {tuple(saved[wrong[0]].shape)}, not "
            f"{tuple(expected[wrong[0]].shape)}"
        )
        raise BiozooError(
            f"{path} {what}: it does not match the run's config.yaml (edited after the run?)."
        )


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn a damaged file's exception into one sentence naming the file."""
    try:
        yield
    except BiozooError:
        raise
    except Exception as err:  # safetensors, json and torch each have their own errors
        why = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise BiozooError(
            f"{path} is damaged ({why}); it cannot be read, so train the run again."
        ) from None


def load_run_config(run: Path) -> RunConfig:
    """The resolved config a run folder was trained with."""
    path = RunLayout(Path(run)).config
    if not path.is_file():
        raise BiozooError(f"{run} is not a biozoo run folder (no config.yaml in it).")
    return parse_config(read_yaml(path, "run config"), source=str(path))


@dataclass
class SavedSplit:
    """One split's trained ensemble of one model, rebuilt from a run folder.

    Attributes:
        ensemble: the members, in evaluation mode.
        head: the task head (probabilities / predictions and loss).
        transforms: the split's fitted transforms (apply to new samples with
            ``transforms.fold_data(cohort)``).
        meta: what was saved with the weights (task, classes, in_dims, seeds...).
        spec: the model's config.
    """

    ensemble: Ensemble
    head: nn.Module
    transforms: FittedTransforms
    meta: dict[str, object]
    spec: ModelConfig

    def member(self, index: int) -> MultiModalModel:
        """Member ``index`` of a float ensemble as a plain model in evaluation mode."""
        model = build_model(self.spec, self.meta["in_dims"], self.head.n_outputs)
        state = self.ensemble.member_state_dict(index)
        model.load_state_dict({k: state[k] for k in model.state_dict()})
        return model.to(module_device(self.ensemble)).eval()

    def members(self) -> list[MultiModalModel]:
        """Every member as a plain model (see :meth:`member`)."""
        return [self.member(i) for i in range(self.ensemble.n_members)]


@dataclass
class TestSplit:
    """A split's saved ensemble with the samples it was tested on.

    Attributes:
        index: the split's position among the model's splits.
        name: the split's name.
        saved: the ensemble, head and fitted transforms.
        test: positions of the split's test samples in the cohort.
        train: positions of its training samples (None if not recorded).
        cohort: the run's data.
    """

    index: int
    name: str
    saved: SavedSplit
    test: np.ndarray
    train: np.ndarray | None
    cohort: Cohort

    @cached_property
    def data(self) -> FoldData:
        """The test samples through the split's own fitted transforms."""
        return self.saved.transforms.fold_data(self.cohort.subset(self.test))


class SavedRun:
    """A finished run folder (or an export of one), read through its :class:`RunLayout`.

    Args:
        path: the folder.
        loader: reads one ensemble's weights (default :func:`load_float`).
        device: where the ensembles are put to score and explain: a device, or ``auto``,
            ``cpu`` or ``cuda`` (default: the run's ``training.accelerator`` on this machine,
            the CPU where it has no CUDA; see :func:`~biozoo.train.device.serving_device`).

    Raises:
        BiozooError: ``path`` has no ``config.yaml`` or it does not validate, or ``device``
            is not a device or is ``cuda`` on a machine without CUDA.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        loader: EnsembleLoader = load_float,
        device: torch.device | str | None = None,
    ) -> None:
        self.path = Path(path)
        self.layout = RunLayout(self.path)
        self.loader = loader
        self.cfg = load_run_config(self.path)
        self.device = (
            torch.device(device)
            if isinstance(device, torch.device)
            else serving_device(self.cfg.training.accelerator, override=device)
        )

    def splits(self) -> list[str]:
        """The splits the run saved (sorted); an error if it saved no models."""
        splits = self.layout.split_names()
        if not splits:
            raise BiozooError(f"run {self.path} saved no models (output.save_models was off).")
        return splits

    def saved_models(self) -> list[str]:
        """The deep models whose weights the run saved, in config order."""
        return [m for m in self.cfg.models if (self.layout.models / m).is_dir()]

    def check_model(self, model: str) -> None:
        """An error naming the run's models if ``model`` is not one of them."""
        if model not in self.cfg.models:
            raise BiozooError(
                f"run {self.path} has no model {model!r} (it has {', '.join(self.cfg.models)})."
            )

    def baseline_label(self, name: str) -> str:
        """The leaderboard label of the run's baseline ``name`` (``logistic (CV)``)."""
        from biozoo.train.baselines import BASELINES

        return BASELINES.get(name).label_for(self.cfg.data.target.build_task())

    def baseline_name(self, method: str) -> str | None:
        """The baseline ``method`` names, by config name or leaderboard label; None when
        ``method`` is one of the deep models.

        Raises:
            BiozooError: ``method`` is neither (the message lists the run's methods).
        """
        if method in self.cfg.models:
            return None
        for name in self.cfg.baselines:
            if method in (name, self.baseline_label(name)):
                return name
        known = [*self.cfg.models, *(self.baseline_label(b) for b in self.cfg.baselines)]
        raise BiozooError(f"run {self.path} has no method {method!r} (it has {', '.join(known)}).")

    def baseline(self, name: str, split: str) -> tuple[BaselineModel, FittedTransforms]:
        """Baseline ``name``'s fitted model of ``split``, with the split's fitted transforms
        (the baseline reads :meth:`FittedTransforms.flat` of them); one that runs torch (the
        patient GCN) runs on :attr:`device`."""
        path = self.layout.baseline(name, split)
        if not path.is_file():
            raise BiozooError(
                f"run {self.path} has no saved baseline {name!r} for split {split!r} "
                "(was output.save_models off?)."
            )
        model = load_baseline(path)
        if isinstance(model, Accelerated):  # it runs torch: on this run's serving device
            model.accelerator = self.device.type
        task = self.cfg.data.target.build_task()
        with reading(self.layout.transforms(split)):
            transforms = load_transforms(self.layout.transforms(split), task)
        return model, transforms

    def classes(self) -> list[str] | None:
        """The class labels of the run's target (None for other tasks), from metrics.json."""
        with reading(self.layout.metrics):
            return json.loads(self.layout.metrics.read_text()).get("classes")

    def split(self, name: str, model: str) -> SavedSplit:
        """Rebuild ``model``'s ensemble of split ``name``."""
        path = self.layout.ensemble(model, name)
        if not path.is_file():
            raise BiozooError(f"run {self.path} has no saved model {model!r} for split {name!r}.")
        task = self.cfg.data.target.build_task()
        with reading(self.layout.transforms(name)):
            transforms = load_transforms(self.layout.transforms(name), task)
        with reading(path):
            meta = read_meta(path)
            classes = meta["classes"]
        head = task.head(len(classes) if classes else None)
        spec = self.cfg.models[model]

        def build() -> nn.Module:
            return build_model(spec, meta["in_dims"], head.n_outputs).eval()

        with reading(path):
            ensemble = self.loader(path, meta, build)
        return SavedSplit(ensemble.to(self.device), head, transforms, meta, spec)

    def split_rows(self, cohort: Cohort) -> dict[str, dict[str, np.ndarray]]:
        """split -> {"train": positions, "test": positions} in ``cohort``, from splits.csv."""
        where = self.layout.splits_csv
        frame = pd.read_csv(where, dtype={"sample_id": str})
        pos = {str(s): i for i, s in enumerate(cohort.ids)}
        lost = [s for s in frame["sample_id"] if s not in pos]
        if lost:
            raise BiozooError(
                f"sample {lost[0]!r} of {where} is not in the run's data any more "
                f"({len(lost)} missing); attributions need the data the run was trained on."
            )
        rows: dict[str, dict[str, np.ndarray]] = {}
        for (split, part), group in frame.groupby(["split", "part"], sort=False):
            ids = group["sample_id"].map(pos).to_numpy(dtype=np.int64)
            rows.setdefault(str(split), {})[str(part)] = ids
        return rows

    def test_splits(
        self,
        model: str,
        cohort: Cohort,
        rows: dict[str, dict[str, np.ndarray]] | None = None,
    ) -> Iterator[TestSplit]:
        """Each split ``model`` saved, loaded, with its test samples (a model is only ever
        shown the samples it did not train on).

        Args:
            model: one of the run's saved models.
            cohort: the data the run was trained on.
            rows: :meth:`split_rows` of ``cohort``, if already read.
        """
        rows = rows if rows is not None else self.split_rows(cohort)
        for index, name in enumerate(self.layout.model_splits(model)):
            if name not in rows or "test" not in rows[name]:
                raise BiozooError(
                    f"{self.layout.splits_csv} has no test samples for split {name!r}."
                )
            saved = self.split(name, model)
            yield TestSplit(index, name, saved, rows[name]["test"], rows[name].get("train"), cohort)

    def load_cohort(self) -> Cohort:
        """The data the run was trained on, read again from its config."""
        from biozoo.data.align import load_cohort

        return load_cohort(self.cfg.data)
