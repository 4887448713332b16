"""What a modality kind's reader gives back, before the data is aligned to a cohort."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["Read"]


@dataclass(frozen=True)
class Read:
    """What a kind's reader gives: the data by sample id, where it came from, and extras.

    Attributes:
        data: a table (rows = sample ids) or a Series of one record per sample id.
        source: the path or bundled dataset, for messages.
        meta: what the reader learned about the records (e.g. channel names).
    """

    data: pd.DataFrame | pd.Series
    source: str
    meta: dict[str, object]
