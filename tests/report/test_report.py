"""report.html: contents per task, no external resources, latent maps that match the CSVs."""

from __future__ import annotations

import json
import os
import re
import shutil
from html import escape

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from biozoo import _atomic
from biozoo.errors import BiozooError
from biozoo.evaluate import format_mean_sd
from biozoo.report import html as report_html
from biozoo.report import latent_map_data, write_report
from biozoo.report.latent_maps import plot_latent_map
from biozoo.report.plots import (
    attention_figure,
    attention_map_figure,
    attribution_figure,
    calibration_figure,
    confusion_figure,
)
from biozoo.report.run_files import read_run
from biozoo.tasks import TASKS as REGISTRY

TASKS = ("binary", "multiclass", "regression")
SECTIONS = (
    "summary",
    "leaderboard",
    "comparison",
    "predictions",
    "training",
    "latents",
    "attributions",
    "configuration",
)
"""Every report's sections; attention and graph explanations only where the run has them."""


@pytest.fixture(scope="module")
def reports(run_dirs):
    return {task: write_report(run, umap=False).read_text() for task, run in run_dirs.items()}


def _plots(page: str) -> list[str]:
    return re.findall(r'<figure class="plot[^"]*" data-plot="([^"]+)"', page)


def _preds(run):
    return pd.read_csv(run / "predictions.csv", dtype={"y_true": str, "sample_id": str})


@pytest.mark.parametrize("task", TASKS)
def test_every_section_and_every_leaderboard_number_appears(task, reports, run_dirs):
    page, run = reports[task], run_dirs[task]
    for key in SECTIONS:
        assert f'<section id="{key}">' in page
    for key in ("attention", "explanations"):  # table-only runs: these cannot apply
        assert f'<section id="{key}">' not in page and f'href="#{key}"' not in page
    board = pd.read_csv(run / "leaderboard.csv")
    assert len(board) >= 2
    for _, row in board.iterrows():
        assert escape(row["method"]) in page
        assert f'<span class="tag {row["kind"]}">' in page
        for m in REGISTRY.get(task).metric_names:
            assert format_mean_sd(row[f"{m}_mean"], row[f"{m}_sd"]) in page
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"<dt>samples</dt><dd>{metrics['n_samples']}</dd>" in page
    assert "<td>a</td><td>table</td><td>5</td><td>5</td>" in page  # features in and kept


@pytest.mark.parametrize("task", TASKS)
def test_the_plots_match_the_task(task, reports, run_dirs):
    plots = _plots(reports[task])
    n_latent = len(list((run_dirs[task] / "latents").rglob("*.csv")))
    expected = ["regression"] if task == "regression" else ["roc-pr", "confusion", "calibration"]
    n_deep = len(list((run_dirs[task] / "history").iterdir()))
    training = [f"training-{i}" for i in range(n_deep)]
    assert plots == ["paired", *expected, *training] + [f"latent-{i}" for i in range(n_latent)]
    # every figure is an inline SVG with content
    assert reports[task].count("<svg") == len(plots)


@pytest.mark.parametrize("task", TASKS)
def test_the_page_loads_nothing_from_outside(task, reports):
    page = reports[task]
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    assert refs  # the navigation links and the SVG markers at least
    assert [r for r in refs if re.match(r"(?i)\s*(https?:)?//", r)] == []
    assert "<script" not in page.lower() and "@import" not in page and "url(http" not in page
    assert "<!DOCTYPE svg" not in page and "<?xml" not in page


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_roc_legend_is_the_auc_of_the_pooled_predictions(task, reports, run_dirs):
    run = run_dirs[task]
    classes = json.loads((run / "metrics.json").read_text())["classes"]
    preds = _preds(run)
    for method, rows in preds.groupby("method"):
        y = rows["y_true"].to_numpy()
        if task == "binary":
            auc = skm.roc_auc_score(y == classes[1], rows[f"p_{classes[1]}"])
        else:
            auc = np.mean([skm.roc_auc_score(y == c, rows[f"p_{c}"]) for c in classes])
        assert escape(f"{method} (AUC {auc:.3f}, n={len(rows)})") in reports[task]


def test_confusion_counts_and_calibration_counts(run_dirs):
    run = run_dirs["multiclass"]
    classes = json.loads((run / "metrics.json").read_text())["classes"]
    preds = _preds(run)
    method = preds["method"].iloc[0]
    rows = preds[preds["method"] == method]
    predicted = np.array(classes)[rows[[f"p_{c}" for c in classes]].to_numpy().argmax(axis=1)]
    expected = pd.crosstab(rows["y_true"], predicted).reindex(
        index=classes, columns=classes, fill_value=0
    )
    fig = confusion_figure(preds, classes=classes, methods=[method])
    shown = np.array([int(t.get_text()) for t in fig.axes[0].texts]).reshape(3, 3)
    np.testing.assert_array_equal(shown, expected.to_numpy())
    fig = calibration_figure(preds, binary=False, classes=classes, methods=[method])
    assert sum(p.get_height() for p in fig.axes[1].patches) == len(rows)


def test_latent_maps_are_the_pca_of_the_latent_csvs(run_dirs):
    run = run_dirs["binary"]
    maps = latent_map_data(run, umap=False)
    files = sorted((run / "latents").rglob("*.csv"))
    assert {(m.model, m.module) for m in maps} == {(f.parent.name, f.stem) for f in files}
    truth = _preds(run).drop_duplicates("sample_id").set_index("sample_id")["y_true"]
    for m in maps:
        csv = pd.read_csv(run / "latents" / m.model / f"{m.module}.csv", dtype={"sample_id": str})
        rows = csv[(csv["split"] == csv["split"].iloc[0]) & (csv["member"] == 0)]
        z = rows.filter(regex=r"^z\d+$").to_numpy(dtype=np.float64)
        centred = z - z.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        reference = centred @ vt[:2].T  # principal components, up to sign
        signs = np.sign(np.sum(reference * m.pca, axis=0))
        np.testing.assert_allclose(m.pca * signs, reference, atol=1e-5)
        np.testing.assert_allclose(m.explained, (s**2 / np.sum(s**2))[:2], atol=1e-6)
        assert list(m.sample_id) == rows["sample_id"].tolist()
        assert list(m.part) == rows["part"].tolist() and m.dim == z.shape[1]
        assert list(m.target) == [truth[s] for s in rows["sample_id"]]
        assert m.umap is None


def test_the_plotted_points_are_the_map_coordinates(run_dirs):
    for task in ("binary", "regression"):
        numeric = task == "regression"
        m = latent_map_data(run_dirs[task], umap=False, numeric=numeric)[0]
        fig = plot_latent_map(m, classes=None if numeric else ["c0", "c1"])
        offsets = np.concatenate(
            [c.get_offsets() for c in fig.axes[0].collections if len(c.get_offsets())]
        )
        np.testing.assert_allclose(np.unique(offsets, axis=0), np.unique(m.pca, axis=0))


def test_umap_is_seeded_keeps_neighbours_and_skips_tiny_sets(run_dirs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dirs["binary"], run)
    shutil.rmtree(run / "latents")
    rng = np.random.default_rng(0)
    ids = _preds(run).drop_duplicates("sample_id")["sample_id"].to_numpy()[:40]
    z = rng.normal(size=(40, 4)) + np.repeat([[0.0] * 4, [12.0] * 4], 20, axis=0)
    frame = pd.DataFrame(z, columns=[f"z{j}" for j in range(4)])
    frame.insert(0, "part", "test")
    frame.insert(0, "member", 0)
    frame.insert(0, "split", "f0")
    frame.insert(0, "sample_id", ids)
    (run / "latents" / "toy").mkdir(parents=True)
    frame.to_csv(run / "latents" / "toy" / "two_clusters.csv", index=False)
    frame.head(8).to_csv(run / "latents" / "toy" / "tiny.csv", index=False)
    first, again = (latent_map_data(run, umap=True, seed=3) for _ in range(2))
    tiny, clusters = first
    assert tiny.umap is None and "UMAP skipped" in tiny.note
    assert clusters.umap.shape == (40, 2) and np.isfinite(clusters.umap).all()
    np.testing.assert_array_equal(clusters.umap, again[1].umap)
    d = np.linalg.norm(clusters.umap[:, None] - clusters.umap[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert (d.argmin(axis=1) // 20 == np.arange(40) // 20).all()  # nearest point: same cluster


def test_an_old_run_folder_without_extras_still_gets_a_report(run_dirs, tmp_path):
    run = tmp_path / "old"
    shutil.copytree(run_dirs["binary"], run)
    shutil.rmtree(run / "latents")
    shutil.rmtree(run / "history")
    (run / "versions.json").unlink()
    board = pd.read_csv(run / "leaderboard.csv").drop(columns=["kind"])
    board.to_csv(run / "leaderboard.csv", index=False)
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("transforms", "modality_kinds", "seconds", "members", "training", "paired"):
        metrics.pop(key)
    metrics.pop("splits")
    (run / "splits.csv").unlink()  # split sizes then come from the held-out predictions
    (run / "metrics.json").write_text(json.dumps(metrics))
    page = write_report(run, umap=False).read_text()
    assert _plots(page) == ["paired", "roc-pr", "confusion", "calibration"]
    assert "n<sub>test</sub>/n<sub>train</sub> = 0.500" in page  # 14 of 42 held out per fold
    assert "No latents/" in page and "No attributions/" in page and "n/a" in page
    assert "No history/" in page  # the training section says why it has no curves


def test_per_split_scores_that_do_not_match_the_splits_are_not_paired(run_dirs, tmp_path):
    run = tmp_path / "ragged"
    shutil.copytree(run_dirs["binary"], run)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["per_split"]["late"] = metrics["per_split"]["late"][:2]
    (run / "metrics.json").write_text(json.dumps(metrics))
    page = write_report(run, umap=False).read_text()
    assert "no paired comparison: metrics.json has no per-split scores to pair" in page
    assert "paired" not in _plots(page) and "<b>" not in page.split('id="leaderboard"')[1][:4000]


def test_explain_outputs_are_shown_and_bad_files_skipped(run_dirs, explain_files, tmp_path):
    run = tmp_path / "explained"
    shutil.copytree(run_dirs["regression"], run, ignore=shutil.ignore_patterns("latents"))
    explain_files(run)
    (run / "attributions" / "late" / "broken.csv").write_text("just_one_column\nx\n")
    page = write_report(run, umap=False).read_text()
    plots = _plots(page)
    # leaderboard order: multimodule/a.csv; then late (not in this run's leaderboard):
    # late/b.csv, late/broken.csv (skipped)
    assert [p for p in plots if p.startswith("attributions")] == [
        "attributions-0",
        "attributions-1",
    ]
    assert page.index("multimodule · a: top") < page.index("late · b: top")
    assert "broken.csv skipped" in page
    assert "attention-0" in plots and "explanation-0" in plots
    assert "attention_maps-0" in plots
    assert 'src="data:image/svg+xml;base64,' in page
    assert ">a0<" in page and "received attention" in page  # feature names, colour bar label
    # what the attributions are: method, explained output, rank agreement
    row = "<td>multimodule</td><td>a</td><td>integrated gradients</td>"
    assert row + "<td>log-odds of class &#x27;c1&#x27;</td>" in page and "<td>0.20</td>" in page
    # a folder with a summary only (sequence inputs: attention instead) says so
    for csv in (run / "attributions").rglob("*.csv"):
        csv.unlink()
    page = write_report(run, umap=False).read_text()
    assert "holds no feature table" in page and "biozoo explain writes" not in page


def test_the_report_is_written_atomically(run_dirs, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(run_dirs["regression"], run)
    (run / "report.html").write_text("previous report")

    real_replace = os.replace

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(report_html, "render_report", lambda *_a, **_k: "<!DOCTYPE html>new")
    monkeypatch.setattr(_atomic.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_report(run, umap=False)
    assert (run / "report.html").read_text() == "previous report"
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    monkeypatch.setattr(_atomic.os, "replace", real_replace)
    assert write_report(run, umap=False) == run / "report.html"
    assert (run / "report.html").read_text() == "<!DOCTYPE html>new"
    # readable like the run's other files (a temporary file's private mode is not kept)
    assert (run / "report.html").stat().st_mode == (run / "metrics.json").stat().st_mode
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []


def test_a_folder_that_is_no_run_is_refused(tmp_path):
    with pytest.raises(BiozooError, match="no metrics.json"):
        write_report(tmp_path)


def test_attribution_bars_and_attention_cells_are_the_csv_values(explain_files, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    explain_files(run)
    for path, value in (
        (run / "attributions/multimodule/a.csv", "mean_abs_attribution"),
        (run / "attributions/late/b.csv", "mean_abs"),
    ):
        table = pd.read_csv(path)
        ax = attribution_figure(table, title="t").axes[0]
        widths = [bar.get_width() for bar in ax.patches][::-1]  # drawn bottom-up
        expected = table.sort_values(value, ascending=False)[value].to_numpy()
        np.testing.assert_allclose(widths, expected)
        names = [t.get_text() for t in ax.get_yticklabels()][::-1]
        assert names == table.sort_values(value, ascending=False)["feature"].tolist()
    # the signed panel, and no whisker below zero on a magnitude
    table = pd.read_csv(run / "attributions/multimodule/a.csv")
    table.loc[0, "sd_abs_attribution"] = 10 * table.loc[0, "mean_abs_attribution"]
    table.loc[1, "n_splits_selected"] = 2
    magnitude, signed = attribution_figure(table, title="t", n_splits=3).axes[:2]
    signed_widths = [bar.get_width() for bar in signed.patches][::-1]
    np.testing.assert_allclose(signed_widths, table["mean_attribution"])
    bars = next(c for c in magnitude.containers if hasattr(c, "has_xerr"))
    whiskers = bars.lines[2][0].get_segments()
    assert min(seg[:, 0].min() for seg in whiskers) >= 0.0
    labels = [t.get_text() for t in magnitude.get_yticklabels()][::-1]
    assert labels[1] == "a1 *" and labels[0] == "a0"
    att = pd.read_csv(run / "attention/multimodule/seq.csv")
    image = attention_figure(att, title="t").axes[0].images[0].get_array()
    for _, row in att.iterrows():
        i = int(row["sample_id"][1:])
        assert image[i, int(row["position"])] == pytest.approx(row["received_attention"])
    assert image.mask[0, 3:].all()  # s00 has 3 tokens: the rest of its strip is empty


def test_the_attention_map_is_the_mean_over_layers_and_heads(explain_files, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    explain_files(run)
    maps = pd.read_csv(run / "attention_maps/multimodule/seq.csv")
    ax = attention_map_figure(maps, title="t").axes[0]
    image = ax.images[0].get_array()
    expected = maps.groupby(["query", "key"])["weight"].mean().unstack().to_numpy()
    np.testing.assert_allclose(image, expected)
    np.testing.assert_allclose(image.sum(axis=1), 1.0)  # each query's row is a distribution
    assert [t.get_text() for t in ax.get_xticklabels()] == ["CLS*", "M", "K"]


@pytest.mark.parametrize("task", TASKS)
def test_the_paired_comparison_is_that_of_metrics_json(task, reports, run_dirs):
    page, run = reports[task], run_dirs[task]
    metrics = json.loads((run / "metrics.json").read_text())
    written = metrics["paired"]
    shown = read_run(run).paired()
    assert shown["comparisons"] == written["comparisons"]  # the same numbers
    linear = REGISTRY.get(task)().baseline_label("linear")  # ridge (CV) for regression
    assert shown["reference"] == written["reference"] == linear
    assert f'<p class="verdict">{escape(shown["verdict"])}</p>' in page
    assert shown["verdict"].startswith("best deep vs best baseline")
    for model, c in written["comparisons"].items():
        assert c["n_splits"] == 3 and c["dof"] == 2
        assert c["wins"] + c["losses"] + c["ties"] == 3
        assert c["test_train_ratio"] == pytest.approx(0.5, abs=0.05)  # 3 folds of 42
        low, high = (f"{x:+.3f}".replace("-", "−") for x in (c["low"], c["high"]))
        assert f"[{low}, {high}]" in page and escape(model) in page
    assert "Ensemble and single members" in page
    for model, per in metrics["members"].items():
        primary = "rmse" if task == "regression" else "roc_auc"
        member = np.mean([s[primary]["mean"] for s in per])
        assert f"<td>{member:.3f} ± " in page, model


def test_bold_only_beyond_split_noise(tmp_path):
    from biozoo.report.comparison import bold_cells

    rows = lambda xs: [{"auc": x} for x in xs]  # noqa: E731
    sizes = [(40, 20)] * 6
    close = {"a": rows([0.70, 0.60, 0.72, 0.66, 0.64, 0.71]), "b": rows([0.69] * 6)}
    assert bold_cells(close, sizes, "auc", higher_is_better=True) is None
    clear = {**close, "b": rows([0.50, 0.41, 0.53, 0.45, 0.44, 0.52])}
    assert bold_cells(clear, sizes, "auc", higher_is_better=True) == "a"
    assert bold_cells(clear, sizes, "auc", higher_is_better=False) == "b"
    three = {**clear, "c": rows([0.71, 0.59, 0.70, 0.67, 0.65, 0.70])}  # ties with a
    assert bold_cells(three, sizes, "auc", higher_is_better=True) is None


def test_a_method_keeps_its_colour_whatever_the_ranking():
    from biozoo.report.plots import BASELINE_COLOURS, DEEP_COLOURS, method_colours

    run_a = [("linear", "baseline"), ("gb", "baseline"), ("mlp", "deep"), ("late", "deep")]
    colours = method_colours(run_a)
    assert colours == {
        "linear": BASELINE_COLOURS[0],
        "gb": BASELINE_COLOURS[1],
        "mlp": DEEP_COLOURS[0],
        "late": DEEP_COLOURS[1],
    }
    # the same run order with interleaved kinds gives the same colours
    assert method_colours([run_a[2], run_a[0], run_a[3], run_a[1]]) == colours
    assert len(set(colours.values())) == len(colours)
