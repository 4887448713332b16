"""Every view of every registered modality kind honours the part contract.

For each (kind, view): the fitted state depends on the training rows only (the other rows
replaced by garbage leave it bit-identical, and leave the training rows' transform alone),
the state round-trips through ``state`` / ``from_state`` and the saved ``type``, and
``transform``, ``flat`` and ``input`` agree on shapes. A kind registered without an example
here fails, so a new kind cannot skip the contract.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biozoo.data import MODALITIES
from biozoo.data.batch import GraphSource
from biozoo.data.cohort import RecordModality, TableModality
from biozoo.data.events import History
from biozoo.data.protocol import Part, part_class
from biozoo.inputs import (
    EventsInput,
    FeatureGraphInput,
    GraphInput,
    GroupsInput,
    ImageInput,
    SeriesInput,
    TableInput,
    TokensInput,
)
from biozoo.tasks import TASKS

N = 24
TRAIN = np.arange(N) % 3 != 0  # a third of the rows are "test" rows
SMILES = ["CCO", "CCCC", "c1ccccc1", "CC(=O)O", "CCN", "CCCl", "CCCCO", "c1ccncc1"]
OPTIONS = {
    ("table", "omics_groups"): {"groups": "correlation", "n_groups": 3},
    ("image", "pixels"): {"size": (8, 8), "resize": "pad", "bins": 4},
    ("events", "tokens"): {"covariates": ["sex"]},
}


def _table(garbage: bool) -> TableModality:
    rng = np.random.default_rng(0)
    values = rng.lognormal(size=(N, 12)).astype(np.float32)
    values[1, 3] = np.nan
    present = np.ones(N, dtype=bool)
    present[4] = False
    values[4] = np.nan
    if garbage:
        values[~TRAIN] = rng.normal(1e3, 1e3, size=((~TRAIN).sum(), 12))
    return TableModality("t", values, [f"G{i}" for i in range(12)], present, "t.csv")


def _records(kind: str, make, garbage_value, meta=None):
    def build(garbage: bool) -> RecordModality:
        rng = np.random.default_rng(0)
        records = np.empty(N, dtype=object)
        for i in range(N):
            records[i] = make(rng, i)
        present = np.ones(N, dtype=bool)
        present[4], records[4] = False, None
        if garbage:
            for i in np.flatnonzero(~TRAIN & present):
                records[i] = garbage_value(rng)
        return RecordModality("r", kind, records, present, f"{kind}.csv", dict(meta or {}))

    return build


def _series(rng, i):
    t = np.sort(rng.integers(0, 100, size=int(rng.integers(2, 6)))).astype(float)
    return np.column_stack([t, rng.normal(size=(len(t), 2))])


def _series_garbage(rng):
    t = np.arange(9, dtype=float)
    return np.column_stack([t, rng.normal(1e4, 1e4, size=(9, 2))])


def _image(rng, i):
    h, w = (int(v) for v in rng.integers(5, 12, 2))  # sizes differ: the view pads or shrinks
    return rng.gamma(2.0, size=(2, h, w)).astype(np.float32)


def _image_garbage(rng):
    return rng.normal(1e4, 1e4, size=(2, 16, 6)).astype(np.float32)


def _history(rng, i):
    codes = rng.choice(["I10", "E11", "I21", "F32", "J44"], size=int(rng.integers(1, 6)))
    ages = np.sort(rng.uniform(30, 80, size=len(codes)))
    return History(ages, codes.astype(object), np.array([float(i % 2)]))


def _history_garbage(rng):
    codes = np.array([f"Z{k}" for k in range(12)], dtype=object)  # codes of test rows only
    return History(np.linspace(100, 900, 12), codes, np.array([1e6]))


EXAMPLES = {
    "table": _table,
    "sequence": _records(
        "sequence",
        lambda rng, i: "".join(rng.choice(list("ACDEFGHIK"), int(rng.integers(4, 9)))),
        lambda rng: "WWWWYYYYVVVVWWWWYYYY",
    ),
    "series": _records("series", _series, _series_garbage, {"channels": ["a", "b"]}),
    "molecule": _records(
        "molecule", lambda rng, i: SMILES[i % len(SMILES)], lambda rng: "CCCCCCCCCCCCCCCCCCCCCCO"
    ),
    "image": _records("image", _image, _image_garbage, {"channels": ["dna", "actin"]}),
    "events": _records("events", _history, _history_garbage),
}

# views checked once more with other options: (kind, view) -> variant name -> options
VARIANTS = {("table", "gene_rank"): {"values": {"value_bins": 4}}}
CASES = [(k, v, "") for k in MODALITIES.names() for v in MODALITIES.get(k).views.names()]
CASES += [(k, v, name) for (k, v), named in VARIANTS.items() for name in named]
IDS = [f"{k}-{v}" + (f"-{n}" if n else "") for k, v, n in CASES]


def _part(kind: str, view: str, variant: str = "") -> Part:
    options = VARIANTS[(kind, view)][variant] if variant else OPTIONS.get((kind, view), {})
    return MODALITIES.get(kind).views.get(view)(**options)


def _fit(kind: str, view: str, variant: str = "", garbage: bool = False) -> tuple[Part, object]:
    if kind not in EXAMPLES:
        pytest.fail(f"modality kind {kind!r} has no example in {__name__}.EXAMPLES")
    mod = EXAMPLES[kind](garbage)
    y = (np.arange(N) % 2).astype(np.int64)
    train = np.flatnonzero(TRAIN)
    part = _part(kind, view, variant)
    return part.fit(mod.subset(train), y[train], TASKS.get("binary")()), mod


def _leaves(x: object) -> list[np.ndarray]:
    if isinstance(x, torch.Tensor):
        return [x.numpy()]
    if isinstance(x, dict):
        return [a for k in sorted(x) for a in _leaves(x[k])]
    assert isinstance(x, GraphSource)
    return [g.x.numpy() for g in (x[i] for i in range(len(x)))]


def _rows(x: object, rows: np.ndarray) -> list[np.ndarray]:
    if isinstance(x, GraphSource):
        return [x[int(i)].x.numpy() for i in rows]
    return [a[rows] for a in _leaves(x)]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(("kind", "view", "variant"), CASES, ids=IDS)
def test_the_saved_type_names_the_view(kind, view, variant):
    cls = MODALITIES.get(kind).views.get(view)
    assert cls.type == f"{kind}/{view}"
    assert part_class(cls.type) is cls


@pytest.mark.parametrize(("kind", "view", "variant"), CASES, ids=IDS)
def test_the_fitted_state_sees_the_training_rows_only(kind, view, variant):
    clean, mod = _fit(kind, view, variant)
    spied, spoiled = _fit(kind, view, variant, garbage=True)
    (a_arrays, a_meta), (b_arrays, b_meta) = clean.state(), spied.state()
    assert a_meta == b_meta and sorted(a_arrays) == sorted(b_arrays)
    for key in a_arrays:
        assert np.array_equal(a_arrays[key], b_arrays[key], equal_nan=True), key
    train = np.flatnonzero(TRAIN)
    x_clean, x_spoiled = clean.transform(mod), clean.transform(spoiled)
    if isinstance(x_clean, dict) and "mask" in x_clean:  # padded widths follow the fit
        assert x_clean["mask"].shape == x_spoiled["mask"].shape
    assert _same(_rows(x_clean, train), _rows(x_spoiled, train))


@pytest.mark.parametrize(("kind", "view", "variant"), CASES, ids=IDS)
def test_the_state_round_trips(kind, view, variant):
    part, mod = _fit(kind, view, variant)
    assert isinstance(part, Part)
    arrays, meta = part.state()
    back = part_class(part.type).from_state({k: np.asarray(v) for k, v in arrays.items()}, meta)
    assert back.input == part.input
    assert back.feature_names() == part.feature_names()
    assert back.token_names() == part.token_names()
    assert _same(_leaves(back.transform(mod)), _leaves(part.transform(mod)))
    assert np.array_equal(back.flat(mod), part.flat(mod))


@pytest.mark.parametrize(("kind", "view", "variant"), CASES, ids=IDS)
def test_flat_transform_and_input_agree(kind, view, variant):
    part, mod = _fit(kind, view, variant)
    flat = part.flat(mod)
    assert flat.dtype == np.float32 and flat.ndim == 2 and flat.shape[0] == N
    assert np.isfinite(flat).all()
    x, spec = part.transform(mod), part.input
    match spec:
        case TableInput(n_features=p) | FeatureGraphInput(n_features=p):
            assert x.shape == (N, p)
            names = part.feature_names()
            assert names is None or len(names) == p
        case TokensInput(vocab=vocab, max_len=max_len, values=values):
            assert x["tokens"].shape[0] == N and x["tokens"].shape[1] <= max_len
            assert int(x["tokens"].max()) < vocab
            if values:
                assert x["values"].shape == x["tokens"].shape and int(x["values"].max()) < values
                assert torch.equal(x["values"] > 0, x["tokens"] > 2)  # a value per gene token
            else:
                assert "values" not in x
            names = part.token_names()
            assert names is None or len(names) == vocab
        case SeriesInput(channels=channels, max_len=max_len):
            assert x["values"].shape[0] == N and x["values"].shape[1] <= max_len
            assert x["values"].shape[2] == channels
        case GroupsInput(groups=groups, size=size):
            assert x["values"].shape == (N, groups, size) == x["mask"].shape
            assert len(part.token_names()) == groups
        case GraphInput(node_dim=node_dim):
            assert len(x) == N and x[0].x.shape[1] == node_dim
        case ImageInput(channels=channels, height=height, width=width):
            assert x.shape == (N, channels, height, width) and x.dtype == torch.float32
        case EventsInput(vocab=vocab, max_len=max_len, covariates=c):
            assert x["codes"].shape == x["ages"].shape == x["mask"].shape
            assert x["codes"].shape[0] == N and x["codes"].shape[1] <= max_len
            assert int(x["codes"].max()) < vocab and x["covariates"].shape == (N, c)
            assert len(part.token_names()) == vocab
        case _:
            pytest.fail(f"unknown input {spec!r}")
