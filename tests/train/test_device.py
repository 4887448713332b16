"""training.accelerator: the device a run trains and predicts on (no GPU needed here).

Where CUDA matters, ``torch.cuda.is_available`` is patched, so these tests say the same on a
machine with a GPU and on one without.
"""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from biozoo.api import parse_config
from biozoo.api import run as train
from biozoo.cli import app
from biozoo.config import ModelConfig
from biozoo.data.batch import FoldData, repeat_rows, to_device
from biozoo.data.spec import PartSpec
from biozoo.errors import BiozooError
from biozoo.heads import BinaryHead
from biozoo.model import build_model
from biozoo.train import experiment, plan
from biozoo.train.device import (
    lightning_accelerator,
    module_device,
    on_device,
    resolve_device,
    serving_device,
)
from biozoo.train.ensemble import StackedEnsemble
from biozoo.train.predict import predict
from biozoo.train.saved_run import SavedRun

CONFTEST = importlib.util.spec_from_file_location(
    "conftest", __file__.rsplit("/", 2)[0] + "/conftest.py"
)
_conf = importlib.util.module_from_spec(CONFTEST)
CONFTEST.loader.exec_module(_conf)

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.mark.parametrize(
    ("accelerator", "cuda", "expected"),
    [("auto", False, CPU), ("auto", True, CUDA), ("cpu", True, CPU), ("cuda", True, CUDA)],
)
def test_the_option_resolves_to_a_device(accelerator, cuda, expected):
    assert resolve_device(accelerator, cuda_available=cuda) == expected


def test_auto_is_the_default_and_resolves_to_the_cpu_without_cuda(no_cuda, tiny_files):
    cfg = parse_config(_conf.tiny_raw(tiny_files))
    assert cfg.training.accelerator == "auto"
    assert resolve_device(cfg.training.accelerator) == CPU


def test_cuda_without_cuda_is_one_sentence_naming_the_key(no_cuda):
    with pytest.raises(BiozooError, match=r"^training\.accelerator is 'cuda' but") as err:
        resolve_device("cuda")
    assert str(err.value).count(". ") == 0 and "\n" not in str(err.value)


def test_a_saved_run_is_served_on_the_cpu_without_cuda():
    assert serving_device("cuda", cuda_available=False) == CPU
    assert serving_device("auto", cuda_available=True) == CUDA
    assert serving_device("cpu", cuda_available=True) == CPU


def test_lightning_gets_the_matching_accelerator():
    assert lightning_accelerator(CPU) == ("cpu", 1)
    assert lightning_accelerator(CUDA) == ("cuda", [0])
    assert lightning_accelerator(torch.device("cuda", 1)) == ("cuda", [1])


def test_an_unknown_accelerator_and_a_per_model_one_are_refused(tiny_files):
    raw = _conf.tiny_raw(tiny_files)
    raw["training"]["accelerator"] = "gpu"
    with pytest.raises(BiozooError, match=r"training\.accelerator"):
        parse_config(raw)
    raw = _conf.tiny_raw(tiny_files)
    raw["models"]["late"]["training"] = {"accelerator": "cpu"}  # a machine's, not a model's
    with pytest.raises(BiozooError, match="accelerator"):
        parse_config(raw)


def _fold() -> FoldData:
    x = torch.randn(6, 3)
    return FoldData(
        {"a": x, "tok": {"ids": torch.arange(12).view(6, 2)}},
        {"a": torch.ones(6, dtype=torch.bool), "tok": torch.ones(6, dtype=torch.bool)},
        torch.arange(6) % 2,
        labelled=torch.ones(6, dtype=torch.bool),
    )


def test_fold_data_moves_every_tensor_and_keeps_member_repeats_uncopied():
    meta = torch.device("meta")  # a device other than the CPU that needs no hardware
    moved = _fold().repeat(4).to(meta)
    tensors = [moved.inputs["a"], moved.inputs["tok"]["ids"], moved.y, moved.labelled]
    tensors += list(moved.present.values())
    assert all(t.device == meta for t in tensors)
    assert moved.inputs["a"].shape == (4, 6, 3) and moved.inputs["a"].stride(0) == 0
    assert to_device(None, meta) is None
    x = torch.randn(5, 2)
    assert to_device(x, "cpu") is x  # already there: no copy
    assert to_device(repeat_rows(x, 3), "cpu").data_ptr() == x.data_ptr()


def test_the_training_plan_moves_its_batches_to_the_trainers_device():
    spec = ModelConfig(default_encoder=PartSpec(name="mlp", hidden=[4], out_dim=2))
    ens = StackedEnsemble(lambda: build_model(spec, {"a": 3}, 1), [0, 1])
    batch = _fold().take(torch.arange(6).view(2, 3))
    moved = plan.EnsemblePlan(ens, BinaryHead()).transfer_batch_to_device(
        batch, torch.device("meta"), 0
    )
    assert moved.inputs["a"].device.type == "meta" and moved.y.device.type == "meta"


class _Stop(Exception):
    pass


def test_fit_ensemble_hands_the_device_to_lightning(monkeypatch):
    seen = {}

    def trainer(**kwargs):
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr(plan.L, "Trainer", trainer)
    spec = ModelConfig(default_encoder=PartSpec(name="mlp", hidden=[4], out_dim=2))
    ens = StackedEnsemble(lambda: build_model(spec, {"a": 3}, 1), [0, 1])
    data = _fold()
    data.inputs.pop("tok"), data.present.pop("tok")
    with pytest.raises(_Stop):
        plan.fit_ensemble(
            ens, BinaryHead(), data, data, epochs=1, batch_size=4, patience=1, optimizer="adamw",
            lr=0.01, weight_decay=0.0, gradient_clip=None, seed=0, device=CUDA,
        )  # fmt: skip
    assert (seen["accelerator"], seen["devices"]) == ("cuda", [0])


def test_auto_trains_on_cuda_where_torch_sees_it(with_cuda, monkeypatch, tiny_files):
    seen = {}

    def fit(*args, **kwargs):
        seen["device"] = kwargs["device"]
        raise _Stop

    monkeypatch.setattr(experiment, "fit_ensemble", fit)
    raw = _conf.tiny_raw(tiny_files, baselines=[])
    raw["training"]["split"] = {"kind": "holdout", "repeats": 1}
    with pytest.raises(_Stop):
        experiment.run_experiment(parse_config(raw), _cohort(raw))
    assert seen["device"] == CUDA


def _cohort(raw):
    from biozoo.data.align import load_cohort

    return load_cohort(parse_config(raw).data)


class _Moves(torch.nn.Linear):
    def __init__(self) -> None:
        super().__init__(2, 2)
        self.moves: list[str] = []

    def to(self, device):  # noqa: ANN001, ANN202 - records instead of moving
        self.moves.append(str(device))
        return self

    def cpu(self):  # noqa: ANN202
        self.moves.append("cpu")
        return self


def test_on_device_gives_the_module_back_on_the_cpu_even_after_an_error():
    layer = _Moves()
    with pytest.raises(_Stop), on_device(layer, CUDA):
        assert layer.moves == ["cuda:0"]
        raise _Stop
    assert layer.moves == ["cuda:0", "cpu"]
    assert module_device(torch.nn.Linear(2, 2).to("meta")).type == "meta"
    assert module_device(torch.nn.ReLU()) == CPU  # no weights: the CPU


def _run(tiny_files, tmp_path, accelerator):
    raw = _conf.tiny_raw(tiny_files, baselines=[])
    raw["models"] = {"multimodule": raw["models"]["multimodule"]}
    raw["training"] = {
        **raw["training"],
        "accelerator": accelerator,
        "split": {"kind": "holdout", "repeats": 1},
    }
    return train(parse_config(raw), out_dir=tmp_path / accelerator)


def test_cpu_trains_as_auto_does_here_and_a_cuda_run_predicts_on_the_cpu(
    no_cuda, tiny_files, tmp_path
):
    cpu = _run(tiny_files, tmp_path, "cpu")
    auto = _run(tiny_files, tmp_path, "auto")
    assert (cpu.path / "predictions.csv").read_bytes() == (
        auto.path / "predictions.csv"
    ).read_bytes()
    # the same run, as if trained with accelerator: cuda, read on this machine
    config = auto.path / "config.yaml"
    raw = yaml.safe_load(config.read_text())
    assert raw["training"]["accelerator"] == "auto"
    raw["training"]["accelerator"] = "cuda"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    run = SavedRun(auto.path)
    assert run.device == CPU
    (split,) = run.splits()
    files = {m: tiny_files[m] for m in ("clinical", "rna", "meth")}
    new = predict(run, files, model="multimodule", split=split).set_index("sample_id")
    old = pd.read_csv(auto.path / "predictions.csv").set_index("sample_id")
    assert len(old) > 0
    for col in ("p_0", "p_1"):
        pd.testing.assert_series_equal(
            new.loc[old.index, col], old[col], atol=1e-6, check_names=False, check_dtype=False
        )


def test_cuda_on_a_machine_without_it_exits_2_before_writing_anything(
    no_cuda, tiny_files, tmp_path
):
    raw = _conf.tiny_raw(tiny_files)
    raw["training"]["accelerator"] = "cuda"
    config = tmp_path / "cuda.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "runs"
    res = CliRunner().invoke(app, ["train", str(config), "--out", str(out)])
    assert res.exit_code == 2, res.output
    message = res.stderr.strip()
    assert "training.accelerator is 'cuda'" in message and "Traceback" not in res.output
    assert len(message.splitlines()) == 1
    assert not out.exists()
