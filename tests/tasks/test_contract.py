"""The contract every registered task keeps (parametrized over TASKS)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biozoo.errors import BiozooError
from biozoo.tasks import (
    TASKS,
    EncodedTarget,
    Reference,
    SequenceOutput,
    TargetOptions,
    TargetTransform,
    Task,
)


@pytest.fixture(params=TASKS.names())
def case(request, task_example):
    cls = TASKS.get(request.param)
    x, labels, keys = task_example(request.param)
    options = cls.parse_options(keys, where="data.target")
    task = cls.from_options(options)
    encoded = task.encode_target(labels, options, "labels.csv")
    n_classes = len(encoded.classes) if encoded.classes else None
    return task, x, encoded, n_classes


def test_class_attributes(case):
    task, *_ = case
    assert isinstance(task, Task) and TASKS.get(task.name) is type(task)
    assert issubclass(task.Options, TargetOptions)
    assert task.primary in task.metric_names
    assert set(task.higher_is_better) == set(task.metric_names)
    if isinstance(task, SequenceOutput):  # no classical estimator predicts a sequence
        assert task.baseline_labels == {}
    else:
        assert task.baseline_labels and "linear" in task.baseline_labels


def test_encoded_target_has_one_row_per_sample(case):
    task, x, encoded, _ = case
    assert isinstance(encoded, EncodedTarget) and len(encoded.values) == len(x)
    labels = task.stratify_labels(encoded.values)
    assert labels is None or labels.shape == (len(x),)


def test_head_gives_prediction_and_a_differentiable_loss_under_vmap(case):
    task, x, encoded, n_classes = case
    head = task.head(n_classes)
    k = task.n_outputs(n_classes)
    transform = task.fit_target(encoded.values)
    y = torch.from_numpy(transform.transform(encoded.values[:8]))
    per_position = tuple(y.shape[1:2]) if isinstance(task, SequenceOutput) else ()
    outputs = torch.randn(3, 8, 2, *per_position, k, requires_grad=True)  # (M, B, K, [T,] k)
    view_mask = torch.ones(3, 8, 2, dtype=torch.bool)
    losses = torch.func.vmap(lambda o, v: head(o, v, y).loss)(outputs, view_mask)
    looped = torch.stack([head(outputs[m], view_mask[m], y).loss for m in range(3)])
    torch.testing.assert_close(losses, looped)
    losses.sum().backward()
    assert torch.isfinite(outputs.grad).all() and outputs.grad.abs().sum() > 0
    pred = head(outputs[0].detach(), view_mask[0]).prediction
    assert pred.shape[0] == 8 and torch.isfinite(pred).all()


def test_target_transform_round_trips_through_its_state(case):
    task, _, encoded, _ = case
    transform = task.fit_target(encoded.values)
    assert isinstance(transform, TargetTransform)
    arrays, meta = transform.state()
    back = task.load_target(arrays, meta)
    values = encoded.values
    np.testing.assert_array_equal(back.transform(values), transform.transform(values))


def test_baselines_metrics_and_prediction_columns(case):
    task, x, encoded, n_classes = case
    y = encoded.values
    for family in task.baseline_labels:
        model = task.baseline(family, x[:30], y[:30], n_classes=n_classes, seed=0)
        pred, train_pred = model.predict(x[30:]), model.predict(x[:30])
        ref = Reference(y[:30], train_pred) if task.needs_reference else None
        scores = task.metrics(y[30:], pred, n_classes=n_classes, reference=ref)
        assert list(scores) == list(task.metric_names)
        columns = task.prediction_columns(y[30:], pred, classes=encoded.classes, reference=ref)
        assert all(len(v) == 10 for v in columns.values())
        new = task.prediction_columns(None, pred, classes=encoded.classes)
        assert set(new) < set(columns)


def test_unknown_baseline_family_is_one_sentence(case):
    task, *_ = case
    message = f"baseline 'nope' has no estimator for task {task.name!r}"
    with pytest.raises(BiozooError, match=message):
        task.baseline_label("nope")
