"""The Training section: history files of a real run, the curves drawn from them, the text."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from biozoo.report import render_report
from biozoo.report.training import kept_epochs, read_histories, training_figure
from biozoo.train.history import HISTORY_COLUMNS
from biozoo.train.runfolder import RunLayout

TASKS = ("binary", "multiclass", "regression")


def _metrics(run) -> dict:
    return json.loads(RunLayout(run).metrics.read_text())


@pytest.mark.parametrize("task", TASKS)
def test_a_history_file_per_model_and_split_agrees_with_metrics_json(task, run_dirs):
    run = run_dirs[task]
    metrics, layout = _metrics(run), RunLayout(run)
    members = yaml.safe_load(layout.config.read_text())["training"]["ensemble"]
    metric = [] if task == "regression" else ["val_roc_auc"]
    for model, summaries in metrics["training"].items():
        for s in summaries:
            history = pd.read_csv(layout.history(model, s["split"]))
            assert list(history.columns) == [*HISTORY_COLUMNS, *metric]
            assert len(history) == s["epochs_run"] * members
            for m, (epoch, loss) in enumerate(
                zip(s["best_epoch"], s["best_val_loss"], strict=True)
            ):
                row = history[(history["member"] == m) & (history["epoch"] == epoch)]
                assert row["val_loss"].item() == pytest.approx(loss, rel=1e-12)
    assert sorted(p.name for p in layout.history_dir.iterdir()) == sorted(metrics["training"])


def test_the_curves_and_dots_are_the_csv_values(run_dirs):
    run = run_dirs["binary"]
    metrics = _metrics(run)
    histories = read_histories(run, list(metrics["training"]), metrics["splits"])
    model = next(iter(histories))
    frames = histories[model]
    assert list(frames) == metrics["splits"]
    per_split = {s["split"]: s for s in metrics["training"][model]}
    kept = {split: kept_epochs(h, per_split[split]) for split, h in frames.items()}
    fig = training_figure(frames, kept, colour="#1f77b4", title=model)
    axes = fig.axes
    n = len(frames)
    assert len(axes) == 2 * n  # a loss row and a validation ROC AUC row, one column per split
    for col, (split, history) in enumerate(frames.items()):
        loss_ax, auc_ax = axes[col], axes[n + col]
        dashed = [ln for ln in loss_ax.lines if ln.get_linestyle() == "--"]
        solid = [ln for ln in loss_ax.lines if ln.get_linestyle() == "-"]
        dots = [ln for ln in loss_ax.lines if ln.get_marker() == "o"]
        for m, rows in history.groupby("member"):
            np.testing.assert_array_equal(dashed[m].get_ydata(), rows["train_loss"])
            np.testing.assert_array_equal(solid[m].get_ydata(), rows["val_loss"])
            np.testing.assert_array_equal(auc_ax.lines[2 * m].get_ydata(), rows["val_roc_auc"])
            epoch = per_split[split]["best_epoch"][m]
            assert dots[m].get_xdata().tolist() == [epoch]
            assert (
                dots[m].get_ydata().tolist()
                == rows.loc[rows["epoch"] == epoch, "val_loss"].tolist()
            )


def _fake_history(n_epochs: int, members: int, metric: bool) -> pd.DataFrame:
    epoch = np.repeat(np.arange(n_epochs), members)
    frame = {
        "epoch": epoch,
        "member": np.tile(np.arange(members), n_epochs),
        "train_loss": 1.0 / (1 + epoch),
        "val_loss": 1.0 / (1 + epoch) + 0.01 * epoch,
    }
    if metric:
        frame["val_roc_auc"] = 0.5 + 0.01 * epoch
    return pd.DataFrame(frame)


def test_many_splits_wrap_into_bands_and_regression_has_no_metric_row():
    frames = {f"r{i // 5}-f{i % 5}": _fake_history(10, 5, metric=False) for i in range(7)}
    kept = {split: kept_epochs(h, None) for split, h in frames.items()}
    fig = training_figure(frames, kept, colour="#d62728", title="m")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 2 * 5 and len(visible) == 7  # two bands of 5, three panels unused
    assert [ax.get_title() for ax in visible] == [f"{s} · 10 epochs" for s in frames]
    # without recorded kept epochs, the dot is each member's lowest validation loss
    dots = [ln for ln in visible[0].lines if ln.get_marker() == "o"]
    assert [d.get_xdata().tolist() for d in dots] == [[9]] * 5  # 1/(1+e) + e/100


def test_the_section_links_the_member_scores_and_lists_epochs(run_dirs):
    run = run_dirs["binary"]
    page = render_report(run, umap=False)
    assert '<section id="training">' in page and 'href="#training"' in page
    assert '<h3 id="members">' in page and 'href="#members"' in page
    for summaries in _metrics(run)["training"].values():
        runs = ", ".join(str(s["epochs_run"]) for s in summaries)
        assert f"<td>{runs}</td>" in page


def test_a_run_without_deep_models_has_no_training_section(run_dirs, tmp_path):
    run = tmp_path / "baselines-only"
    shutil.copytree(run_dirs["binary"], run)
    shutil.rmtree(run / "history")
    metrics = _metrics(run)
    for key in ("training", "members"):
        metrics[key] = {}
    (run / "metrics.json").write_text(json.dumps(metrics))
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["models"] = {}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    page = render_report(run, umap=False)
    assert '<section id="training">' not in page and 'href="#training"' not in page
