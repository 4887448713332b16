"""Shared helpers for the data tests: tiny tables written to ``tmp_path``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biozoo.errors import BiozooError


@pytest.fixture
def error_naming(tmp_path: Path) -> Callable[..., str]:
    """Run ``fn``; assert it raises a one-sentence BiozooError that names every ``part``.

    A str part must appear outside the test's temporary folder name (which holds the test's
    name, so words like "empty" would match by accident); a Path part must appear whole.
    """

    def check(fn: Callable[[], object], *parts: object) -> str:
        with pytest.raises(BiozooError) as info:
            fn()
        message = str(info.value)
        assert "\n" not in message
        assert message.rstrip().endswith((".", "?")), message
        outside = message.replace(str(tmp_path), "<tmp>")
        for part in parts:
            text = message if isinstance(part, Path) else outside
            assert str(part) in text, f"{part!r} not in {message!r}"
        return message

    return check


@pytest.fixture
def small_table() -> pd.DataFrame:
    """4 samples x 3 features, one missing value, in read_table's format."""
    values = np.array(
        [[1.0, 2.5, np.nan], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [0.5, -1.0, 3.0]],
        dtype=np.float32,
    )
    index = pd.Index(["s1", "s2", "s3", "s4"], name="sample_id")
    return pd.DataFrame(values, index=index, columns=["f1", "f2", "f3"])


@pytest.fixture
def write_text(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``tmp_path / name`` and return the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
