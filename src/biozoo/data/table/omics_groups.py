"""AttOmics groups: an omics profile cut into groups of features, one token per group.

AttOmics (Beaude et al. 2023, Bioinformatics 39:i293,
https://doi.org/10.1093/bioinformatics/btad232) splits the features of an omics table into
groups, projects each group to a token and runs self-attention between the groups.
:class:`OmicsGroupsTokenizer` builds the groups on the training part of a fold and lays each
sample out as ``[G, S]`` values (``groups`` input kind).

Grouping:

- ``gmt``: one group per gene set of a GMT file, keeping the sets with at least ``min_size``
  features of the table. A feature in several sets appears in each of them (overlap kept, so a
  set is always whole). Features in no kept set form ``other`` groups: cut, in table order,
  into the fewest near-equal chunks no larger than the largest set (so they do not widen
  ``S``). ``n_groups`` does not apply. Genes of the file absent from the table are counted in
  :attr:`OmicsGroupsTokenizer.report` (and logged).
- ``correlation``: k-means (``n_groups`` clusters, ``seed``) of the features' standardised
  training profiles scaled to unit norm, i.e. clustering by Pearson correlation (squared
  distance ``2 (1 - r)``). Profiles span at most 5,000 training samples (a seeded random
  subset beyond). Cost ``O(p n G)`` per iteration: a few thousand features are seconds.
  Clusters smaller than ``min_size`` are dissolved, and no group may hold more than twice the
  mean group size: each feature, the closest to its centroid first, joins the nearest centroid
  with room (so ``S <= 2 p / G`` and the layout is at most twice the table).
- ``random``: a seeded permutation of the features cut into ``n_groups`` near-equal groups.

Groups are ordered by their first feature (``gmt``: file order, then ``other``); features keep
table order inside a group.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from biozoo.data.table.gene_rank import ColumnScaler
from biozoo.data.table.gmt import read_gmt
from biozoo.errors import BiozooError
from biozoo.inputs import GroupsInput
from biozoo.tasks import Task

__all__ = ["OmicsGroupsTokenizer"]

log = logging.getLogger(__name__)

_PROFILE_ROWS = 5000  # training samples at most in the profiles clustered by correlation
_MAX_RATIO = 2.0  # a correlation group holds at most this times the mean group size


class OmicsGroupsTokenizer:
    """Features standardised with training statistics, laid out as padded groups.

    Args:
        groups: ``gmt``, ``correlation`` or ``random`` (see the module docstring).
        gmt: the GMT file (``groups: gmt`` only).
        n_groups: number of groups (``correlation`` and ``random``).
        min_size: smallest group (``gmt``: smaller sets are dropped; ``correlation``: smaller
            clusters merged; ``random``: needs ``n_groups * min_size`` features).
        seed: seed of k-means and of the random grouping.

    Shape:
        - transform: ``values`` float32 ``[n, G, S]``, ``mask`` bool ``[n, G, S]`` (True on the
          real feature slots of present samples; a missing value is 0 but stays True).
        - flat: float32 ``[n, p]``, the standardised table (NaN -> 0).
    """

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        groups: Literal["gmt", "correlation", "random"]
        gmt: Path | None = Field(None, validate_default=True)
        n_groups: int = Field(32, ge=1)
        min_size: int = Field(2, ge=1)
        seed: int = 0

        @field_validator("gmt")
        @classmethod
        def _gmt_file(cls, v: Path | None, info: ValidationInfo) -> Path | None:
            groups = info.data.get("groups")
            if groups == "gmt" and v is None:
                raise ValueError("groups: gmt needs the gene-set file in 'gmt'")
            if groups != "gmt" and v is not None:
                raise ValueError(f"'gmt' applies to groups: gmt only (this is {groups})")
            return v

    type: ClassVar[str] = "table/omics_groups"

    def __init__(
        self,
        *,
        groups: Literal["gmt", "correlation", "random"],
        gmt: Path | None = None,
        n_groups: int = 32,
        min_size: int = 2,
        seed: int = 0,
    ) -> None:
        self.options = self.Config(
            groups=groups, gmt=gmt, n_groups=n_groups, min_size=min_size, seed=seed
        )
        self.table = ColumnScaler("mean")
        self.index: np.ndarray | None = None  # [G, S] columns of the standardised table, -1 pad
        self.group_names: list[str] = []
        self.report: dict[str, Any] = {}

    def __repr__(self) -> str:
        fitted = f", G={self.index.shape[0]}, S={self.index.shape[1]}" if self.fitted else ""
        return f"OmicsGroupsTokenizer(groups={self.options.groups!r}{fitted})"

    @property
    def fitted(self) -> bool:
        return self.index is not None

    def fit(
        self, mod: Any, y: np.ndarray | None = None, task: Task | None = None
    ) -> OmicsGroupsTokenizer:
        """Standardisation and groups from the present training samples."""
        present = np.asarray(mod.present, dtype=bool)
        values = np.asarray(mod.values)
        values = values if present.all() else values[present]
        where = mod.source or mod.name
        if len(values) == 0:
            raise BiozooError(f"no training sample has table {where}.")
        features = [str(f) for f in mod.features]
        self.table.fit(values, features)
        self.report = {}
        o = self.options
        if o.groups == "gmt":
            members, names = self._gmt_groups(features)
        else:
            if len(features) < o.n_groups * o.min_size:
                raise BiozooError(
                    f"{o.groups} grouping into n_groups={o.n_groups} of at least "
                    f"min_size={o.min_size} features needs {o.n_groups * o.min_size} features, "
                    f"but table {where} has {len(features)}; lower n_groups."
                )
            if o.groups == "random":
                perm = np.random.default_rng(o.seed).permutation(len(features))
                members = [np.sort(g) for g in np.array_split(perm, o.n_groups)]
            else:
                rng = np.random.default_rng(o.seed)
                if len(values) > _PROFILE_ROWS:  # profiles over a seeded subset of samples
                    values = values[np.sort(rng.choice(len(values), _PROFILE_ROWS, False))]
                z = self.table.transform(values, features)
                members = _correlation_groups(z, o.n_groups, o.min_size, o.seed)
            members.sort(key=lambda g: int(g[0]))
            names = [f"{o.groups}_{i + 1}" for i in range(len(members))]
        size = max(len(g) for g in members)
        self.index = np.full((len(members), size), -1, dtype=np.int64)
        for i, g in enumerate(members):
            self.index[i, : len(g)] = g
        self.group_names = names
        self.report.update(groups=len(members), size=size, features=len(features))
        return self

    def _gmt_groups(self, features: list[str]) -> tuple[list[np.ndarray], list[str]]:
        path = self.options.gmt
        assert path is not None  # the Config requires it for groups: gmt
        sets = read_gmt(path)
        pos = {f: i for i, f in enumerate(features)}
        members, names, small = [], [], 0
        absent: dict[str, None] = {}
        for name, genes in sets.items():
            absent.update((g, None) for g in genes if g not in pos)
            cols = np.array(sorted(pos[g] for g in genes if g in pos), dtype=np.int64)
            if len(cols) < self.options.min_size:
                small += 1
                continue
            members.append(cols)
            names.append(name)
        if not members:
            raise BiozooError(
                f"no gene set of {path} has min_size={self.options.min_size} features of the "
                f"table; check that the table's feature names are gene symbols of the file."
            )
        covered = np.zeros(len(features), dtype=bool)
        for g in members:
            covered[g] = True
        rest = np.flatnonzero(~covered)
        size = max(len(g) for g in members)
        chunks = np.array_split(rest, -(-len(rest) // size)) if len(rest) else []
        members += chunks
        names += ["other"] if len(chunks) == 1 else [f"other_{i + 1}" for i in range(len(chunks))]
        self.report = {
            "sets_in_file": len(sets),
            "sets_too_small": small,
            "gmt_genes_not_in_table": len(absent),
            "gmt_genes_not_in_table_examples": list(absent)[:10],
            "features_in_no_set": len(rest),
        }
        log.info("omics groups from %s: %s", path, self.report)
        return members, names

    def _standardised(self, mod: Any) -> np.ndarray:
        x = self.table.transform(np.asarray(mod.values), list(mod.features), source=mod.source)
        x[~np.asarray(mod.present, dtype=bool)] = 0.0
        return x

    def transform(self, mod: Any) -> dict[str, torch.Tensor]:
        """Grouped values and slot mask of every sample (absent ones all zero / False)."""
        index = self._fitted()
        x = self._standardised(mod)
        values = x[:, np.maximum(index, 0)]  # (n, G, S); padding slots read column 0 ...
        values[:, index < 0] = 0.0  # ... and are zeroed
        present = torch.from_numpy(np.asarray(mod.present, dtype=bool))
        mask = torch.from_numpy(index >= 0)[None] & present[:, None, None]
        return {"values": torch.from_numpy(values), "mask": mask}

    def flat(self, mod: Any) -> np.ndarray:
        """The standardised table (zero rows for absent samples)."""
        self._fitted()
        return self._standardised(mod)

    @property
    def input(self) -> GroupsInput:
        """A ``groups`` input: the number of groups and their padded size."""
        G, S = self._fitted().shape
        return GroupsInput(groups=G, size=S)

    def feature_names(self) -> list[str] | None:
        """None: the encoder's input is not a matrix of named features."""
        return None

    def token_names(self) -> list[str] | None:
        """One token per group, named by the group."""
        return [str(g) for g in self.group_names]

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Array ``index`` and the table transform's (prefixed ``table.``); names in meta."""
        arrays, table_meta = self.table.state()
        arrays = {f"table.{k}": v for k, v in arrays.items()}
        arrays["index"] = np.ascontiguousarray(self._fitted())
        meta = {
            "kind": "OmicsGroupsTokenizer",
            "options": self.options.model_dump(mode="json"),
            "group_names": list(self.group_names),
            "report": dict(self.report),
            "table": table_meta,
        }
        return arrays, meta

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> OmicsGroupsTokenizer:
        """Rebuild from :meth:`state`'s output (the GMT file is not read again)."""
        if meta.get("kind") != "OmicsGroupsTokenizer" or "index" not in arrays:
            raise ValueError("not the saved state of an OmicsGroupsTokenizer")
        tok = cls(**meta["options"])
        table = {k.removeprefix("table."): v for k, v in arrays.items() if k != "index"}
        tok.table = ColumnScaler.from_state(table, meta["table"])
        tok.index = np.asarray(arrays["index"], dtype=np.int64)
        tok.group_names = [str(g) for g in meta["group_names"]]
        tok.report = dict(meta["report"])
        return tok

    def _fitted(self) -> np.ndarray:
        if self.index is None:
            raise RuntimeError("OmicsGroupsTokenizer is not fitted; call fit() first")
        return self.index


def _correlation_groups(z: np.ndarray, n_groups: int, min_size: int, seed: int) -> list[np.ndarray]:
    """k-means of the unit-norm standardised feature profiles ``z.T``, sizes capped.

    Clusters smaller than ``min_size`` are dissolved; then every feature, the closest to its
    centroid first, joins its nearest remaining centroid that has room for it (at most
    ``_MAX_RATIO`` times the mean group size), so one large cluster cannot widen ``S`` for all.
    """
    from sklearn.cluster import KMeans

    points = np.ascontiguousarray(z.T, dtype=np.float64)  # (p, n)
    norm = np.linalg.norm(points, axis=1, keepdims=True)
    points /= np.where(norm > 0, norm, 1.0)
    km = KMeans(n_clusters=n_groups, n_init=1, random_state=seed).fit(points)
    sizes = np.bincount(km.labels_, minlength=n_groups)
    centers = km.cluster_centers_[sizes >= min_size]  # (g, n)
    # squared distance up to |x|^2, the same for every centroid of a feature: (p, g)
    dist = (centers**2).sum(axis=1) - 2 * points @ centers.T
    order = np.argsort(dist, axis=1, kind="stable")
    cap = int(np.ceil(_MAX_RATIO * len(points) / len(centers)))
    room = np.full(len(centers), cap)
    labels = np.empty(len(points), dtype=np.int64)
    for j in np.argsort(dist.min(axis=1), kind="stable"):  # most confident features first
        c = next(c for c in order[j] if room[c] > 0)
        labels[j] = c
        room[c] -= 1
    return [np.flatnonzero(labels == c) for c in np.unique(labels)]
