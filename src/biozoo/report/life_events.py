"""``report.html`` of a life-event run folder (``biozoo events``), from the folder's files only.

Sections: the metrics of every method (the transformer and the baselines, on the same test
patients), next-event ROC AUC per code, waiting-time calibration (predicted against observed
rate per decile of predicted rate), cumulative incidence by age (observed on test patients,
sampled from the model, Aalen–Johansen from training patients), training curve, config.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from biozoo._atomic import atomic_file
from biozoo.errors import BiozooError
from biozoo.report.blocks import figure, note, table
from biozoo.report.plots import COLOURS
from biozoo.report.template import PAGE, section

__all__ = ["render_life_events_report", "write_life_events_report"]

_LABELS = {
    "nll_per_event": "NLL per event ↓",
    "auc_macro": "next-event AUC (macro)",
    "auc_age_sex_strata": "AUC within age band x sex",
    "calibration_events_over_expected": "events / expected",
    "calibration_max_abs_log_ratio": "worst decile |log(events/expected)| ↓",
    "incidence_mean_abs_error": "incidence: mean |error| ↓",
}


def write_life_events_report(run_dir: Path) -> Path:
    """Write ``<run_dir>/report.html`` atomically and return its path."""
    page = render_life_events_report(Path(run_dir))
    out = Path(run_dir) / "report.html"
    with atomic_file(out) as tmp, tmp.open("x", encoding="utf-8") as f:
        f.write(page)
    return out


def render_life_events_report(run_dir: Path) -> str:
    """The report page of a life-event run folder as an HTML string."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").is_file():
        raise BiozooError(f"{run_dir} is not a life-event run folder (no metrics.json).")
    summary = json.loads((run_dir / "metrics.json").read_text())
    metrics = pd.read_csv(run_dir / "metrics.csv")
    auc = pd.read_csv(run_dir / "auc.csv")
    calibration = pd.read_csv(run_dir / "calibration.csv")
    incidence = pd.read_csv(run_dir / "incidence.csv")
    parts = [
        ("metrics", "Methods on the test patients", _metrics(metrics, summary)),
        ("auc", "Next-event ROC AUC per code", _auc(auc)),
        ("calibration", "Waiting-time calibration", _calibration(calibration)),
        ("incidence", "Cumulative incidence by age", _incidence(incidence)),
        ("training", "Training", _training(run_dir)),
        ("configuration", "Configuration", _configuration(run_dir)),
    ]
    name = str(summary.get("name") or run_dir.name)
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in parts)
    body = "".join(
        section(key, escape(title), html, open_=key != "configuration")
        for key, title, html in parts
    )
    p = summary.get("patients", {})
    subtitle = (
        f"life events: {p.get('train', '?')} training and {p.get('test', '?')} test patients; "
        f"{summary.get('test_unknown_events', 0)} test events with codes unseen in training"
    )
    return PAGE.format(
        title=escape(f"biozoo report: {name}"),
        heading=escape(name),
        subtitle=escape(subtitle),
        verdict=escape(_verdict(metrics)),
        nav=nav,
        body=body,
    )


def _fmt(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.3f}"


def _verdict(metrics: pd.DataFrame) -> str:
    m = metrics.set_index("method")["auc_macro"].dropna()
    if m.empty:
        return "no next-event AUC could be computed."
    best = m.idxmax()
    return f"best next-event AUC (macro over codes): {best} {m[best]:.3f}."


def _metrics(metrics: pd.DataFrame, summary: dict) -> str:
    cols = [c for c in _LABELS if c in metrics.columns]
    rows = [[escape(str(r["method"])), *(_fmt(r[c]) for c in cols)] for _, r in metrics.iterrows()]
    text = note(
        "n/a: the method gives no such number (the logistic baseline predicts the next code "
        "only; Aalen–Johansen gives incidence only; the age-sex rates have no sampled futures)."
    )
    return table(["method", *(escape(_LABELS[c]) for c in cols)], rows, "board") + text


def _auc(auc: pd.DataFrame) -> str:
    overall = auc[auc.age_band == "all"].pivot_table(
        index="code", columns="method", values="auc", aggfunc="first", dropna=False
    )
    cases = auc[auc.age_band == "all"].groupby("code")["cases"].first()
    methods = list(overall.columns)
    rows = [
        [
            escape(str(code)),
            str(int(cases.get(code, 0))),
            *(_fmt(overall.loc[code, m]) for m in methods),
        ]
        for code in overall.index
    ]
    return table(["next event", "cases", *map(escape, methods)], rows) + note(
        "All test transitions; the age band x sex strata are in auc.csv."
    )


def _calibration(cal: pd.DataFrame) -> str:
    if cal.empty:
        return note("No method with rates.")
    fig = Figure(figsize=(5.2, 4.0))
    ax = fig.add_subplot()
    for i, (method, g) in enumerate(cal.groupby("method", sort=False)):
        ax.plot(g.predicted_rate, g.observed_rate, "o-", color=COLOURS[i], label=method, ms=4)
    lo = float(np.nanmin(cal[["predicted_rate", "observed_rate"]].to_numpy()))
    hi = float(np.nanmax(cal[["predicted_rate", "observed_rate"]].to_numpy()))
    lo = max(lo, 1e-6)
    ax.plot([lo, hi], [lo, hi], ls="--", color="#888", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted total rate (per year)")
    ax.set_ylabel("observed rate (events / person-years)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    caption = "Per decile of predicted rate; on the dashed line the rates are right."
    return f'<div class="grid">{figure(fig, "life-calibration", caption)}</div>'


def _incidence(inc: pd.DataFrame) -> str:
    codes = list(dict.fromkeys(inc.code))
    methods = [c for c in inc.columns if c not in ("code", "age", "observed")]
    cols = min(4, len(codes))
    rows_n = int(np.ceil(len(codes) / cols))
    fig = Figure(figsize=(2.6 * cols, 2.1 * rows_n + 0.4))
    axes = fig.subplots(rows_n, cols, squeeze=False, sharex=True)
    for ax, code in zip(axes.flat, codes, strict=False):
        g = inc[inc.code == code]
        ax.plot(g.age, g.observed, "k-o", ms=3, label="observed (test)")
        for i, m in enumerate(methods):
            ax.plot(g.age, g[m], "--", color=COLOURS[i], label=m)
        ax.set_title(str(code), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(codes) :]:
        ax.set_axis_off()
    axes.flat[0].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    caption = (
        "Aalen–Johansen cumulative incidence (terminal codes competing) on the test patients "
        "(observed), on trajectories sampled from each test patient's first event (delphi) "
        "and on the training patients (aalen_johansen)."
    )
    return figure(fig, "life-incidence", caption, wide=True)


def _training(run_dir: Path) -> str | None:
    path = run_dir / "history.csv"
    if not path.is_file():
        return note("No training curve.")
    h = pd.read_csv(path)
    fig = Figure(figsize=(5.2, 3.4))
    ax = fig.add_subplot()
    ax.plot(h.epoch, h.fit_nll, label="training patients")
    ax.plot(h.epoch, h.val_nll, label="validation patients")
    ax.set_xlabel("epoch")
    ax.set_ylabel("NLL per transition")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return f'<div class="grid">{figure(fig, "life-training", "")}</div>'


def _configuration(run_dir: Path) -> str:
    config = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else ""
    return f"<pre>{escape(config)}</pre>"
