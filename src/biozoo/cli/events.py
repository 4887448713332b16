"""``biozoo events CONFIG``: the life-event protocol, its run folder and report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from biozoo.cli.app import _check_out_dir, _friendly, app, err_console, out_console

__all__ = ["events"]

_SHOWN = {
    "nll_per_event": "NLL ↓",
    "auc_macro": "AUC",
    "auc_age_sex_strata": "AUC strata",
    "calibration_events_over_expected": "obs/exp",
    "incidence_mean_abs_error": "incid. err ↓",
}


@app.command()
@_friendly
def events(
    config: Annotated[Path, typer.Argument(help="Life-event config (YAML).")],
    out: Annotated[Path, typer.Option(help="Folder for the run folder.")] = Path("runs"),
) -> None:
    """Train the life-event model of CONFIG, score it and its baselines on held-out patients,
    sample futures; write a run folder with report.html."""
    from biozoo.pipelines.life_events import (
        load_life_events_config,
        run_life_events,
        write_life_events_run,
    )

    cfg = load_life_events_config(config)
    _check_out_dir(out)
    with err_console.status("training the life-event model and its baselines"):
        res = run_life_events(cfg)
        path = write_life_events_run(res, cfg, out)
    n_train, n_test = len(res.patients["train"]), len(res.patients["test"])
    table = Table(
        title=f"{cfg.name}: {n_train} training, {n_test} test patients; metrics on test patients",
        box=box.SIMPLE_HEAD,
        caption="NLL: per event; AUC: next event, macro over codes (strata: age band x sex); "
        "obs/exp: events over expected; incid. err: mean |incidence - observed|; "
        "n/a: the method gives no such number",
    )
    table.add_column("method", no_wrap=True)
    for label in _SHOWN.values():
        table.add_column(label, justify="right", no_wrap=True)
    for _, row in res.metrics.iterrows():
        cells = [_cell(row[k]) for k in _SHOWN]
        table.add_row(
            str(row["method"]), *cells, style=None if row["method"] == "delphi" else "dim"
        )
    out_console.print(table)
    out_console.print(
        f"test events with codes unseen in training (read as [UNK]): {res.test_unknown_events}"
    )
    out_console.print(f"run folder: {path}  ({res.seconds['total']:.0f} s)")
    out_console.print(f"report: {path / 'report.html'}")


def _cell(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"
