"""Int8 export: a finished run's ensembles, quantized, saved without pickle, scored."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from safetensors import safe_open
from sklearn.metrics import roc_auc_score

import biozoo
from biozoo.errors import BiozooError
from biozoo.train.export import export_int8, is_int8_export, open_int8
from biozoo.train.saved_run import SavedRun

MODS = ("clinical", "rna", "meth")


@pytest.fixture(scope="module")
def tiny_run(tiny_files, tmp_path_factory):
    """A finished run: one model, one 70/30 split, an ensemble of 2."""
    from tests.conftest import tiny_raw

    raw = tiny_raw(tiny_files, baselines=[])
    raw["models"] = {
        "multimodule": {"encoders": {"rna": {"name": "mlp", "hidden": [8], "out_dim": 4}}}
    }
    raw["training"].update(epochs=8, split={"kind": "holdout", "repeats": 1})
    return biozoo.run(biozoo.parse_config(raw), out_dir=tmp_path_factory.mktemp("runs")).path


@pytest.fixture(scope="module")
def exported(tiny_run):
    return export_int8(tiny_run)


def test_export_layout_and_no_pickle(tiny_run, exported):
    assert exported == tiny_run / "int8" and is_int8_export(exported)
    assert not is_int8_export(tiny_run)
    files = {p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file()}
    assert files == {
        "config.yaml",
        "int8.json",
        "models/transforms/h0.safetensors",
        "models/multimodule/h0.safetensors",
    }
    info = json.loads((exported / "int8.json").read_text())
    assert info["models"] == ["multimodule"] and info["splits"] == ["h0"]
    with safe_open(str(exported / "models/multimodule/h0.safetensors"), "pt") as f:
        keys = list(f.keys())
        int8 = [k for k in keys if k.endswith("weight_int8")]
        assert int8 and all(f.get_tensor(k).dtype == torch.int8 for k in int8)
        assert {k.split(".")[0] for k in keys} == {"member0", "member1"}


def test_stored_int8_weights_reload_exactly(exported):
    saved = open_int8(exported).split("h0", "multimodule")
    from torch.ao.nn.quantized.dynamic import Linear

    with safe_open(str(exported / "models/multimodule/h0.safetensors"), "pt") as f:
        for i, member in enumerate(saved.ensemble.members):
            qlinear = [(n, m) for n, m in member.named_modules() if isinstance(m, Linear)]
            assert qlinear
            for name, mod in qlinear:
                stored = f.get_tensor(f"member{i}.{name}.weight_int8")
                assert torch.equal(mod.weight().int_repr(), stored)


def test_int8_weights_approximate_the_float_weights(tiny_run, exported):
    float_split = SavedRun(tiny_run).split("h0", "multimodule")
    int8_split = open_int8(exported).split("h0", "multimodule")
    from torch.ao.nn.quantized.dynamic import Linear

    for i, member in enumerate(int8_split.ensemble.members):
        state = float_split.ensemble.member_state_dict(i)
        for name, mod in member.named_modules():
            if isinstance(mod, Linear):
                w = state[f"{name}.weight"]
                scale = w.abs().amax(dim=1, keepdim=True) / 127
                assert (mod.weight().dequantize() - w).abs().le(scale * 0.5 + 1e-7).all()


def test_int8_predictions_are_close_to_the_float_ones(tiny_files, tiny_run, exported):
    sources = {m: tiny_files[m] for m in MODS}
    floats = biozoo.predict(tiny_run, sources)
    ints = biozoo.predict(exported, sources)  # an int8 export scores with the int8 backend
    assert ints.equals(biozoo.predict(exported, sources, backend="int8"))
    assert list(ints.columns) == list(floats.columns) and len(ints) == 60
    assert (ints["sample_id"] == floats["sample_id"]).all()
    assert (ints["p_1"] - floats["p_1"]).abs().max() < 0.05
    assert ((ints["p_0"] + ints["p_1"]) - 1).abs().max() < 1e-5
    labels = pd.read_csv(tiny_files["labels"]).set_index("sample_id").loc[floats["sample_id"]]
    auc_float = roc_auc_score(labels["label"], floats["p_1"])
    auc_int8 = roc_auc_score(labels["label"], ints["p_1"])
    assert abs(auc_int8 - auc_float) < 0.02


def test_export_errors(tiny_run, exported, tiny_files, tmp_path):
    with pytest.raises(BiozooError, match="already exists"):
        export_int8(tiny_run)
    with pytest.raises(BiozooError, match="not a biozoo run folder"):
        export_int8(tmp_path)
    sources = {m: tiny_files[m] for m in MODS}
    with pytest.raises(BiozooError, match="not an int8 export"):
        biozoo.predict(tiny_run, sources, backend="int8")
    with pytest.raises(BiozooError, match="is an int8 export"):
        biozoo.predict(exported, sources, backend="float")
    with pytest.raises(BiozooError, match="no model 'other'"):
        biozoo.predict(exported, sources, model="other")
    assert not list(tiny_run.glob(".int8-*.partial"))


def test_an_int8_export_is_made_and_scored_on_the_cpu_even_where_cuda_is(
    tiny_run, exported, tiny_files, tmp_path, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the run's auto says cuda
    out = export_int8(tiny_run, out=tmp_path / "int8")  # quantized on the CPU all the same
    sources = {m: tiny_files[m] for m in MODS}
    expected = biozoo.predict(exported, sources)
    pd.testing.assert_frame_equal(biozoo.predict(out, sources, device="auto"), expected)
    with pytest.raises(BiozooError, match="^an int8 export scores on the CPU only"):
        biozoo.predict(out, sources, device="cuda")


def test_export_to_another_folder(tiny_run, tmp_path):
    out = export_int8(tiny_run, out=tmp_path / "deploy" / "model-int8")
    assert out == tmp_path / "deploy" / "model-int8" and is_int8_export(out)


def test_cli_predict_scores_with_an_int8_export(tiny_files, tiny_run, exported, tmp_path):
    from typer.testing import CliRunner

    from biozoo.cli import app

    data = [f"{m}={tiny_files[m]}" for m in MODS]
    expected = biozoo.predict(exported, {m: tiny_files[m] for m in MODS}, split="h0")
    runner = CliRunner()
    for extra in ([], ["--backend", "int8"]):  # an int8 export is detected
        out = tmp_path / f"int8{len(extra)}.csv"
        args = ["predict", str(exported), *data, "--split", "h0", "--out", str(out), *extra]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        got = pd.read_csv(out)
        assert list(got["sample_id"].astype(str)) == list(expected["sample_id"].astype(str))
        assert (got["p_1"] - expected["p_1"]).abs().max() < 1e-6
    res = runner.invoke(app, ["predict", str(tiny_run), *data, "--backend", "int8"])
    assert res.exit_code == 2 and "not an int8 export" in res.output


def test_cli_int8_export_of_a_latent_model_scores_like_the_float_run(tiny_files, tmp_path):
    """A VAE's decoders and inference network quantize like any model's linear layers; the
    export predicts what the float run predicts."""
    from tests.conftest import tiny_raw
    from typer.testing import CliRunner

    from biozoo.cli import app

    raw = tiny_raw(tiny_files, baselines=[], output={"report": False})
    raw["models"] = {
        "vae": {
            "default_encoder": {"name": "mlp", "hidden": [8], "out_dim": 8},
            "objective": {"name": "vae", "latent_dim": 3},
        }
    }
    raw["training"].update(epochs=4, split={"kind": "holdout", "repeats": 1})
    run = biozoo.run(biozoo.parse_config(raw), out_dir=tmp_path / "runs").path
    res = CliRunner().invoke(app, ["export", str(run), "--int8", "--out", str(tmp_path / "q")])
    assert res.exit_code == 0, res.output
    exported = tmp_path / "q"
    assert json.loads((exported / "int8.json").read_text())["models"] == ["vae"]
    with safe_open(str(exported / "models/vae/h0.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert any(k.endswith("weight_int8") for k in keys)
    sources = {m: tiny_files[m] for m in MODS}
    floats, ints = biozoo.predict(run, sources), biozoo.predict(exported, sources)
    assert list(ints["sample_id"]) == list(floats["sample_id"]) and len(ints) == 60
    assert (ints["p_1"] - floats["p_1"]).abs().max() < 0.05
