"""``--device auto|cpu|cuda`` of ``biozoo predict``, ``embed`` and ``explain``.

``torch.cuda.is_available`` is patched to False, so these tests say the same on a machine
with a GPU and on one without: ``cuda`` is refused with one sentence (status 2) before
anything is written, and ``cpu`` scores exactly as the run's own default does here. The
life-event run's ``training.accelerator`` is refused the same way.
"""

from __future__ import annotations

import pytest
import torch
import yaml
from tests.conftest import tiny_raw
from typer.testing import CliRunner

from biozoo import api
from biozoo.cli import app
from biozoo.data.sources.life_events import simulate_life_events
from biozoo.errors import BiozooError
from biozoo.train.device import serving_device
from biozoo.train.saved_run import SavedRun

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture(scope="module")
def run_dir(tiny_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("device")
    raw = tiny_raw(
        tiny_files,
        models={"mlp": {"default_encoder": {"name": "mlp", "hidden": [8], "out_dim": 4}}},
        baselines=["patient_gcn"],
        output={"report": False},
    )
    raw["training"]["split"] = {"kind": "holdout", "repeats": 1}
    config = folder / "run.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["train", str(config), "--out", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    (run,) = (p for p in (folder / "runs").iterdir() if not p.name.startswith("."))
    return run


def _sources(files) -> list[str]:
    return [f"{m}={files[m]}" for m in ("clinical", "rna", "meth")]


def _files(root) -> list[tuple[str, int]]:
    return sorted((str(p), p.stat().st_mtime_ns) for p in root.rglob("*"))


def _refused(args: list[str], watched) -> str:
    before = _files(watched)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert _files(watched) == before, "something was written"
    return message


@pytest.mark.parametrize("command", ["predict", "embed"])
def test_cuda_asked_where_there_is_none_is_refused_before_writing(
    command, run_dir, tiny_files, tmp_path
):
    out = tmp_path / "out.csv"
    args = [command, str(run_dir), *_sources(tiny_files), "--out", str(out), "--device", "cuda"]
    message = _refused(args, tmp_path)
    assert "--device is 'cuda' but torch sees no CUDA device" in message
    assert not out.exists()


def test_explain_with_cuda_where_there_is_none_leaves_the_run_untouched(run_dir):
    message = _refused(["explain", str(run_dir), "--device", "cuda"], run_dir)
    assert "--device is 'cuda'" in message


@pytest.mark.parametrize("command", ["predict", "embed", "explain"])
def test_a_value_that_names_no_device_is_refused(command, run_dir, tiny_files, tmp_path):
    data = [] if command == "explain" else _sources(tiny_files)
    message = _refused([command, str(run_dir), *data, "--device", "gpu"], run_dir)
    assert message.endswith("--device 'gpu' is not a device; use auto, cpu or cuda.")


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_cpu_and_auto_predict_exactly_what_the_default_predicts_here(
    device, run_dir, tiny_files, tmp_path
):
    default, chosen = tmp_path / "default.csv", tmp_path / f"{device}.csv"
    for out, extra in ((default, []), (chosen, ["--device", device])):
        args = ["predict", str(run_dir), *_sources(tiny_files), "--out", str(out), *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert chosen.read_bytes() == default.read_bytes()


def test_a_saved_patient_gcn_runs_on_the_serving_device(run_dir, tiny_files, monkeypatch):
    (split,) = SavedRun(run_dir).splits()
    model, _ = SavedRun(run_dir, device="cpu").baseline("patient_gcn", split)
    assert model.accelerator == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # read only, never run
    model, _ = SavedRun(run_dir).baseline("patient_gcn", split)
    assert model.accelerator == "cuda"  # the run's auto, where CUDA is
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    outs = []
    for extra in ([], ["--device", "cpu"]):
        args = ["predict", str(run_dir), *_sources(tiny_files), "--method", "patient_gcn"]
        result = runner.invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
        outs.append(result.stdout)
    assert outs[0] == outs[1] and len(outs[0].splitlines()) == 61


def test_the_option_overrides_the_runs_accelerator(run_dir):
    assert SavedRun(run_dir, device="cpu").device == torch.device("cpu")
    # a run trained on CUDA, served where CUDA is: --device cpu keeps it on the CPU
    assert serving_device("cuda", override="cpu", cuda_available=True) == torch.device("cpu")
    assert serving_device("cpu", override="auto", cuda_available=True) == torch.device("cuda", 0)
    assert serving_device("cpu", cuda_available=True) == torch.device("cpu")


def test_the_python_api_refuses_as_the_cli_does(run_dir, tiny_files):
    files = {m: tiny_files[m] for m in ("clinical", "rna", "meth")}
    with pytest.raises(BiozooError, match=r"^device is 'cuda' but"):
        api.predict(run_dir, files, device="cuda")
    with pytest.raises(BiozooError, match=r"^device 'tpu' is not a device"):
        api.embed(run_dir, files, device="tpu")
    with pytest.raises(BiozooError, match=r"^device is 'cuda' but"):
        api.explain(run_dir, device="cuda")


def test_a_life_event_run_asking_for_cuda_where_there_is_none_writes_no_folder(tmp_path):
    simulate_life_events(40, seed=0).events.to_csv(tmp_path / "events.csv", index=False)
    config = tmp_path / "life.yaml"
    config.write_text(
        yaml.safe_dump(
            {"data": {"path": "events.csv"}, "training": {"epochs": 1, "accelerator": "cuda"}}
        )
    )
    out = tmp_path / "runs"
    message = _refused(["events", str(config), "--out", str(out)], tmp_path)
    assert message.endswith(
        "training.accelerator is 'cuda' but torch sees no CUDA device on "
        "this machine; use 'auto' or 'cpu'."
    )
    assert not out.exists()
