"""Latent maps: PCA and UMAP of each module's embeddings, read back from a run folder.

Which coordinates are mapped. The latent spaces of different fold models, and of the members
of one fold's ensemble, are not aligned: each is its own coordinate system, fixed only up to
rotation, sign and scale. Pooling the held-out embeddings of every split would therefore mix
coordinate systems. A map shows one fitted network instead: the first split's member 0, which
embeds every sample of the cohort; the marker tells the part each sample played in that split
(fit and validation samples trained the network, test samples were held out). Points are
coloured by the target, read from ``predictions.csv`` (samples never held out in any split have
no recorded target there and are drawn in grey, labelled "never held out").

Every ``latents/<model>/<module>.csv`` gets a map: the encoders' outputs before concatenation
and the ``fused`` embedding. A module file identical to ``fused`` (early fusion) is not repeated.

UMAP: McInnes, Healy & Melville (2018), https://arxiv.org/abs/1802.03426. umap-learn compiles its
numba functions in every new process (about 15 s on one core, most of a small run's report);
:func:`_import_umap` switches on numba's on-disk cache for them, so only the first report on a
machine (and the first after umap-learn changes) pays for the compilation.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from biozoo.report.plots import COLOURS
from biozoo.train.runfolder import RunLayout

__all__ = ["LatentMap", "latent_map_data", "plot_latent_map"]

MIN_UMAP_SAMPLES = 15
"""Below this many points UMAP's neighbour graph says little; the map shows PCA only."""

_MARKERS = {"fit": "o", "validation": "s", "test": "^"}


@dataclass
class LatentMap:
    """The 2-d coordinates of one module's embeddings, and what each point is.

    Shape:
        - sample_id, part, target: ``[n]`` in the order of the CSV's rows.
        - pca, umap: ``[n, 2]``.
    """

    model: str
    module: str
    split: str
    member: int
    dim: int
    sample_id: np.ndarray
    part: np.ndarray
    target: np.ndarray
    pca: np.ndarray
    explained: np.ndarray
    umap: np.ndarray | None = None
    note: str = ""
    same_as: list[str] = field(default_factory=list)


def latent_map_data(
    run_dir: Path, *, umap: bool = True, seed: int = 0, numeric: bool = False
) -> list[LatentMap]:
    """Read every latent CSV of a run folder and compute its PCA (and UMAP) coordinates.

    Args:
        run_dir: a finished run folder.
        umap: also compute UMAP coordinates (umap-learn; its first call in a process spends
            about 5-10 s compiling with numba).
        seed: UMAP's random state.
        numeric: read targets as numbers (a regression run); otherwise as class labels.

    Returns:
        One :class:`LatentMap` per latent file, models in name order, ``fused`` last; empty
        when the run saved no latents.
    """
    run_dir = Path(run_dir)
    targets = _targets(run_dir, numeric)
    maps: list[LatentMap] = []
    for model_dir in sorted(p for p in RunLayout(run_dir).latents.glob("*") if p.is_dir()):
        files = sorted(model_dir.glob("*.csv"), key=lambda p: (p.stem == "fused", p.stem))
        frames = {p.stem: _first_member(pd.read_csv(p, dtype={"sample_id": str})) for p in files}
        fused = frames.get("fused")
        model_maps = []
        for module, frame in frames.items():
            if frame is None:
                continue
            if module != "fused" and fused is not None and _same(frame, fused):
                fused.attrs.setdefault("same_as", []).append(module)
                continue
            model_maps.append((module, frame))
        for module, frame in model_maps:
            maps.append(_map(model_dir.name, module, frame, targets, umap=umap, seed=seed))
    return maps


def _first_member(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Rows of the first split (in file order) and the lowest member; None if unusable.

    A searched model's latent width can differ between splits, so the file's columns are
    those of its widest split: the columns empty in the rows kept are dropped.
    """
    z_cols = _z_columns(frame)
    if frame.empty or not z_cols or "sample_id" not in frame:
        return None
    if "split" in frame:
        frame = frame[frame["split"].astype(str) == str(frame["split"].iloc[0])]
    if "member" in frame:
        frame = frame[frame["member"] == frame["member"].min()]
    empty = [c for c in z_cols if frame[c].isna().all()]
    return frame.drop(columns=empty).reset_index(drop=True)


def _z_columns(frame: pd.DataFrame) -> list[str]:
    """The latent coordinates ``z0, z1, ...`` in numeric order."""
    return sorted(
        (c for c in frame.columns if c.startswith("z") and c[1:].isdigit()),
        key=lambda c: int(c[1:]),
    )


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    za, zb = _z(a), _z(b)
    return za.shape == zb.shape and bool(np.array_equal(za, zb))


def _z(frame: pd.DataFrame) -> np.ndarray:
    return frame[_z_columns(frame)].to_numpy(dtype=np.float64)


def _targets(run_dir: Path, numeric: bool) -> pd.Series:
    """sample_id -> target, from the held-out predictions (first row of each sample)."""
    path = RunLayout(run_dir).predictions
    if not path.is_file():
        return pd.Series(dtype=object)
    frame = pd.read_csv(path, dtype={"sample_id": str, "y_true": str})
    if "y_true" not in frame:
        return pd.Series(dtype=object)
    first = frame.drop_duplicates("sample_id").set_index("sample_id")["y_true"]
    return pd.to_numeric(first, errors="coerce") if numeric else first


def _map(model, module, frame, targets, *, umap: bool, seed: int) -> LatentMap:
    z = _z(frame)
    n, d = z.shape
    pca, explained = _pca(z)
    target = frame["sample_id"].map(targets).to_numpy()
    part = frame["part"].astype(str).to_numpy() if "part" in frame else np.full(n, "?", object)
    out = LatentMap(
        model=model,
        module=module,
        split=str(frame["split"].iloc[0]) if "split" in frame else "",
        member=int(frame["member"].iloc[0]) if "member" in frame else 0,
        dim=d,
        sample_id=frame["sample_id"].to_numpy(dtype=object),
        part=part,
        target=target,
        pca=pca,
        explained=explained,
        same_as=list(frame.attrs.get("same_as", [])),
    )
    if umap:
        out.umap, out.note = _umap(z, seed)
    return out


def _pca(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components (zero-padded when the embedding has one dimension)."""
    n, d = z.shape
    k = min(2, d, n)
    coords = np.zeros((n, 2))
    explained = np.zeros(2)
    if k > 0 and n > 1:
        pca = PCA(n_components=k, svd_solver="full").fit(z)
        coords[:, :k] = pca.transform(z)
        explained[:k] = np.nan_to_num(pca.explained_variance_ratio_)
    return coords, explained


def _umap(z: np.ndarray, seed: int) -> tuple[np.ndarray | None, str]:
    n = len(z)
    if n < MIN_UMAP_SAMPLES:
        return None, f"UMAP skipped: {n} samples (needs at least {MIN_UMAP_SAMPLES})."
    if np.ptp(z, axis=0).max(initial=0.0) == 0.0:
        return None, "UMAP skipped: every sample has the same embedding."
    try:
        umap = _import_umap()
    except ImportError:
        return None, "UMAP skipped: umap-learn is not installed."
    k = min(15, n - 1)
    # exact neighbours from scikit-learn: same graph as umap's own small-data path, without
    # numba compiling its parallel k-NN kernel (most of UMAP's first-call cost)
    dist, index = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=0.1,
        init="pca",
        random_state=seed,
        n_jobs=1,
        precomputed_knn=(index, dist.astype(np.float32), None),
    )
    import torch

    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings():
            # umap / numba talk about threading, the missing search index and connectivity
            warnings.simplefilter("ignore")
            coords = reducer.fit_transform(z.astype(np.float32))
    finally:
        # numba's OpenMP layer resets the process's thread count, which would change the
        # float reductions (and so the numbers) of any training that follows in-process
        torch.set_num_threads(threads)
    return np.asarray(coords, dtype=np.float64), ""


@functools.cache
def _import_umap() -> ModuleType:
    """umap, with numba's on-disk cache switched on for every jitted function of its modules
    (as ``@njit(cache=True)`` would): numba keeps the machine code beside umap's sources (or in
    ``NUMBA_CACHE_DIR``) and recompiles when umap's source files change. Where no cache folder
    is writable a function simply stays uncached."""
    import umap
    from numba.core.dispatcher import Dispatcher

    for name, module in list(sys.modules.items()):
        if name != "umap" and not name.startswith("umap."):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, Dispatcher):
                # RuntimeError: numba found no writable cache folder for this file
                with contextlib.suppress(RuntimeError):
                    obj.enable_caching()
    return umap


def plot_latent_map(m: LatentMap, *, classes: list[str] | None) -> Figure:
    """PCA (and UMAP) scatter of one latent map, coloured by the target, marker by part.

    Args:
        m: the map, from :func:`latent_map_data`.
        classes: class labels in order (classes get a legend); None for a numeric target
            (a colour bar).

    Returns:
        A figure with one axis per projection, the points exactly ``m.pca`` / ``m.umap``.
    """
    panels = [("PCA", m.pca)] + ([("UMAP", m.umap)] if m.umap is not None else [])
    fig = Figure(figsize=(4.0 * len(panels) + 1.2, 3.9), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    numeric = not classes
    colours, handles = _colours(m.target, numeric, classes)
    artist = None
    for ax, (name, xy) in zip(axes, panels, strict=True):
        for part in sorted(dict.fromkeys(m.part), key=_part_order):
            sel = m.part == part
            artist = ax.scatter(xy[sel, 0], xy[sel, 1], **_style(m, sel, part, numeric, colours))
        if name == "PCA":
            ax.set_xlabel(f"PC1 ({100 * m.explained[0]:.0f}% of variance)")
            ax.set_ylabel(f"PC2 ({100 * m.explained[1]:.0f}% of variance)")
        else:
            ax.set_xlabel("UMAP 1 (arbitrary units)")
            ax.set_ylabel("UMAP 2 (arbitrary units)")
        ax.set_title(name, fontsize=10)
    if numeric and artist is not None:  # every panel shares one colour scale
        fig.colorbar(artist, ax=list(axes), label="target", shrink=0.8)
    for part in sorted(dict.fromkeys(m.part), key=_part_order):
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker=_MARKERS.get(part, "o"),
                mfc="white",
                mec="black",
                label=f"{part} ({int(np.sum(m.part == part))})",
            )
        )
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    same = f" (= {', '.join(m.same_as)})" if m.same_as else ""
    fig.suptitle(
        f"{m.model} · {m.module}{same}: d={m.dim}, split {m.split}, member {m.member}, "
        f"n={len(m.sample_id)}",
        fontsize=10,
    )
    return fig


def _part_order(part: str) -> int:
    return list(_MARKERS).index(part) if part in _MARKERS else len(_MARKERS)


def _colours(target: np.ndarray, numeric: bool, classes: list[str] | None):
    """Per-point colours and legend handles for classification targets."""
    colours = np.full(len(target), "#bbbbbb", dtype=object)
    handles: list = []
    if numeric:
        return colours, handles
    labels = list(classes or sorted({str(t) for t in target if isinstance(t, str)}))
    for i, label in enumerate(labels):
        colours[np.array([str(t) == label for t in target], dtype=bool)] = COLOURS[
            i % len(COLOURS)
        ]
        handles.append(
            Line2D([], [], ls="", marker="o", color=COLOURS[i % len(COLOURS)], label=label)
        )
    if any(not isinstance(t, str) for t in target):
        handles.append(Line2D([], [], ls="", marker="o", color="#bbbbbb", label="never held out"))
    return colours, handles


def _style(m: LatentMap, sel: np.ndarray, part: str, numeric: bool, colours: np.ndarray) -> dict:
    """Scatter keywords: colour by target, test points outlined triangles."""
    style = {
        "s": 18 if part == "test" else 14,
        "marker": _MARKERS.get(part, "o"),
        "edgecolors": "black" if part == "test" else "none",
        "linewidths": 0.4,
        "alpha": 0.85,
    }
    if not numeric:
        return {**style, "c": list(colours[sel])}
    every = np.asarray(m.target, dtype=np.float64)
    finite = every[np.isfinite(every)]
    lo, hi = (finite.min(), finite.max()) if len(finite) else (0.0, 1.0)
    cmap = colormaps["viridis"].with_extremes(bad="#bbbbbb")
    return {**style, "c": every[sel], "cmap": cmap, "vmin": lo, "vmax": hi, "plotnonfinite": True}
