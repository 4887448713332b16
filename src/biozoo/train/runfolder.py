"""The run folder: where each file lives (:class:`RunLayout`) and its atomic writer.

The folder is written under a hidden temporary name and renamed when complete. An
interrupted or failed run leaves no folder under its final name, so a folder that exists is
a finished run. While it runs, each finished unit of work is recorded atomically in the
temporary folder's ``units/`` (:mod:`biozoo.train.units`); a run interrupted (Ctrl-C,
SIGTERM) or killed after some units keeps its temporary folder, which ``biozoo train --resume``
finishes. One without any finished unit (or failed by an error) is removed.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

import pandas as pd

from biozoo._atomic import atomic_dir, json_default, stale_partials
from biozoo.data.spec import SAFE_NAME
from biozoo.errors import BiozooError

__all__ = ["RunFolder", "RunLayout", "clean_stale", "is_resumable", "kept_run"]

log = logging.getLogger(__name__)

SAVED = ".safetensors"
UNIT_FILE = "unit.json"  # in each finished unit's folder, written last (biozoo.train.units)


@dataclass(frozen=True)
class RunLayout:
    """Every path of a run folder (or of an export of one), stated once.

    Attributes:
        root: the run folder.
    """

    root: Path

    @property
    def config(self) -> Path:
        """The resolved config (YAML)."""
        return self.root / "config.yaml"

    @property
    def versions(self) -> Path:
        """Python, platform and package versions."""
        return self.root / "versions.json"

    @property
    def metrics(self) -> Path:
        """Per-split and summary metrics."""
        return self.root / "metrics.json"

    @property
    def leaderboard(self) -> Path:
        """The leaderboard (best first)."""
        return self.root / "leaderboard.csv"

    @property
    def predictions(self) -> Path:
        """Out-of-fold predictions."""
        return self.root / "predictions.csv"

    @property
    def splits_csv(self) -> Path:
        """Which samples were train / test in each split."""
        return self.root / "splits.csv"

    @property
    def report(self) -> Path:
        """The self-contained report page."""
        return self.root / "report.html"

    @property
    def units(self) -> Path:
        """The finished units of a run still being written (gone once it is complete)."""
        return self.root / "units"

    @property
    def models(self) -> Path:
        """Saved weights and transforms."""
        return self.root / "models"

    @property
    def transforms_dir(self) -> Path:
        """Each split's fitted transforms."""
        return self.root / "models" / "transforms"

    @property
    def history_dir(self) -> Path:
        """Per-epoch training curves of every deep model."""
        return self.root / "history"

    @property
    def latents(self) -> Path:
        """Per-model embeddings."""
        return self.root / "latents"

    @property
    def attributions(self) -> Path:
        """Feature attributions (biozoo explain)."""
        return self.root / "attributions"

    @property
    def attention(self) -> Path:
        """Received attention per token."""
        return self.root / "attention"

    @property
    def attention_maps(self) -> Path:
        """Full attention maps of a few samples."""
        return self.root / "attention_maps"

    @property
    def cross_attention_dir(self) -> Path:
        """Cross-attention maps of encoder-decoders."""
        return self.root / "cross_attention"

    def cross_attention(self, model: str) -> Path:
        """Cross-attention maps of ``model`` (a few test samples per split)."""
        return self.cross_attention_dir / f"{_safe(model, 'model')}.csv"

    @property
    def explanations(self) -> Path:
        """Graph explanations."""
        return self.root / "explanations"

    @property
    def image_maps(self) -> Path:
        """Attention rollout and Grad-CAM maps of image encoders."""
        return self.root / "image_maps"

    @property
    def int8_info(self) -> Path:
        """What an int8 export holds (only in an export)."""
        return self.root / "int8.json"

    def transforms(self, split: str) -> Path:
        """The fitted transforms of ``split``."""
        return self.transforms_dir / f"{_safe(split, 'split')}{SAVED}"

    def ensemble(self, model: str, split: str) -> Path:
        """The ensemble weights of ``model`` trained on ``split``."""
        return self.models / _safe(model, "model") / f"{_safe(split, 'split')}{SAVED}"

    def baseline(self, name: str, split: str) -> Path:
        """The fitted baseline ``name`` (as in the config's ``baselines``) of ``split``."""
        folder = self.models / "baselines" / _safe(name, "baseline")
        return folder / f"{_safe(split, 'split')}.skops"

    def history(self, model: str, split: str) -> Path:
        """Every member's loss per epoch, of ``model`` trained on ``split``."""
        return self.history_dir / model / f"{split}.csv"

    def latent(self, model: str, name: str) -> Path:
        """One latent table of ``model`` (a modality's embedding or ``fused``)."""
        return self.latents / _safe(model, "model") / f"{_safe(name, 'modality')}.csv"

    def split_names(self) -> list[str]:
        """The splits whose transforms were saved (sorted)."""
        return sorted(p.stem for p in self.transforms_dir.glob(f"*{SAVED}"))

    def model_splits(self, model: str) -> list[str]:
        """The splits ``model`` saved an ensemble for (sorted)."""
        return sorted(p.stem for p in (self.models / model).glob(f"*{SAVED}"))

    def relative(self, path: Path) -> str:
        """``path`` relative to the run folder, as written with :class:`RunFolder`."""
        return str(Path(path).relative_to(self.root))


def _safe(name: str, what: str) -> str:
    """``name`` if it is a :data:`~biozoo.data.spec.SAFE_NAME`: no path leaves the run folder."""
    if not re.match(SAFE_NAME, str(name)):
        raise BiozooError(
            f"{what} name {name!r} is not allowed: use letters, digits, '_', '+' and '-'."
        )
    return name


def is_resumable(folder: Path) -> bool:
    """Whether ``folder`` is an unfinished run with at least one finished unit recorded."""
    layout = RunLayout(Path(folder))
    return (
        layout.config.is_file()
        and layout.units.is_dir()
        and any(
            (p / UNIT_FILE).is_file() for p in layout.units.iterdir() if not p.name.startswith(".")
        )
    )


def clean_stale(out_dir: Path, *, skip: Path | None = None) -> list[Path]:
    """Remove (and report) hidden partial folders left in ``out_dir`` by killed runs.

    A partial folder that can be resumed (:func:`is_resumable`) is kept and named in a
    warning instead; ``skip`` (a partial about to be resumed) is left alone silently.

    Returns:
        The folders removed.
    """
    removed = []
    for p in stale_partials(out_dir):
        if skip is not None and p.resolve() == Path(skip).resolve():
            continue
        if is_resumable(p):
            log.warning(
                "keeping %s, left unfinished by a run that was killed: "
                "finish it with biozoo train --resume %s",
                p,
                p,
            )
            continue
        log.warning("removing %s, left half-written by a run that was killed", p)
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


_KEPT = "biozoo_resumable_run"


def kept_run(err: BaseException) -> Path | None:
    """The unfinished run folder an interrupted run kept for resuming, if it kept one."""
    return getattr(err, _KEPT, None)


def _keep_interrupted(tmp: Path, err: BaseException) -> bool:
    """Keep an interrupted run (not one failed by an error) that has finished units."""
    if isinstance(err, Exception) or not is_resumable(tmp):
        return False
    setattr(err, _KEPT, tmp)
    return True


class RunFolder:
    """Collects a run's files in ``<out>/.<name>-*.partial`` and renames it on success.

    Use as a context manager: on an exception the partial folder is deleted, unless the run
    was interrupted (KeyboardInterrupt, a signal) after some units finished: then it stays,
    for ``--resume``, and :func:`kept_run` of the exception names it. The folder is renamed to
    ``<out>/<name>-<timestamp>`` when :meth:`commit` is called.

    Args:
        out_dir: the folder for run folders.
        name: the run's name.
        resume: an unfinished run's partial folder in ``out_dir`` to take over and finish.
    """

    def __init__(self, out_dir: Path, name: str, *, resume: Path | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.name = name
        self.resume = resume
        self.tmp: Path | None = None
        self.final: Path | None = None
        self._stack = ExitStack()

    def __enter__(self) -> RunFolder:
        clean_stale(self.out_dir, skip=self.resume)
        self.tmp = self._stack.enter_context(
            atomic_dir(self._final_name, adopt=self.resume, keep=_keep_interrupted)
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.tmp is not None:  # not committed: an exception, or commit() was never called
            self._stack.__exit__(exc_type or RuntimeError, exc or RuntimeError(), tb)

    @property
    def layout(self) -> RunLayout:
        """The paths of the (temporary) run folder."""
        assert self.tmp is not None, "use RunFolder as a context manager"
        return RunLayout(self.tmp)

    def path(self, relative: str | Path) -> Path:
        """A path inside the (temporary) run folder; parent folders are created.

        ``relative`` may also be a path of :attr:`layout`.
        """
        assert self.tmp is not None, "use RunFolder as a context manager"
        p = self.tmp / relative
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_json(self, relative: str | Path, obj: object) -> None:
        self.path(relative).write_text(json.dumps(obj, indent=2, default=json_default) + "\n")

    def write_csv(self, relative: str | Path, frame: pd.DataFrame) -> None:
        frame.to_csv(self.path(relative), index=False)

    def write_text(self, relative: str | Path, text: str) -> None:
        self.path(relative).write_text(text)

    def commit(self) -> Path:
        """Rename the finished folder to ``<out>/<name>-<timestamp>`` and return that path."""
        assert self.tmp is not None
        shutil.rmtree(self.layout.units, ignore_errors=True)
        self._stack.close()
        self.tmp = None
        assert self.final is not None
        return self.final

    def _final_name(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        final = self.out_dir / f"{self.name}-{stamp}"
        k = 1
        while final.exists():
            k += 1
            final = self.out_dir / f"{self.name}-{stamp}-{k}"
        self.final = final
        return final
