"""Data: modality kinds (one subpackage each), the cohort, splits and batches.

Importing the package registers every kind in :data:`~biozoo.data.protocol.MODALITIES`; a
new kind is one subpackage and one import line here.
"""

from biozoo.data import events, molecule, sequence, series, table  # noqa: F401  (register kinds)
from biozoo.data.protocol import MODALITIES

__all__ = ["MODALITIES"]
