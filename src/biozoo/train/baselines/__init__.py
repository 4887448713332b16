"""Classical baselines that run on the same folds as the deep models (see :mod:`._base`).

``BASELINES`` maps names to classes: ``linear``, ``random_forest``, ``gradient_boosting``
(:mod:`.sklearn`) and ``patient_gcn`` (:mod:`.patient_gcn`).
"""

from __future__ import annotations

from biozoo.train.baselines._base import BASELINES, Baseline
from biozoo.train.baselines.patient_gcn import PatientGCNBaseline
from biozoo.train.baselines.sklearn import (
    GradientBoostingBaseline,
    LinearBaseline,
    RandomForestBaseline,
)

__all__ = [
    "BASELINES",
    "Baseline",
    "GradientBoostingBaseline",
    "LinearBaseline",
    "PatientGCNBaseline",
    "RandomForestBaseline",
]
