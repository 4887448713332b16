"""A simulator of multi-omics cohorts with a known truth, for tests and scaling benchmarks.

Three kinds of table, named by the modality:

- ``clinical``: a few numeric variables (age, sex, BMI, liver enzymes, lipids...), each a
  transform of a standard normal latent.
- ``rna``: RNA-seq-like counts, negative binomial (gamma-Poisson) with per-gene means drawn
  log-normally, per-sample library sizes, genes named ``GENE00001``...
- ``meth``: methylation beta values in (0, 1), beta-distributed around bimodal per-CpG means
  (most CpGs mostly methylated or mostly unmethylated), CpGs named ``cg00000001``...

The class shifts the distribution of ``n_informative`` features spread across the
modalities: the latent mean of a clinical variable moves by ``effect_size`` standard deviations,
a gene's mean count by a log2 fold change of ``effect_size``, a CpG's mean on the logit scale by
``effect_size``. The direction of each shift is random. Classes are ordered, like stages of a
disease: with ``K`` classes, class ``c`` gets ``c / (K - 1)`` of each shift, so the first class
is the reference and the last gets the whole shift (two classes: 0 and 1). Values are generated
a block of columns at a time in ``dtype``, so 300 samples x 450,000 CpGs stay within about
twice the output's size.

:func:`~biozoo.data.sources.liver.liver_cohort` is the lecture's cohort as a preset (three
classes, ~20,000 genes, ~450,000 CpGs).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from biozoo.errors import BiozooError

__all__ = ["SimulatedCohort", "simulate_cohort", "write_cohort"]

DEFAULT_FEATURES = {"clinical": 8, "rna": 500, "meth": 1000}
KINDS = ("clinical", "rna", "meth")
PARQUET_ABOVE = 10_000  # write_cohort: tables wider than this go to transposed parquet
_CHUNK = 16_384  # columns generated at a time
# clinical variable: (name, transform of the standard normal latent z)
_CLINICAL = (
    ("age", lambda z: np.clip(55.0 + 12.0 * z, 18.0, 90.0)),
    ("sex", lambda z: (z > 0).astype(np.float64)),
    ("bmi", lambda z: np.clip(27.0 + 5.0 * z, 15.0, 60.0)),
    ("alt", lambda z: np.exp(3.3 + 0.5 * z)),
    ("ast", lambda z: np.exp(3.2 + 0.4 * z)),
    ("glucose", lambda z: np.exp(4.6 + 0.2 * z)),
    ("triglycerides", lambda z: np.exp(4.9 + 0.45 * z)),
    ("hdl", lambda z: np.exp(3.9 + 0.25 * z)),
)


@dataclass
class SimulatedCohort:
    """A simulated cohort.

    Attributes:
        tables: modality -> DataFrame ``[n_samples_m, n_features_m]`` in
            :func:`~biozoo.data.readers.read_table`'s format (index ``sample_id``); samples
            lacking a modality have no row in its table.
        target: int64 Series of class codes ``0 .. K-1`` indexed by every sample id, named
            ``label``.
        informative: modality -> names of the features whose distribution depends on the class.
        classes: the name of each class code (default ``"0"``, ``"1"``...).
    """

    tables: dict[str, pd.DataFrame]
    target: pd.Series
    informative: dict[str, list[str]]
    classes: list[str] = field(default_factory=lambda: ["0", "1"])


def simulate_cohort(
    n_samples: int | None = None,
    n_features: dict[str, int] | None = None,
    n_informative: int | dict[str, int] = 10,
    positive_fraction: float = 0.5,
    missing_values: float = 0.0,
    missing_modality: float = 0.0,
    effect_size: float | dict[str, float] = 1.0,
    seed: int = 0,
    dtype: type = np.float32,
    class_sizes: Sequence[int] | None = None,
    only: Collection[str] | None = None,
) -> SimulatedCohort:
    """Simulate a cohort of clinical, RNA-seq and methylation tables with ordered classes.

    Two classes by default (``positive_fraction`` of the samples in class 1); ``class_sizes``
    gives any number of classes their sizes instead. Each modality draws from its own random
    stream, so a modality's table is the same whichever other modalities are simulated.

    Args:
        n_samples: number of samples (ids ``S0001``...); default 200, or the sum of
            ``class_sizes``.
        n_features: modality -> number of features; modality names must be ``clinical``,
            ``rna`` or ``meth``. Default ``{"clinical": 8, "rna": 500, "meth": 1000}``.
        n_informative: informative features in all, dealt round-robin across modalities, or
            a count per modality.
        positive_fraction: fraction of samples in class 1 (rounded to a whole count), when
            ``class_sizes`` is not given.
        missing_values: fraction of entries set to NaN at random, in every table.
        missing_modality: fraction of samples lacking each non-clinical modality (drawn
            independently per modality); their rows are absent from that table.
        effect_size: size of the class shift (see the module docstring for its scale), or a
            size per modality.
        seed: seed of every random draw; equal seeds give equal cohorts.
        dtype: floating dtype of the tables.
        class_sizes: the number of samples of each class, in order (at least two classes).
        only: simulate these modalities of ``n_features`` only (the others are left out, and
            those simulated are what the whole cohort would hold).

    Returns:
        The :class:`SimulatedCohort`.

    Raises:
        BiozooError: an argument is out of range or a modality name is unknown.
    """
    sizes = dict(DEFAULT_FEATURES if n_features is None else n_features)
    n_samples, class_sizes = _class_sizes(n_samples, class_sizes, positive_fraction)
    _check_args(n_samples, sizes, n_informative, missing_values, missing_modality)
    effects = _per_modality(effect_size, sizes, "effect_size")
    seeds = np.random.SeedSequence(seed).spawn(1 + len(sizes))
    rng = np.random.default_rng(seeds[0])
    ids = pd.Index([f"S{i + 1:04d}" for i in range(n_samples)], name="sample_id")
    y = np.zeros(n_samples, dtype=np.int64)
    perm = rng.permutation(n_samples)
    bounds = np.cumsum(class_sizes[1:])
    for c, (a, b) in enumerate(zip(np.r_[0, bounds[:-1]], bounds, strict=True), start=1):
        y[perm[a:b]] = c
    level = y / (len(class_sizes) - 1)  # the share of each shift a class gets: 0 .. 1

    counts = _deal(n_informative, sizes)
    tables: dict[str, pd.DataFrame] = {}
    informative: dict[str, list[str]] = {}
    for (name, size), child in zip(sizes.items(), seeds[1:], strict=True):
        if only is not None and name not in only:
            continue
        mrng = np.random.default_rng(child)
        features = _feature_names(name, size)
        picked = np.sort(mrng.choice(size, size=counts[name], replace=False))
        shift = np.zeros(size, dtype=np.float64)
        shift[picked] = effects[name] * mrng.choice([-1.0, 1.0], size=len(picked))
        values = _GENERATORS[name](mrng, level, shift, dtype)
        if missing_values > 0:
            _punch_holes(mrng, values, missing_values)
        keep = np.ones(n_samples, dtype=bool)
        if name != "clinical" and missing_modality > 0:
            keep[mrng.permutation(n_samples)[: round(missing_modality * n_samples)]] = False
            values = values[keep]
        tables[name] = pd.DataFrame(values, index=ids[keep], columns=features, copy=False)
        informative[name] = [features[i] for i in picked]
    target = pd.Series(y, index=ids, name="label")
    classes = [str(c) for c in range(len(class_sizes))]
    return SimulatedCohort(tables=tables, target=target, informative=informative, classes=classes)


def _class_sizes(
    n_samples: int | None, class_sizes: Sequence[int] | None, positive_fraction: float
) -> tuple[int, list[int]]:
    """The number of samples and the size of each class."""
    if class_sizes is None:
        n = 200 if n_samples is None else n_samples
        if n < 2:
            raise BiozooError(f"simulate_cohort needs n_samples >= 2, got {n}.")
        if not 0.0 < positive_fraction < 1.0:
            raise BiozooError(f"positive_fraction must be in (0, 1), got {positive_fraction}.")
        n_pos = min(max(round(positive_fraction * n), 1), n - 1)
        return n, [n - n_pos, n_pos]
    sizes = [int(c) for c in class_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise BiozooError(
            f"class_sizes must give at least two classes of at least one sample, got {sizes}."
        )
    if n_samples is not None and n_samples != sum(sizes):
        raise BiozooError(
            f"n_samples={n_samples} differs from the {sum(sizes)} samples of class_sizes; "
            f"give one of them."
        )
    return sum(sizes), sizes


def _per_modality(value: float | dict[str, float], sizes: dict[str, int], what: str) -> dict:
    if not isinstance(value, dict):
        return dict.fromkeys(sizes, value)
    unknown = sorted(set(value) - set(sizes))
    if unknown:
        raise BiozooError(f"{what} names modality {unknown[0]!r}, which is not simulated.")
    return {name: value.get(name, 0) for name in sizes}


def _check_args(
    n_samples: int,
    sizes: dict[str, int],
    n_informative: int | dict[str, int],
    missing_values: float,
    missing_modality: float,
) -> None:
    unknown = [k for k in sizes if k not in KINDS]
    if unknown or not sizes:
        raise BiozooError(
            f"simulate_cohort cannot simulate modality {unknown[0] if unknown else None!r}; "
            f"use {', '.join(KINDS)}."
        )
    if any(v < 1 for v in sizes.values()):
        raise BiozooError(f"simulate_cohort needs at least one feature per modality: {sizes}.")
    if sizes.get("clinical", 0) > len(_CLINICAL):
        raise BiozooError(f"simulate_cohort simulates at most {len(_CLINICAL)} clinical features.")
    counts = _per_modality(n_informative, sizes, "n_informative")
    if isinstance(n_informative, dict):
        wrong = [k for k, v in counts.items() if not 0 <= v <= sizes[k]]
        if wrong:
            raise BiozooError(
                f"n_informative={counts[wrong[0]]} for {wrong[0]!r} must be between 0 and its "
                f"{sizes[wrong[0]]} features."
            )
    elif not 0 <= n_informative <= sum(sizes.values()):
        raise BiozooError(
            f"n_informative={n_informative} must be between 0 and the {sum(sizes.values())} "
            f"features."
        )
    for name, value in (("missing_values", missing_values), ("missing_modality", missing_modality)):
        if not 0.0 <= value < 1.0:
            raise BiozooError(f"{name} must be in [0, 1), got {value}.")


def _deal(n: int | dict[str, int], sizes: dict[str, int]) -> dict[str, int]:
    """Deal ``n`` informative features round-robin over modalities, within their sizes."""
    if isinstance(n, dict):
        return {name: n.get(name, 0) for name in sizes}
    counts = dict.fromkeys(sizes, 0)
    while n > 0:
        for name in sizes:
            if n > 0 and counts[name] < sizes[name]:
                counts[name] += 1
                n -= 1
    return counts


def _feature_names(kind: str, size: int) -> list[str]:
    if kind == "clinical":
        return [name for name, _ in _CLINICAL[:size]]
    if kind == "rna":
        return [f"GENE{i + 1:05d}" for i in range(size)]
    return [f"cg{i + 1:08d}" for i in range(size)]


def _clinical(
    rng: np.random.Generator, level: np.ndarray, shift: np.ndarray, dtype: type
) -> np.ndarray:
    z = rng.standard_normal((len(level), len(shift))) + level[:, None] * shift[None, :]
    cols = [fn(z[:, j]) for j, (_, fn) in enumerate(_CLINICAL[: len(shift)])]
    return np.stack(cols, axis=1).astype(dtype)


def _rna(rng: np.random.Generator, level: np.ndarray, shift: np.ndarray, dtype: type) -> np.ndarray:
    """Gamma-Poisson counts: mean = library size x gene mean x 2**(shift x class level)."""
    n, p = len(level), len(shift)
    gene_mean = rng.lognormal(np.log(20.0), 1.5, size=p).astype(np.float32)
    inv_disp = (1.0 / rng.uniform(0.05, 0.5, size=p)).astype(np.float32)  # NB size parameter
    library = rng.lognormal(0.0, 0.25, size=n).astype(np.float32)
    out = np.empty((n, p), dtype=dtype)
    for a in range(0, p, _CHUNK):
        b = min(a + _CHUNK, p)
        fold = np.exp2(level[:, None].astype(np.float32) * shift[None, a:b].astype(np.float32))
        mean = library[:, None] * gene_mean[None, a:b] * fold  # (n, chunk) float32
        rate = rng.standard_gamma(np.broadcast_to(inv_disp[a:b], mean.shape), dtype=np.float32)
        rate *= mean / inv_disp[a:b]
        out[:, a:b] = rng.poisson(rate)
    return out


def _meth(
    rng: np.random.Generator, level: np.ndarray, shift: np.ndarray, dtype: type
) -> np.ndarray:
    """Beta(mu k, (1 - mu) k), logit(mu) bimodal around -2.5 / +2.5, shifted by class level."""
    n, p = len(level), len(shift)
    centre = np.where(rng.random(p) < 0.5, -2.5, 2.5) + rng.normal(0.0, 0.8, size=p)
    centre = centre.astype(np.float32)
    precision = rng.uniform(10.0, 40.0, size=p).astype(np.float32)
    lf = level[:, None].astype(np.float32)
    out = np.empty((n, p), dtype=dtype)
    eps = np.float32(1e-6)
    for a in range(0, p, _CHUNK):
        b = min(a + _CHUNK, p)
        mu = 1.0 / (1.0 + np.exp(-(centre[None, a:b] + lf * shift[None, a:b].astype(np.float32))))
        k = precision[None, a:b]
        g1 = rng.standard_gamma(mu * k, dtype=np.float32)
        g2 = rng.standard_gamma((1.0 - mu) * k, dtype=np.float32)
        g1 /= g1 + g2
        np.clip(g1, eps, 1 - eps, out=g1)
        out[:, a:b] = g1
    return out


_GENERATORS = {"clinical": _clinical, "rna": _rna, "meth": _meth}


def _punch_holes(rng: np.random.Generator, values: np.ndarray, fraction: float) -> None:
    """Set a random ``fraction`` of entries to NaN, in place, a block of columns at a time."""
    for a in range(0, values.shape[1], _CHUNK):
        block = values[:, a : a + _CHUNK]
        block[rng.random(block.shape, dtype=np.float32) < fraction] = np.nan


def write_cohort(sim: SimulatedCohort, folder: Path) -> dict[str, Path]:
    """Write a simulated cohort as files :func:`~biozoo.data.align.load_cohort` can read.

    Tables with at most 10,000 features go to ``<name>.csv`` (samples as rows, first column
    ``sample_id``); wider ones to ``<name>.parquet`` with features as rows (first column
    ``feature``, one column per sample: read them with ``transpose: true``). Labels go to
    ``labels.csv`` with columns ``sample_id`` and ``label``.

    Args:
        sim: the simulated cohort.
        folder: where to write; created if needed.

    Returns:
        Table name (and ``labels``) -> path written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, table in sim.tables.items():
        if table.shape[1] > PARQUET_ABOVE:
            paths[name] = folder / f"{name}.parquet"
            _write_transposed_parquet(table, paths[name])
        else:
            paths[name] = folder / f"{name}.csv"
            table.to_csv(paths[name], index_label="sample_id")
    paths["labels"] = folder / "labels.csv"
    sim.target.rename("label").to_csv(paths["labels"], index_label="sample_id")
    return paths


def _write_transposed_parquet(table: pd.DataFrame, path: Path) -> None:
    """Features as rows, one float column per sample, without transposing in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = table.to_numpy(copy=False)  # (n_samples, n_features); each row becomes a column
    columns = {"feature": pa.array(table.columns.astype(str), type=pa.string())}
    for i, sample in enumerate(table.index):
        columns[str(sample)] = pa.array(np.ascontiguousarray(values[i]))
    pq.write_table(pa.table(columns), path)
