"""A simulator of multi-omics cohorts with a known truth, for tests and scaling benchmarks.

Three kinds of table, named by the modality:

- ``clinical``: a few numeric variables (age, sex, BMI, liver enzymes, lipids...), each a
  transform of a standard normal latent.
- ``rna``: RNA-seq-like counts, negative binomial (gamma-Poisson) with per-gene means drawn
  log-normally, per-sample library sizes, genes named ``GENE00001``...
- ``meth``: methylation beta values in (0, 1), beta-distributed around bimodal per-CpG means
  (most CpGs mostly methylated or mostly unmethylated), CpGs named ``cg00000001``...

A binary class shifts the distribution of ``n_informative`` features spread across the
modalities: the latent mean of a clinical variable moves by ``effect_size`` standard deviations,
a gene's mean count by a log2 fold change of ``effect_size``, a CpG's mean on the logit scale by
``effect_size``. The direction of each shift is random. Values are generated a block of columns
at a time in ``dtype``, so 300 samples x 450,000 CpGs stay within about twice the output's size.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        target: int64 Series of 0/1 classes indexed by every sample id, named ``label``.
        informative: modality -> names of the features whose distribution depends on the class.
    """

    tables: dict[str, pd.DataFrame]
    target: pd.Series
    informative: dict[str, list[str]]


def simulate_cohort(
    n_samples: int = 200,
    n_features: dict[str, int] | None = None,
    n_informative: int = 10,
    positive_fraction: float = 0.5,
    missing_values: float = 0.0,
    missing_modality: float = 0.0,
    effect_size: float = 1.0,
    seed: int = 0,
    dtype: type = np.float32,
) -> SimulatedCohort:
    """Simulate a binary-class cohort of clinical, RNA-seq and methylation tables.

    Args:
        n_samples: number of samples (ids ``S0001``...).
        n_features: modality -> number of features; modality names must be ``clinical``,
            ``rna`` or ``meth``. Default ``{"clinical": 8, "rna": 500, "meth": 1000}``.
        n_informative: informative features in all, dealt round-robin across modalities.
        positive_fraction: fraction of samples in class 1 (rounded to a whole count).
        missing_values: fraction of entries set to NaN at random, in every table.
        missing_modality: fraction of samples lacking each non-clinical modality (drawn
            independently per modality); their rows are absent from that table.
        effect_size: size of the class shift (see the module docstring for its scale).
        seed: seed of every random draw; equal seeds give equal cohorts.
        dtype: floating dtype of the tables.

    Returns:
        The :class:`SimulatedCohort`.

    Raises:
        BiozooError: an argument is out of range or a modality name is unknown.
    """
    sizes = dict(DEFAULT_FEATURES if n_features is None else n_features)
    _check_args(
        n_samples, sizes, n_informative, positive_fraction, missing_values, missing_modality
    )
    seeds = np.random.SeedSequence(seed).spawn(1 + len(sizes))
    rng = np.random.default_rng(seeds[0])
    ids = pd.Index([f"S{i + 1:04d}" for i in range(n_samples)], name="sample_id")
    y = np.zeros(n_samples, dtype=np.int64)
    n_pos = min(max(round(positive_fraction * n_samples), 1), n_samples - 1)
    y[rng.permutation(n_samples)[:n_pos]] = 1

    counts = _deal(n_informative, sizes)
    tables: dict[str, pd.DataFrame] = {}
    informative: dict[str, list[str]] = {}
    for (name, size), child in zip(sizes.items(), seeds[1:], strict=True):
        mrng = np.random.default_rng(child)
        features = _feature_names(name, size)
        picked = np.sort(mrng.choice(size, size=counts[name], replace=False))
        shift = np.zeros(size, dtype=np.float64)
        shift[picked] = effect_size * mrng.choice([-1.0, 1.0], size=len(picked))
        values = _GENERATORS[name](mrng, y, shift, dtype)
        if missing_values > 0:
            _punch_holes(mrng, values, missing_values)
        keep = np.ones(n_samples, dtype=bool)
        if name != "clinical" and missing_modality > 0:
            keep[mrng.permutation(n_samples)[: round(missing_modality * n_samples)]] = False
            values = values[keep]
        tables[name] = pd.DataFrame(values, index=ids[keep], columns=features, copy=False)
        informative[name] = [features[i] for i in picked]
    target = pd.Series(y, index=ids, name="label")
    return SimulatedCohort(tables=tables, target=target, informative=informative)


def _check_args(
    n_samples: int,
    sizes: dict[str, int],
    n_informative: int,
    positive_fraction: float,
    missing_values: float,
    missing_modality: float,
) -> None:
    if n_samples < 2:
        raise BiozooError(f"simulate_cohort needs n_samples >= 2, got {n_samples}.")
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
    if not 0 <= n_informative <= sum(sizes.values()):
        raise BiozooError(
            f"n_informative={n_informative} must be between 0 and the {sum(sizes.values())} "
            f"features."
        )
    if not 0.0 < positive_fraction < 1.0:
        raise BiozooError(f"positive_fraction must be in (0, 1), got {positive_fraction}.")
    for name, value in (("missing_values", missing_values), ("missing_modality", missing_modality)):
        if not 0.0 <= value < 1.0:
            raise BiozooError(f"{name} must be in [0, 1), got {value}.")


def _deal(n: int, sizes: dict[str, int]) -> dict[str, int]:
    """Deal ``n`` informative features round-robin over modalities, within their sizes."""
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
    rng: np.random.Generator, y: np.ndarray, shift: np.ndarray, dtype: type
) -> np.ndarray:
    z = rng.standard_normal((len(y), len(shift))) + y[:, None] * shift[None, :]
    cols = [fn(z[:, j]) for j, (_, fn) in enumerate(_CLINICAL[: len(shift)])]
    return np.stack(cols, axis=1).astype(dtype)


def _rna(rng: np.random.Generator, y: np.ndarray, shift: np.ndarray, dtype: type) -> np.ndarray:
    """Gamma-Poisson counts: mean = library size x gene mean x 2**(shift x class)."""
    n, p = len(y), len(shift)
    gene_mean = rng.lognormal(np.log(20.0), 1.5, size=p).astype(np.float32)
    inv_disp = (1.0 / rng.uniform(0.05, 0.5, size=p)).astype(np.float32)  # NB size parameter
    library = rng.lognormal(0.0, 0.25, size=n).astype(np.float32)
    out = np.empty((n, p), dtype=dtype)
    for a in range(0, p, _CHUNK):
        b = min(a + _CHUNK, p)
        fold = np.exp2(y[:, None].astype(np.float32) * shift[None, a:b].astype(np.float32))
        mean = library[:, None] * gene_mean[None, a:b] * fold  # (n, chunk) float32
        rate = rng.standard_gamma(np.broadcast_to(inv_disp[a:b], mean.shape), dtype=np.float32)
        rate *= mean / inv_disp[a:b]
        out[:, a:b] = rng.poisson(rate)
    return out


def _meth(rng: np.random.Generator, y: np.ndarray, shift: np.ndarray, dtype: type) -> np.ndarray:
    """Beta(mu k, (1 - mu) k) with logit(mu) bimodal around -2.5 / +2.5, shifted by class."""
    n, p = len(y), len(shift)
    centre = np.where(rng.random(p) < 0.5, -2.5, 2.5) + rng.normal(0.0, 0.8, size=p)
    centre = centre.astype(np.float32)
    precision = rng.uniform(10.0, 40.0, size=p).astype(np.float32)
    yf = y[:, None].astype(np.float32)
    out = np.empty((n, p), dtype=dtype)
    eps = np.float32(1e-6)
    for a in range(0, p, _CHUNK):
        b = min(a + _CHUNK, p)
        mu = 1.0 / (1.0 + np.exp(-(centre[None, a:b] + yf * shift[None, a:b].astype(np.float32))))
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
