"""The life-event protocol: split patients, fit the tokens on training patients, train the
generative model, and score it on test patients against three baselines fitted on the same
training patients: age-and-sex incidence rates, a per-code logistic regression of the next code
on counts of earlier codes and age (:mod:`.next_code`), and Aalen–Johansen cumulative incidence
by age (:mod:`.aalen_johansen`).

The incidence check: one trajectory (or ``evaluation.trajectories``) is sampled from each test
patient's first event, up to the end of that patient's follow-up (the latest age seen in
training for a patient who died); the Aalen–Johansen estimator read off the sampled
trajectories (the model's incidence), off the training patients (the baseline's) and off the
test patients (the observed incidence) gives each code's cumulative incidence at
``evaluation.incidence_ages``, for every code that follows a first event in some training
patient; ``incidence_mean_abs_error`` is the mean distance to the observed one over codes and
ages.

A generative history model is trained on each patient's own events rather than on a label per
patient, so it does not go through a run's per-patient head; what it shares with a run is
the ``events`` modality (reader, fold-fitted :class:`~biozoo.data.events.EventTokens`), the
registered encoders (any with the :class:`~biozoo.encoders.protocols.EventEncoder` ability)
and patient-level splits (:func:`~biozoo.data.splits.make_splits`): no test patient's event is
seen by the vocabulary, the covariate scaling, the model or the baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from biozoo._yaml import read_yaml
from biozoo.data.batch import to_device
from biozoo.data.cohort import RecordModality, align_records
from biozoo.data.events import PAD, UNK, EventsConfig, EventTokens, History, read_modality
from biozoo.data.protocol import Read
from biozoo.data.spec import SAFE_NAME, PartSpec, describe_error, part_for
from biozoo.data.splits import inner_split, make_splits
from biozoo.encoders import ENCODERS
from biozoo.errors import BiozooError
from biozoo.inputs import input_kinds
from biozoo.pipelines.life_events.aalen_johansen import AalenJohansenIncidence, incidence_table
from biozoo.pipelines.life_events.baseline import AgeSexIncidence
from biozoo.pipelines.life_events.metrics import (
    Scored,
    mean_nll,
    next_event_auc,
    waiting_time_calibration,
)
from biozoo.pipelines.life_events.model import (
    NO_EVENT,
    EventHistoryModel,
    fit_event_model,
    transitions,
    with_no_events,
)
from biozoo.pipelines.life_events.next_code import NextCodeLogistic, transition_features
from biozoo.pipelines.life_events.sampling import sample_trajectories
from biozoo.train.device import Accelerator, on_device, resolve_device

__all__ = ["LifeEventsConfig", "LifeEventsResult", "load_life_events_config", "run_life_events"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LifeEventsTraining(_Strict):
    """Patient split and optimisation; ``accelerator`` is where the model trains, is scored
    and samples (:mod:`biozoo.train.device`: ``auto``, ``cpu`` or ``cuda``)."""

    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    epochs: PositiveInt = 40
    batch_size: PositiveInt = 64
    lr: float = Field(3e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    patience: PositiveInt = 5
    seed: int = 0
    accelerator: Accelerator = "auto"


class LifeEventsEvaluation(_Strict):
    """Age bands (inner edges, years) and sex of the stratified AUCs; bins of the calibration."""

    age_bands: list[float] = Field(default_factory=lambda: [50.0, 60.0, 70.0])
    sex_covariate: str | None = "sex"
    min_cases: PositiveInt = 5
    calibration_bins: PositiveInt = 10
    baseline_band_years: float = Field(5.0, gt=0.0)
    incidence_ages: list[float] | None = None
    """Ages of the incidence check (None: 5 even steps up to the training patients' latest)."""
    trajectories: PositiveInt = 1
    """Sampled futures per test patient in the incidence check."""


class LifeEventsConfig(_Strict):
    """A life-event run: the events, the end-of-follow-up and terminal codes, the spacing of
    no-event tokens (years; None: none), the model."""

    name: str = Field("life_events", pattern=SAFE_NAME)
    data: EventsConfig
    censor_code: str | None = "END"
    terminal: list[str] = Field(default_factory=lambda: ["DEATH"])
    no_event_every: float | None = Field(5.0, gt=0.0)
    model: PartSpec = Field(default_factory=lambda: PartSpec(name="delphi"))
    training: LifeEventsTraining = Field(default_factory=LifeEventsTraining)
    evaluation: LifeEventsEvaluation = Field(default_factory=LifeEventsEvaluation)


def load_life_events_config(path: Path) -> LifeEventsConfig:
    """Read a YAML config; a relative data path is taken from the config's folder.

    Raises:
        BiozooError: the file is not YAML, or a key is unknown or wrong (naming it).
    """
    try:
        cfg = LifeEventsConfig.model_validate(read_yaml(Path(path), "config file"))
    except ValidationError as err:
        loc, msg = describe_error(err.errors()[0])
        raise BiozooError(f"{loc} in {path}: {msg}.") from None
    cfg.data = cfg.data.resolved(Path(path).resolve().parent)
    return cfg


@dataclass
class LifeEventsResult:
    """What a life-event run measured, and the fitted parts to sample from."""

    metrics: pd.DataFrame
    auc: pd.DataFrame
    calibration: pd.DataFrame
    incidence: pd.DataFrame
    training: dict[str, Any]
    part: EventTokens
    model: EventHistoryModel
    baseline: AgeSexIncidence
    logistic: NextCodeLogistic
    aalen_johansen: AalenJohansenIncidence
    patients: dict[str, list[str]]
    test_unknown_events: int
    seconds: dict[str, float] = field(default_factory=dict)


def run_life_events(cfg: LifeEventsConfig) -> LifeEventsResult:
    """Split patients, fit, train and score (see the module docstring).

    The model trains, is scored and samples on ``training.accelerator``'s device, and is
    handed back on the CPU.

    Raises:
        BiozooError: ``training.accelerator`` is ``cuda`` on a machine without CUDA (before
            any data is read), or the data or config cannot be used.
    """
    t0 = time.perf_counter()
    device = resolve_device(cfg.training.accelerator)
    read = read_modality("events", cfg.data)
    raw = list(read.data)
    read = Read(read.data.map(lambda h: with_no_events(h, cfg.no_event_every)), read.source, {})
    ids = pd.Index(read.data.index)
    mod = align_records("events", "events", read, ids)
    tr = cfg.training
    split = make_splits(np.zeros(len(ids)), kind="holdout", test_size=tr.test_size, seed=tr.seed)
    train, test = split[0].train, split[0].test
    part = part_for(cfg.data)
    assert isinstance(part, EventTokens)
    part.fit(mod.subset(train))
    x_train, x_test = part.transform(mod.subset(train)), part.transform(mod.subset(test))
    unknown = part.unknown
    index = part.index()
    silent = [index[c] for c in (cfg.censor_code, NO_EVENT) if c in index]
    never = [PAD, *silent]
    fit_pos, val_pos = inner_split(np.zeros(len(train)), val_fraction=tr.val_fraction, seed=tr.seed)
    torch.manual_seed(tr.seed)  # the initial weights come from the run seed only
    model = EventHistoryModel(event_encoder(cfg.model, part), len(index), never)
    with on_device(model, device):
        t1 = time.perf_counter()
        info = fit_event_model(
            model,
            _rows(x_train, fit_pos),
            _rows(x_train, val_pos),
            silent=silent,
            epochs=tr.epochs,
            batch_size=tr.batch_size,
            lr=tr.lr,
            weight_decay=tr.weight_decay,
            patience=tr.patience,
            seed=tr.seed,
        )
        t2 = time.perf_counter()
        with torch.no_grad():
            model_rates = model.log_rates(to_device(x_test, device))[:, :-1].cpu()
        codes = [i for c, i in index.items() if i not in (PAD, UNK, *silent)]
        vocab = part.token_names() or []
        raw_train = [raw[i] for i in train]
        later = {c for h in raw_train for c in h.codes[1:]}  # codes that occur after a first one
        names = [vocab[c] for c in codes if vocab[c] in later]
        aalen = AalenJohansenIncidence(names, cfg.terminal).fit(raw_train)
        incidence = _incidence_check(cfg, model, part, aalen, [raw[i] for i in test])
    ev = cfg.evaluation
    sex_train, sex_test = (_sex(mod.subset(rows), part, ev.sex_covariate) for rows in (train, test))
    baseline = _fit_baseline(x_train, sex_train, silent, never, len(index), ev.baseline_band_years)
    logistic = _fit_logistic(x_train, silent, len(index), codes)
    test_features = transition_features(x_test, silent, len(index))
    scored = {
        "delphi": _scored(x_test, model_rates.numpy().astype(np.float64), sex_test, silent),
        "age_sex_incidence": _scored(x_test, None, sex_test, silent, baseline),
        "next_code_logistic": replace(  # the same transitions, scored by probabilities only
            _scored(x_test, None, sex_test, silent, baseline),
            log_rates=None,
            next_prob=logistic.predict_proba(test_features),
        ),
    }
    rows, aucs, calib = [], [], []
    for method, s in scored.items():
        auc = next_event_auc(s, vocab, codes, ev.age_bands, min_cases=ev.min_cases)
        cal = waiting_time_calibration(s, ev.calibration_bins)
        rows.append(_metric_row(method, s, auc, cal, incidence))
        aucs.append(auc.assign(method=method))
        if len(cal):
            calib.append(cal.assign(method=method))
    rows.append({"method": "aalen_johansen", **_incidence_error(incidence, "aalen_johansen")})
    return LifeEventsResult(
        metrics=pd.DataFrame(rows),
        auc=pd.concat(aucs, ignore_index=True),
        calibration=pd.concat(calib, ignore_index=True),
        incidence=incidence,
        training=dict(info),
        part=part,
        model=model,
        baseline=baseline,
        logistic=logistic,
        aalen_johansen=aalen,
        patients={"train": list(ids[train]), "test": list(ids[test])},
        test_unknown_events=unknown,
        seconds={"total": time.perf_counter() - t0, "training": t2 - t1},
    )


def _metric_row(
    method: str, s: Scored, auc: pd.DataFrame, cal: pd.DataFrame, incidence: pd.DataFrame
) -> dict[str, Any]:
    """A method's line of the metrics table (NaN where the method gives no such number)."""
    overall, strata = auc[auc.age_band == "all"], auc[auc.age_band != "all"]
    ratio, worst = float("nan"), float("nan")
    if len(cal):  # a method with rates
        events, expected = cal.events.to_numpy(float), cal.expected_events.to_numpy(float)
        ratio = float(events.sum() / expected.sum())
        worst = float(np.abs(np.log(events / expected)).max())
    return {
        "method": method,
        "nll_per_event": mean_nll(s),
        "auc_macro": float(overall.auc.mean()),
        "auc_age_sex_strata": float(strata.auc.mean()),
        "calibration_events_over_expected": ratio,
        "calibration_max_abs_log_ratio": worst,
        **_incidence_error(incidence, method),
    }


def _incidence_error(incidence: pd.DataFrame, method: str) -> dict[str, float]:
    if method not in incidence.columns:
        return {"incidence_mean_abs_error": float("nan")}
    err = (incidence[method] - incidence["observed"]).abs().mean()
    return {"incidence_mean_abs_error": float(err)}


def _incidence_check(
    cfg: LifeEventsConfig,
    model: EventHistoryModel,
    part: EventTokens,
    aalen: AalenJohansenIncidence,
    test: list[History],
) -> pd.DataFrame:
    """Observed (test patients), sampled (model) and Aalen–Johansen (training patients)
    cumulative incidence of each code at the check's ages; columns ``code, age, observed,
    delphi, aalen_johansen``."""
    latest = max(float(h.ages[-1]) for h in aalen.histories)
    ages = cfg.evaluation.incidence_ages
    if ages is None:
        first = min(float(h.ages[0]) for h in aalen.histories)
        ages = np.linspace(first, latest, 6)[1:].round(2).tolist()
    n = cfg.evaluation.trajectories
    starts = [History(h.ages[:1], h.codes[:1], h.covariates) for h in test]
    traj = sample_trajectories(
        model,
        part,
        starts,
        start_ages=[float(h.ages[0]) for h in test],
        max_age=latest,
        terminal=cfg.terminal,
        n=n,
        seed=cfg.training.seed,
        no_event_every=cfg.no_event_every,
    )
    by = {k: g for k, g in traj.groupby(["history", "trajectory"], sort=False)}
    sampled, ends = [], []
    for i, h in enumerate(starts):
        died = test[i].codes[-1] in cfg.terminal
        for k in range(n):
            g = by.get((i, k))
            ages_k = h.ages if g is None else np.concatenate([h.ages, g.age.to_numpy(float)])
            codes_k = h.codes if g is None else np.concatenate([h.codes, g.code.to_numpy(object)])
            sampled.append(History(ages_k, codes_k, h.covariates))
            ends.append(latest if died else float(test[i].ages[-1]))
    observed = incidence_table(test, aalen.codes, cfg.terminal, ages)
    model_inc = incidence_table(sampled, aalen.codes, cfg.terminal, ages, ends=np.array(ends))
    return observed.rename(columns={"incidence": "observed"}).assign(
        delphi=model_inc.incidence.to_numpy(),
        aalen_johansen=aalen.incidence(ages).incidence.to_numpy(),
    )


def _fit_logistic(x, silent, vocab, codes) -> NextCodeLogistic:
    t = transitions(x, silent)
    valid = t.valid.numpy()
    observed, code = t.observed.numpy()[valid], t.code.numpy()[valid]
    features = transition_features(x, silent, vocab)
    return NextCodeLogistic(vocab, codes).fit(features[observed], code[observed])


def _rows(x: dict[str, torch.Tensor], pos: np.ndarray) -> dict[str, torch.Tensor]:
    return {k: v[torch.from_numpy(pos)] for k, v in x.items()}


def event_encoder(spec: PartSpec, part: EventTokens) -> torch.nn.Module:
    """The registered encoder ``spec`` names, built for the fitted tokens ``part``.

    Raises:
        BiozooError: the encoder cannot read life events.
    """
    cls = ENCODERS.get(spec.name, where="model")
    if not isinstance(part.input, cls.reads):
        raise BiozooError(
            f"encoder {spec.name!r} cannot read life events; it reads {input_kinds(cls.reads)}."
        )
    return cls(part.input, **cls.Config(**spec.options).model_dump())


def _sex(mod: RecordModality, part: EventTokens, column: str | None) -> np.ndarray | None:
    if column is None:
        return None
    if column not in part.options.covariates:
        raise BiozooError(
            f"evaluation.sex_covariate {column!r} is not one of the events' covariates "
            f"({', '.join(part.options.covariates) or 'none'})."
        )
    j = part.options.covariates.index(column)
    values = np.array([r.covariates[j] for r in mod.records], dtype=np.float64)
    if not np.isin(values, (0.0, 1.0)).all():
        raise BiozooError(f"covariate {column!r} of {mod.source} must be 0 or 1 to stratify on.")
    return values.astype(np.int64)


def _flat_transitions(x: dict[str, torch.Tensor], silent: list[int], sex: np.ndarray | None):
    t = transitions(x, silent)
    valid = t.valid.numpy()
    age = x["ages"][:, :-1].numpy().astype(np.float64)[valid]
    per_patient = np.zeros(len(valid), dtype=np.int64) if sex is None else sex
    patient_sex = np.broadcast_to(per_patient[:, None], valid.shape)[valid]
    return (
        valid,
        age,
        patient_sex,
        t.code.numpy()[valid],
        t.dt.numpy().astype(np.float64)[valid],
        t.observed.numpy()[valid],
    )


def _fit_baseline(x, sex, silent, never, vocab, band_years) -> AgeSexIncidence:
    _, age, patient_sex, code, dt, observed = _flat_transitions(x, silent, sex)
    return AgeSexIncidence(vocab, never, band_years=band_years).fit(
        age, dt, code, observed, patient_sex
    )


def _scored(x, log_rates, sex, silent, baseline: AgeSexIncidence | None = None) -> Scored:
    valid, age, patient_sex, code, dt, observed = _flat_transitions(x, silent, sex)
    rates = baseline.log_rates(age, patient_sex) if baseline is not None else log_rates[valid]
    return Scored(rates, age, None if sex is None else patient_sex, code, dt, observed)
