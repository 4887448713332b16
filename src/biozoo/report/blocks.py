"""Small HTML pieces shared by the report's sections: figures, notes, tables, labels."""

from __future__ import annotations

from html import escape

from matplotlib.figure import Figure

from biozoo.report.plots import to_svg

__all__ = ["LABELS", "figure", "note", "signed", "swatch", "table"]

LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "balanced_accuracy": "bal. accuracy",
    "macro_f1": "macro F1",
    "accuracy": "accuracy",
    "log_loss": "log loss",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "c_index": "C-index",
    "uno_c_index": "Uno's C",
    "ibs": "IBS",
    "td_auc": "td-AUC",
}
"""How each metric is named on the page."""


def figure(fig: Figure, key: str, caption: str, *, wide: bool = False) -> str:
    """A figure as inline SVG in a ``<figure>`` card (``wide``: a whole grid row)."""
    cls = "plot wide" if wide else "plot"
    text = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure class="{cls}" data-plot="{escape(key)}">{to_svg(fig, key)}{text}</figure>'


def note(text: str) -> str:
    """A muted line of plain text (escaped here)."""
    return f'<p class="note">{escape(text)}</p>'


def table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A table of HTML-safe cells."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def swatch(colour: str | None) -> str:
    """A small square of a method's colour, put before its name."""
    return f'<span class="swatch" style="background:{colour}"></span>' if colour else ""


def signed(x: float | None, fmt: str = "+.3f") -> str:
    """A number with a true minus sign (``n/a`` for None)."""
    return "n/a" if x is None else format(x, fmt).replace("-", "−")
