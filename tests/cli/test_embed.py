"""``biozoo embed`` end to end: a VAE run on the tiny cohort, then new samples embedded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import tiny_raw
from typer.testing import CliRunner

from biozoo.cli import app

runner = CliRunner()
MODELS = {
    "vae": {
        "default_encoder": {"name": "mlp", "hidden": [8], "out_dim": 8},
        "objective": {"name": "beta_vae", "latent_dim": 3, "warmup_epochs": 2},
    },
    "plain": {},
}


@pytest.fixture(scope="module")
def vae_run(tiny_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("embed")
    raw = tiny_raw(tiny_files, models=MODELS, baselines=[], output={"report": False})
    config = folder / "vae.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["train", str(config), "--out", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    (run,) = (p for p in (folder / "runs").iterdir() if not p.name.startswith("."))
    return run


def sources(files) -> list[str]:
    return [f"{m}={files[m]}" for m in ("clinical", "rna", "meth")]


def test_embed_writes_mean_and_variance_and_is_deterministic(vae_run, tiny_files, tmp_path):
    out = tmp_path / "z.csv"
    result = runner.invoke(app, ["embed", str(vae_run), *sources(tiny_files), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert list(frame.columns[:4]) == ["sample_id", "model", "split", "member"]
    assert [c for c in frame.columns if c.startswith(("mean_", "var_"))] == [
        "mean_0",
        "mean_1",
        "mean_2",
        "var_0",
        "var_1",
        "var_2",
    ]
    assert len(frame) == 60 and set(frame["model"]) == {"vae"}
    assert (frame[["var_0", "var_1", "var_2"]] > 0).all().all()
    # the run's own latents of split r0-f0, member 0, are these posterior means
    saved = pd.read_csv(vae_run / "latents" / "vae" / "fused.csv")
    saved = saved[(saved["split"] == "r0-f0") & (saved["member"] == 0)]
    assert np.allclose(saved[["z0", "z1", "z2"]].to_numpy(), frame[["mean_0", "mean_1", "mean_2"]])
    again = runner.invoke(app, ["embed", str(vae_run), *sources(tiny_files), "--member", "1"])
    assert again.exit_code == 0
    twice = runner.invoke(app, ["embed", str(vae_run), *sources(tiny_files), "--member", "1"])
    assert again.stdout == twice.stdout


def test_the_leaderboard_has_reconstruction_metrics(vae_run):
    board = pd.read_csv(vae_run / "leaderboard.csv").set_index("method")
    cols = [f"recon_mse_{m}_mean" for m in ("clinical", "rna", "meth")]
    assert np.isfinite(board.loc["vae", cols].astype(float)).all()
    assert board.loc["plain", cols].isna().all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "plain"], "model 'plain' of run"),
        (["--split", "r9-f9"], "has no split 'r9-f9'"),
        (["--member", "5"], "--member 5 is out of range"),
    ],
)
def test_bad_input_is_one_sentence_and_status_2(vae_run, tiny_files, tmp_path, extra, message):
    out = tmp_path / "z.csv"
    result = runner.invoke(
        app, ["embed", str(vae_run), *sources(tiny_files), "--out", str(out), *extra]
    )
    assert result.exit_code == 2
    assert message in result.output.replace("\n", "")
    assert not out.exists()  # nothing half-written


def test_a_latent_model_is_explained_like_any_model(vae_run):
    from biozoo import api

    api.explain(vae_run, rewrite_report=False, models=["vae"], method="gradient_shap")
    frame = pd.read_csv(vae_run / "attributions" / "vae" / "rna.csv")
    assert len(frame) > 0 and frame.select_dtypes("number").notna().all().all()
