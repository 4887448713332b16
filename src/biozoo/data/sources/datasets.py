"""Real data bundled in installed packages, so that biozoo runs offline.

Nothing is downloaded: each dataset is read from a file or function that ships inside a
package (scikit-survival, scanpy), shipped with biozoo itself (``files/``) or simulated.
Tables come in
:func:`~biozoo.data.readers.read_table`'s format (float32, samples as rows, index
``sample_id``). Loads are cached within a process; callers always get copies. A dataset may
build each table on first use (the simulated liver cohort's 450,000 CpGs take a while), so
naming one of its tables builds that table only.

A modality or target of a run config names a bundled table as ``<dataset>/<table>`` (for
example ``gse7390/gex``) and a target as ``dataset: gse7390`` plus ``column: e.tdm``. Datasets
of records (images) name them the same way (``nuclei/images``, :func:`dataset_records`).
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from biozoo.errors import BiozooError
from biozoo.registry import Registry

__all__ = [
    "DatasetInfo",
    "LazyTables",
    "LoadedDataset",
    "dataset_records",
    "dataset_events",
    "dataset_table",
    "dataset_target",
    "list_datasets",
    "load_dataset",
]


@dataclass(frozen=True)
class DatasetInfo:
    """What a bundled dataset holds (shown by ``biozoo datasets``)."""

    name: str
    description: str
    tables: tuple[str, ...]
    target_column: str
    task: str
    n_samples: int
    source: str

    @property
    def target(self) -> str:
        """Alias of :attr:`target_column`."""
        return self.target_column


@dataclass
class LoadedDataset:
    """A bundled dataset, loaded.

    Attributes:
        tables: table name -> float32 DataFrame, samples as rows (index ``sample_id``); a
            table may be built when first looked up (:class:`LazyTables`).
        target: the default target, indexed by the same sample ids.
        target_column: the target's name.
        task: the name of the task the target is for (a :data:`~biozoo.tasks.TASKS` entry).
        labels: every label column offered by the dataset (``target`` is one of them), for
            :func:`dataset_target`.
        records: record name -> one object per sample id (e.g. ``[C, H, W]`` images), for a
            record kind's reader (:func:`dataset_records`).
        record_meta: record name -> what a reader would have learned (e.g. channel names).
        events: a long frame of life events (``patient, age, code, ...``) for an ``events``
            modality, or None.
    """

    tables: Mapping[str, pd.DataFrame]
    target: pd.Series
    target_column: str
    task: str
    labels: pd.DataFrame
    records: dict[str, pd.Series] = field(default_factory=dict)
    record_meta: dict[str, dict[str, object]] = field(default_factory=dict)
    events: pd.DataFrame | None = None


class LazyTables(Mapping[str, pd.DataFrame]):
    """Tables by name, each built by its function when first looked up, then kept."""

    def __init__(self, build: dict[str, Callable[[], pd.DataFrame]]) -> None:
        self._build = build
        self._built: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._built:
            self._built[name] = self._build[name]()
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build)

    def __len__(self) -> int:
        return len(self._build)


Loader = Callable[[], LoadedDataset]
_LOADERS: Registry[Loader] = Registry("dataset")
_INFO: dict[str, DatasetInfo] = {}


def _dataset(info: DatasetInfo) -> Callable[[Loader], Loader]:
    """Register a loader under ``info.name``."""

    def decorate(fn: Loader) -> Loader:
        _INFO[info.name] = info
        return _LOADERS.register(info.name)(fn)

    return decorate


def list_datasets() -> list[DatasetInfo]:
    """The bundled datasets, sorted by name (nothing is loaded)."""
    return [_INFO[name] for name in _LOADERS.names()]


def load_dataset(name: str) -> LoadedDataset:
    """Load a bundled dataset.

    Args:
        name: a name from :func:`list_datasets`.

    Returns:
        A fresh copy of the dataset, safe to modify.

    Raises:
        BiozooError: the name is unknown ("did you mean ..."), or the package holding the data
            is not installed.
    """
    cached = _load_cached(name)
    return LoadedDataset(
        tables={k: v.copy() for k, v in cached.tables.items()},
        target=cached.target.copy(),
        target_column=cached.target_column,
        task=cached.task,
        labels=cached.labels.copy(),
        records={k: v.copy() for k, v in cached.records.items()},
        record_meta={k: dict(v) for k, v in cached.record_meta.items()},
        events=None if cached.events is None else cached.events.copy(),
    )


@functools.lru_cache(maxsize=8)
def _load_cached(name: str) -> LoadedDataset:
    loader = _LOADERS.get(name)
    with warnings.catch_warnings():
        # anndata's notes on the old layout of bundled files are no concern of the user's
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", module="anndata")
        return loader()


def dataset_table(spec: str) -> pd.DataFrame:
    """One table of a bundled dataset, named ``<dataset>/<table>`` (e.g. ``gse7390/gex``).

    Raises:
        BiozooError: the spec is malformed, or the dataset or table is unknown.
    """
    name, sep, table = spec.partition("/")
    if not sep or not name or not table:
        raise BiozooError(
            f"dataset table {spec!r} must be written '<dataset>/<table>', e.g. 'gse7390/gex'."
        )
    _LOADERS.get(name, where=f"dataset table {spec!r}")
    tables = _load_cached(name).tables
    if table not in tables:
        raise BiozooError(f"dataset {name!r} has no table {table!r} (tables: {', '.join(tables)}).")
    return tables[table].copy()


def dataset_records(spec: str) -> tuple[pd.Series, dict[str, object]]:
    """Records of a bundled dataset, named ``<dataset>/<records>`` (e.g. ``nuclei/images``).

    Returns:
        The records (a Series indexed by sample id; each record copied) and their meta.

    Raises:
        BiozooError: the spec is malformed, or the dataset or its records are unknown.
    """
    name, sep, what = spec.partition("/")
    if not sep or not name or not what:
        raise BiozooError(
            f"dataset records {spec!r} must be written '<dataset>/<records>', e.g. 'nuclei/images'."
        )
    _LOADERS.get(name, where=f"dataset records {spec!r}")
    loaded = _load_cached(name)
    if what not in loaded.records:
        have = ", ".join(loaded.records) or "none: it holds tables"
        raise BiozooError(f"dataset {name!r} has no records {what!r} (records: {have}).")
    records = loaded.records[what]
    copied = pd.Series([np.array(r) for r in records], index=records.index.copy(), dtype=object)
    return copied.rename(records.name), dict(loaded.record_meta.get(what, {}))


def dataset_events(name: str) -> pd.DataFrame:
    """The long life-event frame of a bundled dataset (for an ``events`` modality).

    Raises:
        BiozooError: the dataset is unknown or holds no life events.
    """
    _LOADERS.get(name, where="events dataset")
    events = _load_cached(name).events
    if events is None:
        raise BiozooError(f"dataset {name!r} holds no life events (life_events does).")
    return events.copy()


def dataset_target(name: str, column: str) -> pd.Series:
    """A label column of a bundled dataset, indexed by sample id.

    Raises:
        BiozooError: the dataset or the column is unknown.
    """
    labels = _load_cached(name).labels
    if column not in labels.columns:
        raise BiozooError(
            f"dataset {name!r} has no label column {column!r} "
            f"(columns: {', '.join(labels.columns)})."
        )
    return labels[column].copy()


def _finish(
    tables: dict[str, pd.DataFrame],
    labels: pd.DataFrame,
    target_column: str,
    task: str,
    records: dict[str, tuple[pd.Series, dict[str, object]]] | None = None,
) -> LoadedDataset:
    for table in tables.values():
        table.index.name = "sample_id"
        table.columns = pd.Index([str(c) for c in table.columns], dtype=object)
    labels.index.name = "sample_id"
    records = records or {}
    for series, _ in records.values():
        series.index.name = "sample_id"
    return LoadedDataset(
        tables=tables,
        target=labels[target_column].copy(),
        target_column=target_column,
        task=task,
        labels=labels,
        records={k: r for k, (r, _) in records.items()},
        record_meta={k: m for k, (_, m) in records.items()},
    )


# ---------------------------------------------------------------- the datasets

_GRADE = {"well differentiated": 1.0, "intermediate": 2.0, "poorly differentiated": 3.0}


@_dataset(
    DatasetInfo(
        name="gse7390",
        description="Breast cancer, 198 patients: 76-gene expression signature and clinical "
        "variables; target: distant metastasis (e.tdm).",
        tables=("gex", "clin"),
        target_column="e.tdm",
        task="binary",
        n_samples=198,
        source="GEO GSE7390 (Desmedt et al. 2007), via scikit-survival's "
        "load_breast_cancer (GPL-3 package)",
    )
)
def _gse7390() -> LoadedDataset:
    """GSE7390 from scikit-survival.

    ``gex``: the 76 probe columns (already log-scale expression). ``clin``: ``age``, ``size``
    as given; ``er`` positive -> 1, negative -> 0; ``grade`` well differentiated -> 1,
    intermediate -> 2, poorly differentiated -> 3, unknown (spelt ``unkown`` in the data) ->
    NaN. Labels: ``e.tdm`` (distant metastasis, 0/1 int) and ``t.tdm`` (time to it or to
    censoring, days, float).
    """
    from sksurv.datasets import load_breast_cancer

    x, y = load_breast_cancer()
    ids = pd.Index([f"GSE7390_{i + 1:03d}" for i in range(len(x))])
    clinical = ["age", "er", "grade", "size"]
    gex = x.drop(columns=clinical).astype(np.float32)
    gex.index = ids
    er = x["er"].astype(str).map({"positive": 1.0, "negative": 0.0})
    grade = x["grade"].astype(str).map(_GRADE)  # any other level ("unkown") -> NaN
    clin = pd.DataFrame(
        {
            "age": x["age"].to_numpy(),
            "er": er.to_numpy(),
            "grade": grade.to_numpy(),
            "size": x["size"].to_numpy(),
        },
        index=ids,
    ).astype(np.float32)
    labels = pd.DataFrame(
        {"e.tdm": y["e.tdm"].astype(np.int64), "t.tdm": y["t.tdm"].astype(np.float64)}, index=ids
    )
    return _finish({"gex": gex, "clin": clin}, labels, "e.tdm", "binary")


@_dataset(
    DatasetInfo(
        name="pbmc68k_reduced",
        description="700 peripheral blood mononuclear cells x 765 genes (log-normalised "
        "expression); target: cell type (bulk_labels, 10 classes).",
        tables=("rna",),
        target_column="bulk_labels",
        task="multiclass",
        n_samples=700,
        source="10x Genomics PBMC 68k (Zheng et al. 2017), subsample shipped with scanpy "
        "(BSD-3-Clause)",
    )
)
def _pbmc68k_reduced() -> LoadedDataset:
    """scanpy's ``10x_pbmc68k_reduced.h5ad``, read with anndata (scanpy is not imported).

    Table ``rna`` is ``.raw.X``: per-cell normalised, log1p-transformed expression, not scaled
    (``.X`` holds the same genes scaled to zero mean and unit variance, which would leak
    whole-dataset statistics into every fold). Labels: ``bulk_labels`` (10 cell types),
    ``louvain`` (clusters) and ``phase`` (cell cycle), as str.
    """
    import anndata

    adata = anndata.read_h5ad(_scanpy_file("10x_pbmc68k_reduced.h5ad"))
    raw = adata.raw if adata.raw is not None and adata.raw.n_vars == adata.n_vars else adata
    matrix = raw.X.toarray() if hasattr(raw.X, "toarray") else raw.X
    ids = pd.Index(adata.obs_names.astype(str), dtype=object)
    rna = pd.DataFrame(np.asarray(matrix, dtype=np.float32), index=ids, columns=raw.var_names)
    obs = adata.obs
    labels = pd.DataFrame(
        {c: obs[c].astype(str).to_numpy() for c in ("bulk_labels", "louvain", "phase")},
        index=ids,
    )
    return _finish({"rna": rna}, labels, "bulk_labels", "multiclass")


def _scanpy_file(name: str) -> Path:
    """A file of scanpy's ``datasets`` folder, found without importing scanpy (slow)."""
    spec = importlib.util.find_spec("scanpy")
    if spec is None or not spec.submodule_search_locations:
        raise BiozooError(
            "dataset pbmc68k_reduced needs scanpy, which is not installed; install biozoo[data]."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / name
    if not path.is_file():
        raise BiozooError(f"scanpy is installed but its bundled file {path} is missing.")
    return path


@_dataset(
    DatasetInfo(
        name="simulated",
        description="Simulated cohort, 200 samples: clinical (8), RNA-seq counts (500) and "
        "methylation betas (1000) with 10 informative features; target: label (binary).",
        tables=("clinical", "rna", "meth"),
        target_column="label",
        task="binary",
        n_samples=200,
        source="biozoo.data.simulate.simulate_cohort(seed=0)",
    )
)
def _simulated() -> LoadedDataset:
    """The default :func:`~biozoo.data.simulate.simulate_cohort`, seed 0."""
    from biozoo.data.sources.simulate import simulate_cohort

    sim = simulate_cohort(seed=0)
    return _finish(dict(sim.tables), sim.target.to_frame("label"), "label", "binary")


@_dataset(
    DatasetInfo(
        name="nuclei",
        description="125 fluorescent nuclei, one 40 x 40 crop each (1 channel); target: "
        "touching (another nucleus within 1 pixel, binary); also area.",
        tables=("images",),
        target_column="touching",
        task="binary",
        n_samples=125,
        source="stardist's 2-D nuclei test image and mask (2018 Data Science Bowl, "
        "BSD-3-Clause package), cropped by biozoo (benchmarks/_sources/nuclei.py)",
    )
)
def _nuclei() -> LoadedDataset:
    """:func:`~biozoo.data.sources.nuclei.load_nuclei`: records ``images`` and ``masks``."""
    from biozoo.data.sources.nuclei import load_nuclei

    images, labels, masks = load_nuclei()
    records = {"images": (images, {"channels": ["nuclei"]}), "masks": (masks, {})}
    return _finish({}, labels, "touching", "binary", records)


@_dataset(
    DatasetInfo(
        name="image_patterns",
        description="240 simulated 32 x 32 images with a 5 x 5 pattern planted anywhere: a "
        "plus (1) or a saltire (0) of the same intensity; target: label (binary).",
        tables=("images",),
        target_column="label",
        task="binary",
        n_samples=240,
        source="biozoo.data.sources.image_patterns.simulate_image_patterns(seed=0)",
    )
)
def _image_patterns() -> LoadedDataset:
    """The default :func:`~biozoo.data.sources.image_patterns.simulate_image_patterns`;
    records ``images`` and ``masks`` (the pattern's box)."""
    from biozoo.data.sources.image_patterns import simulate_image_patterns

    sim = simulate_image_patterns(seed=0)
    index = pd.Index(sim.ids, dtype=object)
    images = pd.Series(list(sim.images), index=index, dtype=object)
    masks = pd.Series(list(sim.masks), index=index, dtype=object)
    labels = pd.DataFrame({"label": sim.labels}, index=index)
    records = {"images": (images, {"channels": ["intensity"]}), "masks": (masks, {})}
    return _finish({}, labels, "label", "binary", records)


@_dataset(
    DatasetInfo(
        name="liver_cohort",
        description="Simulated lecture cohort, 300 patients with obesity: clinical (8), liver "
        "RNA-seq counts (20,000 genes, 200 informative) and CpG methylation (450,000, 260 "
        "informative); target: status (no_disease 80, steatosis 137, NASH 83).",
        tables=("clinical", "rna", "meth"),
        target_column="status",
        task="multiclass",
        n_samples=300,
        source="biozoo.data.sources.liver.liver_cohort(seed=0), after Gambardella et al. "
        "2025 (doi:10.1101/2025.10.10.681581)",
    )
)
def _liver_cohort() -> LoadedDataset:
    """The :func:`~biozoo.data.sources.liver.liver_cohort` preset, seed 0; tables built on use.

    Labels: ``status`` (class names), ``label`` (codes 0, 1, 2 by severity) and ``nash`` (1 NASH,
    0 steatosis, missing without liver disease).
    """
    from biozoo.data.sources.liver import LIVER_FEATURES, liver_cohort

    sim = liver_cohort(only=())  # the classes only: no table is simulated
    names = np.asarray(sim.classes, dtype=object)
    code = sim.target.to_numpy()
    nash = np.where(code == 2, 1.0, np.where(code == 1, 0.0, np.nan))
    labels = pd.DataFrame(
        {"status": names[code], "label": code, "nash": nash}, index=sim.target.index
    )
    labels.index.name = "sample_id"
    tables = LazyTables({name: functools.partial(_liver_table, name) for name in LIVER_FEATURES})
    return LoadedDataset(
        tables=tables,
        target=labels["status"].copy(),
        target_column="status",
        task="multiclass",
        labels=labels,
    )


def _liver_table(name: str) -> pd.DataFrame:
    from biozoo.data.sources.liver import liver_cohort

    return liver_cohort(only=(name,)).tables[name]


@_dataset(
    DatasetInfo(
        name="orfs",
        description="Simulated open reading frames, 500 samples of 5-30 codons: table dna "
        "(one sequence per sample, for a sequence modality); target: protein (its translation "
        "by the standard genetic code), also residues (its length).",
        tables=("dna",),
        target_column="protein",
        task="sequence",
        n_samples=500,
        source="biozoo.data.sources.orfs.simulate_orfs(500, seed=0); translation by Biopython",
    )
)
def _orfs() -> LoadedDataset:
    """:func:`~biozoo.data.sources.orfs.simulate_orfs` with its defaults but 500 ORFs.

    Table ``dna`` holds one str column, ``sequence``: it is read by a ``sequence`` modality
    (``dataset: orfs/dna``), not as a numeric table.
    """
    from biozoo.data.sources.orfs import simulate_orfs

    dna, protein = simulate_orfs(500, seed=0)
    labels = pd.DataFrame({"protein": protein, "residues": protein.str.len().astype(np.int64)})
    return _finish({"dna": dna.rename("sequence").to_frame()}, labels, "protein", "sequence")


@_dataset(
    DatasetInfo(
        name="life_events",
        description="Simulated life-event histories, 2,000 patients: 10 codes whose rates "
        "depend on age, sex and earlier codes, terminal DEATH (read by kind: events), and "
        "sex; target: death during follow-up (binary).",
        tables=("sex",),
        target_column="death",
        task="binary",
        n_samples=2000,
        source="biozoo.data.sources.life_events.simulate_life_events(seed=0)",
    )
)
def _life_events() -> LoadedDataset:
    """The default :func:`~biozoo.data.sources.life_events.simulate_life_events`, seed 0."""
    from biozoo.data.sources.life_events import TERMINAL, simulate_life_events

    sim = simulate_life_events(seed=0)
    sex = sim.sex.astype(np.float32).to_frame("sex")
    died = sim.events.groupby("patient", sort=False)["code"].agg(lambda c: int(TERMINAL in set(c)))
    loaded = _finish({"sex": sex}, died.to_frame("death"), "death", "binary")
    loaded.events = sim.events
    return loaded
