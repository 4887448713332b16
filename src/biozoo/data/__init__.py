"""Data: modality kinds (one subpackage each), the cohort, splits and batches.

Importing the package registers every kind in :data:`~biozoo.data.protocol.MODALITIES`, and
every split kind in :data:`~biozoo.data.splits.SPLIT_KINDS`; a new kind is one subpackage (or
module) and one import line here.
"""

from biozoo.data import (  # noqa: F401  (register the modality and split kinds)
    events,
    image,
    molecule,
    predefined_split,
    sequence,
    series,
    table,
)
from biozoo.data.protocol import MODALITIES

__all__ = ["MODALITIES"]
