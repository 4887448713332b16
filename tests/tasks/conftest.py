"""A small labelled example per registered task, for the contract tests (``task_example``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.Index([f"S{i}" for i in range(n)], name="sample_id"))


def example(name: str, n: int = 40, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """Features ``[n, 4]`` that carry the target, the label frame, and the target keys.

    Raises:
        KeyError: a registered task with no example here; add one when adding a task.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    if name == "binary":
        y = np.where(x[:, 0] + 0.3 * rng.normal(size=n) > 0, "yes", "no")
        return x, _frame({"y": y}), {"column": "y"}
    if name == "multiclass":
        y = np.digitize(x[:, 0] + 0.3 * rng.normal(size=n), [-0.5, 0.5])
        return x, _frame({"y": np.array(["a", "b", "c"])[y]}), {"column": "y"}
    if name == "regression":
        return x, _frame({"y": 2 * x[:, 0] + 0.1 * rng.normal(size=n)}), {"column": "y"}
    if name == "survival":
        t = rng.exponential(np.exp(-x[:, 0]))
        c = rng.exponential(2.0, n)
        frame = _frame({"time": np.minimum(t, c), "event": (t <= c).astype(int)})
        return x, frame, {"time": "time", "event": "event"}
    if name == "sequence":
        letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
        lengths = 3 + (np.abs(x[:, 0]) * 3).astype(int)
        y = ["".join(rng.choice(letters, size=int(n_))) for n_ in lengths]
        return x, _frame({"y": np.array(y, dtype=object)}), {"column": "y"}
    raise KeyError(f"no example target for task {name!r}; add one to tests/tasks/examples.py")


@pytest.fixture
def task_example():
    """:func:`example`, for tests."""
    return example
