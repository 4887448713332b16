"""The loops that do not go through Lightning run where ``training.accelerator`` says.

No GPU is needed: the ``meta`` device stands for one. Each test puts the model there (or
makes the device helper answer ``meta``) and stops the loop at its first model call, where
it checks that the model and every tensor it is given are on that device. What this cannot
show without a GPU is a full loop on CUDA; ``benchmarks/gpu_timing.py`` is for that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tests.conftest import tiny_raw

from biozoo.api import parse_config
from biozoo.config import ModelConfig
from biozoo.data.align import load_cohort
from biozoo.data.cohort import RecordModality
from biozoo.data.events import PAD, EventTokens, History
from biozoo.data.sources.life_events import simulate_life_events
from biozoo.data.spec import PartSpec
from biozoo.encoders import DelphiEncoder
from biozoo.errors import BiozooError
from biozoo.explain import kan_symbolic
from biozoo.layers.kan import KAN, KANLinear
from biozoo.model import build_model
from biozoo.pipelines import link_prediction as links
from biozoo.pipelines.life_events import (
    NO_EVENT,
    EventHistoryModel,
    LifeEventsConfig,
    fit_event_model,
    rates_after,
    run_life_events,
    sample_trajectories,
    with_no_events,
)
from biozoo.pipelines.life_events import protocol as life_protocol
from biozoo.search import objective
from biozoo.tasks import TASKS
from biozoo.train import experiment
from biozoo.train.baselines import patient_gcn
from biozoo.train.device import Accelerated, module_device
from biozoo.train.ensemble import StackedEnsemble

META, CPU = torch.device("meta"), torch.device("cpu")


class _Stop(Exception):
    pass


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def meta_comes_back(monkeypatch):
    """``Module.cpu()`` of a module on ``meta`` (which holds no data to copy back) gives
    empty CPU weights, so that :func:`~biozoo.train.device.on_device` can hand it back."""
    monkeypatch.setattr(torch.nn.Module, "cpu", lambda self: self.to_empty(device="cpu"))


def _devices(value) -> set[torch.device]:
    """The devices of every tensor in ``value`` (a tensor, or a dict or list of them)."""
    if isinstance(value, torch.Tensor):
        return {value.device}
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return set().union(*(_devices(v) for v in value)) if value else set()
    return set()


def _spy_resolve(monkeypatch, module) -> list[str]:
    """``module.resolve_device`` answers ``meta``; returns the values it was asked for."""
    asked: list[str] = []

    def resolve(accelerator, **kwargs):
        asked.append(accelerator)
        return META

    monkeypatch.setattr(module, "resolve_device", resolve)
    return asked


# ---------------------------------------------------------------- life events


def _events():
    sim = simulate_life_events(40, seed=0)
    hist = []
    for _, g in sim.events.groupby("patient", sort=False):
        cov = np.array([float(g.sex.iloc[0])])
        hist.append(History(g.age.to_numpy(float), g.code.to_numpy(object), cov))
    records = np.array([with_no_events(h, 5.0) for h in hist], dtype=object)
    mod = RecordModality("ev", "events", records, np.ones(len(records), bool), "sim")
    part = EventTokens(covariates=["sex"]).fit(mod)
    silent = [part.index()[c] for c in ("END", NO_EVENT)]
    torch.manual_seed(0)
    model = EventHistoryModel(
        DelphiEncoder(part.input, dropout=0.0), len(part.token_names()), [PAD, *silent]
    )
    return model, part, hist, part.transform(mod), silent


def _stop_at(monkeypatch, model, method) -> list[set[torch.device]]:
    """``model.method`` records the devices of its inputs and of the model, then stops."""
    seen: list[set[torch.device]] = []

    def call(x, *args):
        seen.append(_devices(x) | {module_device(model)})
        raise _Stop

    monkeypatch.setattr(model, method, call)
    return seen


def test_the_event_loop_moves_its_batches_to_the_models_device(monkeypatch):
    model, _, _, x, silent = _events()
    seen = _stop_at(monkeypatch, model.to(META), "log_likelihood")
    with pytest.raises(_Stop):
        fit_event_model(model, x, x, silent=silent, epochs=1, batch_size=8)
    assert seen == [{META}]


@pytest.mark.parametrize("sample", [True, False])
def test_sampling_and_rates_read_the_histories_on_the_models_device(monkeypatch, sample):
    model, part, hist, _, _ = _events()
    seen = _stop_at(monkeypatch, model.to(META), "log_rates")
    with pytest.raises(_Stop):
        if sample:
            sample_trajectories(
                model, part, hist[:3], start_ages=[90.0] * 3, max_age=100.0, terminal=["DEATH"]
            )
        else:
            rates_after(model, part, hist[:3])
    assert seen == [{META}]


def _life_config(tmp_path, accelerator: str) -> LifeEventsConfig:
    path = tmp_path / "events.csv"
    simulate_life_events(60, seed=0).events.to_csv(path, index=False)
    return LifeEventsConfig(
        data={"path": path, "events": {"covariates": ["sex"]}},
        training={"epochs": 1, "accelerator": accelerator},
    )


def test_the_life_event_run_trains_on_its_accelerators_device(
    monkeypatch, tmp_path, meta_comes_back
):
    asked = _spy_resolve(monkeypatch, life_protocol)
    seen = []

    def fit(model, fit_rows, val_rows, **kwargs):
        seen.append(module_device(model))
        raise _Stop

    monkeypatch.setattr(life_protocol, "fit_event_model", fit)
    with pytest.raises(_Stop):
        run_life_events(_life_config(tmp_path, "cpu"))
    assert asked == ["cpu"] and seen == [META]


def test_a_life_event_run_asking_for_cuda_where_there_is_none_stops_first(no_cuda, tmp_path):
    cfg = _life_config(tmp_path, "cuda")
    cfg.data.path = tmp_path / "absent.csv"  # the device is refused before the data is read
    with pytest.raises(BiozooError, match=r"^training\.accelerator is 'cuda' but"):
        run_life_events(cfg)


# ---------------------------------------------------------------- link prediction


def _network() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    i, j = np.triu_indices(30, k=1)
    keep = rng.random(len(i)) < 0.2
    return pd.DataFrame({"a": [f"n{k}" for k in i[keep]], "b": [f"n{k}" for k in j[keep]]})


@pytest.mark.parametrize("features", [False, True])
def test_the_link_gnn_trains_on_its_accelerators_device(monkeypatch, features):
    asked = _spy_resolve(monkeypatch, links)
    seen = []

    def encode(self, edge_index, x=None):
        seen.append(_devices([edge_index, x]) | {module_device(self)})
        raise _Stop

    monkeypatch.setattr(links.LinkGNN, "encode", encode)
    split = links.split_links(_network(), seed=0)
    feats = np.ones((split.n_nodes, 3), np.float32) if features else None
    with pytest.raises(_Stop):
        links.train_link_gnn(split, node_features=feats, hidden=4, accelerator="cpu")
    assert asked == ["cpu"] and seen == [{META}]


def test_link_prediction_on_the_cpu_is_the_default_here_and_cuda_is_refused(no_cuda):
    default = links.link_prediction(_network(), epochs=3, hidden=4, heuristics=())
    cpu = links.link_prediction(_network(), epochs=3, hidden=4, heuristics=(), accelerator="cpu")
    assert {k: v for k, v in cpu["gnn"].items() if k != "seconds"} == {
        k: v for k, v in default["gnn"].items() if k != "seconds"
    }
    with pytest.raises(BiozooError, match=r"^accelerator is 'cuda' but"):
        links.link_prediction(_network(), epochs=1, hidden=4, accelerator="cuda")


# ---------------------------------------------------------------- patient GCN


def _table(n=24):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 5)).astype(np.float32), np.arange(n) % 2


def test_the_patient_gcn_trains_and_predicts_on_the_device_it_is_given(monkeypatch):
    seen = []

    def forward(self, x, edge_index, weight):
        seen.append(_devices([x, edge_index, weight]) | {module_device(self)})
        raise _Stop

    monkeypatch.setattr(patient_gcn._GCN, "forward", forward)
    X, y = _table()
    with pytest.raises(_Stop):
        patient_gcn.transductive_gcn(
            X, y, np.arange(24) < 16, task=TASKS.get("binary")(), epochs=1, device=META
        )
    assert seen == [{META}]


def test_the_patient_gcn_baseline_takes_the_runs_accelerator(monkeypatch, tiny_files):
    asked = _spy_resolve(monkeypatch, patient_gcn)
    seen = []

    def gcn(*args, device, **kwargs):
        seen.append(device)
        raise _Stop

    monkeypatch.setattr(patient_gcn, "transductive_gcn", gcn)
    raw = tiny_raw(tiny_files, models={}, baselines=["patient_gcn"])
    raw["training"] |= {"accelerator": "cpu", "split": {"kind": "holdout", "repeats": 1}}
    cfg = parse_config(raw)
    with pytest.raises(_Stop):
        experiment.run_experiment(cfg, load_cohort(cfg.data))
    assert asked == ["cpu"] and seen == [META]


def test_a_fitted_patient_gcn_is_placed_by_its_accelerator_and_refuses_absent_cuda(no_cuda):
    X, y = _table()
    base = patient_gcn.PatientGCNBaseline(task=TASKS.get("binary")(), accelerator="cuda")
    model = base.fit(X[:16], y[:16], n_classes=2).model_
    assert isinstance(model, Accelerated) and model.accelerator == "cuda"
    with pytest.raises(BiozooError, match="is 'cuda' but torch sees no CUDA"):
        model.predict(X[16:])
    model.accelerator = "cpu"  # what a saved run does with its serving device
    assert model.predict(X[16:]).shape == (8, 2)


# ---------------------------------------------------------------- KAN symbolic formula


def test_the_symbolic_fit_samples_the_edges_on_the_kans_device(monkeypatch):
    seen = []

    def edge_activations(self, grid):
        seen.append(_devices(grid) | {module_device(self)})
        raise _Stop

    monkeypatch.setattr(KANLinear, "edge_activations", edge_activations)
    model = KAN([2, 1], grid=3).to(META)
    with pytest.raises(_Stop):
        kan_symbolic.symbolic_formula(model, torch.rand(20, 2))
    assert seen == [{META}]


# ---------------------------------------------------------------- search trials


def test_a_search_trial_scores_on_the_units_device_and_hands_the_model_back(
    monkeypatch, tiny_files, meta_comes_back
):
    cfg = parse_config(tiny_raw(tiny_files, baselines=[]))
    cohort = load_cohort(cfg.data)
    spec = ModelConfig(default_encoder=PartSpec(name="mlp", hidden=[4], out_dim=2))
    ens = StackedEnsemble(lambda: build_model(spec, {"clinical": 4, "rna": 30, "meth": 40}, 1), [0])
    monkeypatch.setattr(objective, "train_split_ensemble", lambda *a, **k: (ens, {}, None, None))
    asked, seen = [], []

    def device(cfg, mname):
        asked.append(mname)
        return META

    def predictions(ensemble, *args):
        seen.append(module_device(ensemble))
        raise _Stop

    monkeypatch.setattr(objective, "unit_device", device)
    monkeypatch.setattr(objective, "member_predictions", predictions)
    rows = np.arange(len(cohort.ids))
    with pytest.raises(_Stop):
        objective.score_fold(
            cfg, "late", cohort.subset(rows[:40]), cohort.subset(rows[40:]), fold=0
        )
    assert asked == ["late"] and seen == [META]
    assert module_device(ens) == CPU  # handed back on the CPU, as run units are


def test_the_unit_device_is_the_runs_accelerator(no_cuda, tiny_files):
    raw = tiny_raw(tiny_files)
    assert experiment.unit_device(parse_config(raw), "late") == CPU
    raw["training"]["accelerator"] = "cuda"
    with pytest.raises(BiozooError, match=r"^training\.accelerator is 'cuda'"):
        experiment.unit_device(parse_config(raw), "late")
