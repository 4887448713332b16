"""The report's explanation sections: feature attributions, attention, graph explanations.

Each reads what ``biozoo explain`` wrote into the run folder (``attributions/``,
``attention/`` and ``attention_maps/``, ``explanations/``). Attention and graph explanations
exist only for transformer and molecule models: without their folders the section is left out
(None) rather than shown empty.
"""

from __future__ import annotations

import base64
import json
import logging
from html import escape
from pathlib import Path

import pandas as pd

from biozoo.report import plots
from biozoo.report.blocks import figure, note, table
from biozoo.report.run_files import RunFiles

__all__ = [
    "attention_section",
    "attributions_section",
    "explanations_section",
    "sample_classes",
]

log = logging.getLogger(__name__)

_UNREADABLE = (ValueError, KeyError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError)
_IMAGES = {".svg": "image/svg+xml", ".png": "image/png"}
_MAX_IMAGE_BYTES = 3_000_000
_MAX_IMAGES = 24


def _files(run: RunFiles, root: Path, draw, *, wide: bool = False) -> str:
    folder = root.name
    files = sorted(root.rglob("*.csv"), key=lambda p: _model_rank(run, p, root))
    if not files:
        return note(f"No {folder}/ in this run folder (biozoo explain writes them).")
    figs = []
    for i, path in enumerate(files):
        label = " · ".join(path.relative_to(root).with_suffix("").parts)
        try:
            fig = draw(pd.read_csv(path), label)
        except _UNREADABLE as err:
            log.warning("report: skipped %s: %s", path, err)
            figs.append(note(f"{folder}/{path.relative_to(root)} skipped: {err}"))
            continue
        figs.append(figure(fig, f"{folder}-{i}", "", wide=wide))
    return f'<div class="grid">{"".join(figs)}</div>'


def _model_rank(run: RunFiles, path: Path, root: Path) -> tuple[int, str]:
    """Files of better-ranked models first (leaderboard order), then by path."""
    order = list(run.board["method"].astype(str)) if run.board is not None else []
    model = path.relative_to(root).parts[0]
    return (order.index(model) if model in order else len(order), str(path))


def attributions_section(run: RunFiles) -> str:
    root = run.layout.attributions
    if not root.is_dir():
        return note(
            "No attributions/ in this run folder: biozoo explain writes them (and, for "
            "transformer or molecule models, attention maps and graph explanations)."
        )
    summaries = _attribution_summaries(root)
    n_splits = len(run.metrics.get("splits") or []) or None
    rows = []
    for model, sm in summaries.items():
        for modality, mod in (sm.get("modalities") or {}).items():
            agreement = mod.get("rank_agreement")
            rows.append(
                [
                    escape(model),
                    escape(str(modality)),
                    escape(str(sm.get("method", "?")).replace("_", " ")),
                    escape(str(sm.get("explained", "?"))),
                    escape(str(sm.get("baseline", "?"))),
                    f"{agreement:.2f}" if isinstance(agreement, int | float) else "n/a",
                    escape(str(mod.get("n_features", "?"))),
                ]
            )
    intro = (
        "<p>Each deep model explains every split's held-out samples with the split's own "
        "models (never data it trained on). Per split, |attribution| is averaged over the "
        "test samples and the ensemble's members, then over splits (0 in a split whose "
        "feature selection dropped the feature). Left: mean |attribution|, with the sd over "
        "splits above it (a magnitude has no lower whisker below 0). Right: the signed mean, "
        "the direction in which the feature moves the explained output. The features listed "
        "are the union over splits of the features each split selected; * marks one that "
        "fewer than all splits selected. Rank agreement is the mean pairwise Spearman "
        "correlation of the splits' rankings: near 1, the ranking is stable across splits; "
        "near 0, it is not and the top features should not be read one by one.</p>"
    )
    if rows:
        header = [
            "model",
            "modality",
            "method",
            "what is explained",
            "baseline",
            "rank agreement",
            "features",
        ]
        intro += f'<div class="scroll">{table(header, rows)}</div>'
    if not any(root.rglob("*.csv")):
        return intro + note(
            "attributions/ holds no feature table: no model of this run reads a table "
            "modality (sequence inputs are explained by their attention instead)."
        )

    def draw(frame: pd.DataFrame, label: str):
        return plots.attribution_figure(frame, title=label, n_splits=n_splits)

    return intro + _files(run, run.layout.attributions, draw)


def _attribution_summaries(root: Path) -> dict[str, dict]:
    """``model -> summary.json`` of ``biozoo explain`` (unreadable files left out)."""
    out = {}
    for path in sorted(root.glob("*/summary.json")):
        try:
            out[path.parent.name] = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            log.warning("report: skipped %s: %s", path, err)
    return out


def attention_section(run: RunFiles) -> str | None:
    """Per-token strips from ``attention/``, then one full map per file of ``attention_maps/``.

    None (no section) when the run folder has neither: only transformer encoders have them.
    """
    layout = run.layout
    if not layout.attention.is_dir() and not layout.attention_maps.is_dir():
        return None
    labels = sample_classes(run)

    def strip(frame: pd.DataFrame, label: str):
        return plots.attention_figure(frame, title=label, sample_labels=labels)

    intro = (
        "<p>Attention of the transformer encoders. Each split's models read the split's "
        "held-out samples. A strip shows, per token, the attention it receives, averaged over "
        "heads and layers, over the sample's real query tokens and over the ensemble's "
        "members; the first 8 samples of the first split are drawn, with their true class "
        "in brackets. The full map is the first sample's query × key attention averaged over "
        "layers and heads; CLS* is the encoder's own summary token (position −1), distinct "
        "from a [CLS] token of the input.</p>"
    )
    html = intro
    if layout.attention.is_dir():
        html += _files(run, layout.attention, strip, wide=True)
    if layout.attention_maps.is_dir():
        html += _files(run, layout.attention_maps, _attention_map)
    return html


def sample_classes(run: RunFiles) -> dict[str, str]:
    """``sample id -> true class`` from the run's predictions (empty without classes)."""
    if run.preds is None or "y_true" not in run.preds or not run.classes:
        return {}
    first = run.preds.drop_duplicates("sample_id")
    return dict(zip(first["sample_id"].astype(str), first["y_true"].astype(str), strict=True))


def _attention_map(frame: pd.DataFrame, label: str):
    return plots.attention_map_figure(frame, title=label)


def explanations_section(run: RunFiles) -> str | None:
    """Graph-explanation images; None (no section) when the run folder has none."""
    root = run.layout.explanations
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in _IMAGES)
    if not root.is_dir():
        return None
    if not files:
        return note("No explanations/ images in this run folder.")
    figs = []
    if len(files) > _MAX_IMAGES:
        figs.append(note(f"Showing the first {_MAX_IMAGES} of {len(files)} images."))
    for i, path in enumerate(files[:_MAX_IMAGES]):
        label = escape(str(path.relative_to(root)))
        if path.stat().st_size > _MAX_IMAGE_BYTES:
            figs.append(note(f"{path.relative_to(root)} skipped: larger than 3 MB."))
            continue
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        src = f"data:{_IMAGES[path.suffix.lower()]};base64,{data}"
        figs.append(
            f'<figure class="plot" data-plot="explanation-{i}"><img src="{src}" '
            f'alt="{label}"><figcaption>{label}</figcaption></figure>'
        )
    return f'<div class="grid">{"".join(figs)}</div>'
