"""Where a search writes its files inside the run folder (``search/``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SearchLayout"]


@dataclass(frozen=True)
class SearchLayout:
    """The paths of a search's files, under ``<run>/search``.

    Attributes:
        root: the run folder.
    """

    root: Path

    @property
    def dir(self) -> Path:
        """The search's folder."""
        return self.root / "search"

    @property
    def study(self) -> Path:
        """The SQLite storage of the studies (one per outer split), when no other was given."""
        return self.dir / "study.db"

    @property
    def trials(self) -> Path:
        """Every trial of every outer split: number, state, inner score, parameters."""
        return self.dir / "trials.csv"

    @property
    def importance(self) -> Path:
        """Each parameter's importance (fANOVA) per outer split."""
        return self.dir / "importance.csv"

    @property
    def summary(self) -> Path:
        """Per outer split: the best trial, its inner score, the trial counts, the seconds."""
        return self.dir / "summary.json"

    @property
    def space(self) -> Path:
        """The ``search`` section that ran (YAML)."""
        return self.dir / "search.yaml"

    def best(self, split: str) -> Path:
        """The best configuration of ``split`` as a plain run config (YAML)."""
        return self.dir / "best" / f"{split}.yaml"
