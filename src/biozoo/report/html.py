"""``report.html``: one self-contained page per run folder, built from the folder's files only.

The page needs nothing at view time: figures are inline SVG, the style sheet is inline, there is
no script, and no ``src`` / ``href`` points outside the page (explanation images are embedded
as ``data:`` URIs). Because it reads only the run folder, it can be rebuilt for an old run or
after ``biozoo explain`` has added ``attributions/``, ``attention/``, ``explanations/`` or
``image_maps/``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape
from pathlib import Path

import pandas as pd

import biozoo.report.plots as plots
from biozoo._atomic import atomic_file
from biozoo.evaluate import format_mean_sd
from biozoo.registry import Registry
from biozoo.report.blocks import LABELS, figure, note, swatch, table
from biozoo.report.comparison import bold_cells, comparison_section
from biozoo.report.explained import attention_section, attributions_section, explanations_section
from biozoo.report.latent_maps import latent_map_data, plot_latent_map
from biozoo.report.overlays import image_maps_section
from biozoo.report.run_files import RunFiles, read_run
from biozoo.report.search import search_section
from biozoo.report.sequence import (
    accuracy_by_length_figure,
    cross_attention_figure,
    cross_attention_maps,
)
from biozoo.report.survival import km_figure
from biozoo.report.template import PAGE, section
from biozoo.report.training import training_section
from biozoo.train.runfolder import RunLayout

__all__ = ["render_report", "write_report"]

log = logging.getLogger(__name__)


def write_report(run_dir: Path, *, umap: bool = True) -> Path:
    """Write ``<run_dir>/report.html`` atomically (a temporary file renamed when complete).

    Args:
        run_dir: a finished run folder (``metrics.json`` and the files beside it).
        umap: include UMAP maps of the latents (numba compiles UMAP on its first use in a
            process, 10-20 s); PCA maps are always drawn.

    Returns:
        The path of the report.

    Raises:
        BiozooError: ``run_dir`` is not a run folder.
    """
    layout = RunLayout(Path(run_dir))
    page = render_report(layout.root, umap=umap)
    with atomic_file(layout.report) as tmp, tmp.open("x", encoding="utf-8") as f:
        f.write(page)
    return layout.report


def render_report(run_dir: Path, *, umap: bool = True) -> str:
    """The report page of a run folder as an HTML string (see :func:`write_report`)."""
    run = read_run(Path(run_dir))
    paired = run.paired()
    parts = [
        ("summary", "Data set and protocol", _summary(run)),
        ("leaderboard", "Leaderboard", _leaderboard(run)),
        ("comparison", "Paired comparison", comparison_section(run, paired)),
        ("predictions", "Held-out predictions", _predictions(run)),
        ("search", "Search", search_section(run)),
        ("training", "Training", training_section(run)),
        ("latents", "Latent maps", _latents(run, umap=umap)),
        ("attributions", "Feature attributions", attributions_section(run)),
        ("attention", "Attention maps", attention_section(run)),
        ("explanations", "Graph explanations", explanations_section(run)),
        ("image_maps", "Image explanations", image_maps_section(run)),
        ("configuration", "Configuration and versions", _configuration(run)),
    ]
    parts = [p for p in parts if p[2] is not None]  # None: cannot apply to this run
    name = str(run.config.get("name") or run.path.name)
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in parts)
    body = "".join(
        section(key, escape(title), html, open_=key != "configuration")
        for key, title, html in parts
    )
    return PAGE.format(
        title=escape(f"biozoo report: {name}"),
        heading=escape(name),
        subtitle=escape(_subtitle(run)),
        verdict=escape(paired["verdict"]),
        nav=nav,
        body=body,
    )


def _subtitle(run: RunFiles) -> str:
    version = (run.versions.get("packages") or {}).get("biozoo")
    written = f"biozoo {version}" if version else "biozoo"
    return f"{run.task_name} · {run.metrics.get('n_samples', '?')} samples · trained with {written}"


def _summary(run: RunFiles) -> str:
    m, cfg = run.metrics, run.config
    facts = [("samples", str(m.get("n_samples", "?"))), ("task", run.task_name)]
    if run.classes:
        facts.append(("classes", ", ".join(escape(c) for c in run.classes) + _class_counts(run)))
    target = (cfg.get("data") or {}).get("target") or {}
    if target.get("column"):
        facts.append(("target", escape(str(target["column"]))))
    split = (cfg.get("training") or {}).get("split") or {}
    facts.append(("splits", escape(_split_text(split, m.get("splits") or []))))
    training = cfg.get("training") or {}
    if "ensemble" in training:
        facts.append(("ensemble", f"{training['ensemble']} members per split"))
    facts.append(("deep models", escape(", ".join(cfg.get("models") or {}) or "none")))
    facts.append(("baselines", escape(", ".join(cfg.get("baselines") or []) or "none")))
    seconds = (m.get("seconds") or {}).get("total")
    if isinstance(seconds, int | float):
        facts.append(("run time", f"{seconds:.0f} s"))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    rows = []
    kinds = m.get("modality_kinds") or {}
    for name, n in (m.get("modalities") or {}).items():
        rows.append(
            [escape(name), escape(str(kinds.get(name, ""))), escape(str(n)), escape(_kept(m, name))]
        )
    mods = table(["modality", "kind", "features in the data", "kept after selection"], rows)
    return f'<dl class="facts">{dl}</dl>{mods}'


def _class_counts(run: RunFiles) -> str:
    if run.preds is None or "y_true" not in run.preds:
        return ""
    counts = run.preds.drop_duplicates("sample_id")["y_true"].value_counts()
    text = ", ".join(f"{escape(c)}: {int(counts.get(c, 0))}" for c in run.classes)
    return f" <small>(held-out samples: {text})</small>"


def _split_text(split: dict, names: list) -> str:
    if split.get("kind") == "holdout":
        how = f"repeated hold-out, {split.get('test_size', '?')} of samples held out"
    elif split.get("kind") == "kfold":
        how = f"{split.get('folds', '?')}-fold cross-validation × {split.get('repeats', 1)}"
    else:
        how = "outer splits"
    return f"{len(names)} ({how})"


def _kept(metrics: dict, modality: str) -> str:
    """Features kept by the fold transforms: a number, or the range over splits."""
    kept = [t.get(modality, {}).get("kept") for t in (metrics.get("transforms") or {}).values()]
    kept = [k for k in kept if isinstance(k, int)]
    if not kept:
        return "n/a"
    return str(kept[0]) if min(kept) == max(kept) else f"{min(kept)}–{max(kept)} (over splits)"


def _leaderboard(run: RunFiles) -> str:
    board = run.board
    if board is None or board.empty:
        return note("No leaderboard.csv in this run folder.")
    names = [c[: -len("_mean")] for c in board.columns if c.endswith("_mean")]
    per_split, sizes = run.metrics.get("per_split") or {}, run.sizes
    higher = run.task.higher_is_better
    best = {
        n: bold_cells(per_split, sizes, n, higher_is_better=higher.get(n, True))
        for n in names
    }
    header = ["#", "method", "kind", "splits"] + [
        f"{escape(LABELS.get(n, n))} {'↑' if higher.get(n, True) else '↓'}" for n in names
    ]
    rows = []
    for i, row in board.iterrows():
        kind = str(row.get("kind", "")) if pd.notna(row.get("kind", "")) else ""
        cells = [
            str(i + 1),
            swatch(run.colours.get(str(row["method"]))) + escape(str(row["method"])),
            f'<span class="tag {escape(kind)}">{escape(kind)}</span>' if kind else "",
            str(row.get("n_splits", "")),
        ]
        for n in names:
            mean, sd = float(row[f"{n}_mean"]), float(row.get(f"{n}_sd", float("nan")))
            text = escape(format_mean_sd(mean, sd))
            cells.append(f"<b>{text}</b>" if best[n] == str(row["method"]) else text)
        rows.append(cells)
    primary = LABELS.get(run.primary, run.primary)
    caption = (
        f"Mean ± sd over outer splits, sorted by {escape(primary)}. Deep models and classical "
        "baselines were scored on the same splits. A value is bold only when its method is "
        "better than every other method beyond split-to-split noise (the 95% corrected "
        "resampled t interval of each paired difference excludes 0; see Paired comparison)."
    )
    if not any(best.values()):
        caption += " No value is bold: no method stands out from the others in any column."
    return f'<p>{caption}</p><div class="scroll">{table(header, rows, "board")}</div>'


def _highlights(run: RunFiles) -> list[str]:
    """The best deep model and the best baseline (leaderboard order), else the top two."""
    if run.board is None or run.board.empty:
        return list(dict.fromkeys(run.preds["method"]))[:2] if run.preds is not None else []
    board = run.board
    if "kind" in board:
        kinds = board["kind"].astype(str)
        chosen = [
            board.loc[kinds == k, "method"].iloc[0]
            for k in ("deep", "baseline")
            if (kinds == k).any()
        ]
        if chosen:
            return chosen
    return board["method"].head(2).tolist()


def _predictions(run: RunFiles) -> str:
    preds = run.preds
    if preds is None or preds.empty:
        return note("No predictions.csv in this run folder.")
    n_splits = preds["split"].nunique() if "split" in preds else "?"
    intro = (
        f"<p>Each row of predictions.csv is a sample scored by a model that did not see "
        f"it; the plots pool these rows over all {n_splits} splits "
        f"({preds['sample_id'].nunique()} distinct samples). Numbers on the plots are of "
        f"the pooled predictions and can differ from the leaderboard's per-split means.</p>"
    )
    chosen = [m for m in _highlights(run) if m in set(preds["method"])]
    if run.task_name not in PREDICTION_FIGURES:
        return intro + note(f"No prediction plots for task {run.task_name!r}.")
    figs = PREDICTION_FIGURES.get(run.task_name)(run, preds, chosen)
    return intro + f'<div class="grid">{"".join(figs)}</div>'


PredictionFigures = Callable[["RunFiles", pd.DataFrame, list[str]], list[str]]
PREDICTION_FIGURES: Registry[PredictionFigures] = Registry("prediction figures")
"""Task name -> the figures of the report's predictions section (as ``<figure>`` HTML)."""


@PREDICTION_FIGURES.register("regression")
def _regression_figures(run: RunFiles, preds: pd.DataFrame, chosen: list[str]) -> list[str]:
    target = str(((run.config.get("data") or {}).get("target") or {}).get("column") or "target")
    fig = plots.regression_figure(preds, methods=chosen, target=target)
    cap = "Best deep model and best baseline: predicted vs observed values, and residuals."
    return [figure(fig, "regression", cap, wide=True)]


def _classification_figures(run: RunFiles, preds: pd.DataFrame, chosen: list[str]) -> list[str]:
    methods = _method_kinds(run, preds)
    many = len(run.classes)
    binary = many == 2
    return [
        figure(
            plots.roc_pr_figure(
                preds, binary=binary, classes=run.classes, methods=methods, colours=run.colours
            ),
            "roc-pr",
            "ROC and precision-recall curves of every method (solid: deep models, "
            "dashed: baselines).",
            wide=True,
        ),
        figure(
            plots.confusion_figure(preds, classes=run.classes, methods=chosen),
            "confusion",
            "Confusion matrices of the best deep model and the best baseline, pooled over "
            "splits: counts, shaded by the share of each true class (row). The predicted class "
            "is the most probable one"
            + (f" (for two classes: p({escape(run.classes[1])}) above 0.5)" if many < 3 else "")
            + ".",
            wide=many > 4,
        ),
        figure(
            plots.calibration_figure(
                preds, binary=binary, classes=run.classes, methods=chosen, colours=run.colours
            ),
            "calibration",
            "Reliability diagram (10 equal-width bins) with the number of predictions per bin.",
        ),
    ]


PREDICTION_FIGURES.register("binary")(_classification_figures)
PREDICTION_FIGURES.register("multiclass")(_classification_figures)


@PREDICTION_FIGURES.register("survival")
def _survival_figures(run: RunFiles, preds: pd.DataFrame, chosen: list[str]) -> list[str]:
    methods = [m for m, _ in _method_kinds(run, preds)]
    fig = km_figure(preds, methods)
    cap = (
        "Kaplan–Meier curves of the held-out samples in the low- and high-risk halves of "
        "each split's predicted risk (pooled over splits), with the log-rank p-value."
    )
    return [figure(fig, "km", cap, wide=True)]


@PREDICTION_FIGURES.register("sequence")
def _sequence_figures(run: RunFiles, preds: pd.DataFrame, chosen: list[str]) -> list[str]:
    methods = [m for m, _ in _method_kinds(run, preds)]
    figs = [
        figure(
            accuracy_by_length_figure(preds, methods),
            "accuracy-by-length",
            "Per-residue accuracy of every model against the true length of the target "
            "sequence (equal-width length bins, pooled over splits).",
            wide=True,
        )
    ]
    for i, (model, frame) in enumerate(cross_attention_maps(run.path).items()):
        if frame.empty:
            continue
        figs.append(
            figure(
                cross_attention_figure(frame, model),
                f"cross-attention-{i}",
                f"Cross-attention of {escape(model)}: the attention of each decoded residue "
                "(row) over the input tokens (columns), first test sample of the first "
                "split, first member; all maps of a few samples are in cross_attention/.",
                wide=True,
            )
        )
    return figs


def _method_kinds(run: RunFiles, preds: pd.DataFrame) -> list[tuple[str, str]]:
    if run.board is not None and not run.board.empty:
        kinds = run.board["kind"].fillna("") if "kind" in run.board else [""] * len(run.board)
        return list(zip(run.board["method"].astype(str), map(str, kinds), strict=True))
    return [(m, "") for m in dict.fromkeys(preds["method"])]


def _latents(run: RunFiles, *, umap: bool) -> str:
    seed = int((run.config.get("training") or {}).get("seed") or 0)
    maps = latent_map_data(run.path, umap=umap, seed=seed, numeric=not run.classes)
    if not maps:
        return note("No latents/ in this run folder (output.latents was off).")
    intro = (
        "<p>Each module's embedding before concatenation, and the fused embedding, "
        "projected to 2-d: PCA, and UMAP (Euclidean, up to 15 neighbours, min_dist 0.1, "
        f"seed {seed}). Fold models do not share a coordinate system, so each map shows "
        "one network: the first split's ensemble member 0 applied to every sample. "
        "Triangles with a black edge are the samples that split held out; colour is the "
        "true class or value, read from predictions.csv. A sample that no split held out "
        "has no row there, so its target is unknown to the report: it is drawn grey "
        "(legend: never held out).</p>"
    )
    figs = []
    for i, m in enumerate(maps):
        fig = plot_latent_map(m, classes=run.classes or None)
        caption = escape(m.note)
        figs.append(figure(fig, f"latent-{i}", caption, wide=m.umap is not None))
    return intro + f'<div class="grid">{"".join(figs)}</div>'


def _configuration(run: RunFiles) -> str:
    v = run.versions
    rows = [[k, escape(str(v[k]))] for k in ("python", "platform", "machine", "seed") if k in v]
    rows += [[escape(k), escape(str(p))] for k, p in (v.get("packages") or {}).items()]
    return (
        f"<h3>versions.json</h3>{table(['', 'version'], rows)}"
        f"<h3>config.yaml</h3><pre>{escape(run.config_text or '(missing)')}</pre>"
    )
