"""The lecture's cohort as a simulator preset: liver status of 300 patients with obesity.

The multi-module MLP preprint (Gambardella et al. 2025, https://doi.org/10.1101/2025.10.10.681581)
predicts the liver status of 300 patients of the ABOS cohort from clinical variables, liver
RNA-seq and liver CpG methylation; its five-model ensemble reached an AUC of 0.945 on that
(non-public) cohort. This preset mirrors its shape with a known truth:

- 300 patients in three ordered classes: 80 without liver disease (``no_disease``), 137 with
  steatosis (``steatosis``) and 83 with NASH (``NASH``); steatosis gets half of each class
  shift, NASH all of it (:func:`~biozoo.data.sources.simulate.simulate_cohort`);
- ``clinical``: the simulator's 8 clinical variables, 4 of them informative;
- ``rna``: 20,000 genes (negative binomial counts), 200 informative;
- ``meth``: 450,000 CpGs (beta values), 260 informative: a few hundred features of each omics
  table carry the signal, as many as survived the preprint's feature selection.

Labels: ``status`` (the class names), ``label`` (class codes 0, 1, 2 in the order above) and
``nash`` (1 for NASH, 0 for steatosis, missing without liver disease: the preprint's NASH
versus steatosis question; a run drops the samples whose label is missing).

Effects (:data:`LIVER_EFFECT`, between the first and the last class): 1.2 latent standard
deviations for a clinical variable, a log2 fold change of 0.4 for a gene, 0.35 on the logit
scale for a CpG. Calibrated so the task is neither trivial nor hopeless: a plain reference (per
fold: the 50 best ANOVA features of each omics table, log CPM for counts, logit for betas,
standardised; L2 logistic regression, C=0.1; stratified 5-fold) reaches a macro one-vs-rest
ROC AUC of 0.87 with the three modalities (clinical 0.79, RNA 0.82, methylation 0.80 alone)
and 0.83 for NASH versus steatosis; with effects of 0.5 / 0.45 it reached 0.975, with 1.0
every omics table alone reached 1.0.

Size: the methylation table is 300 x 450,000 float32, 540 MB. It is generated a block of
16,384 CpGs at a time, so the peak stays near the table's own size; each modality has its own
random stream, so ``only=("clinical", "rna")`` skips the CpGs and gives the same tables as the
whole cohort. A run's table transform (``transforms: {top_k: ...}``, fitted on each training
part) reduces the tables before any model sees them. Measured on the shared 2-core machine
(``OMP_NUM_THREADS=1``, load average ~7): the whole cohort in 45 s with a peak resident memory
of 1.13 GB, of which 0.44 GB is the interpreter with its imports and 0.56 GB the returned tables;
``only=("clinical", "rna")`` in 3 s. Through a run config (``examples/liver_cohort.yaml``):
reading the three tables into a cohort took 49 s (peak 1.80 GB, the dataset's cached table and
the run's copy both held), one fold's transforms (top 200 genes, top 260 CpGs, fitted on 240
patients) 17 s more (peak 2.38 GB); a whole 2-fold run with 5 epochs and one member per
ensemble, report included, 227 s wall and 2.95 GB peak on the same loaded machine.
"""

from __future__ import annotations

from collections.abc import Collection

from biozoo.data.sources.simulate import SimulatedCohort, simulate_cohort

__all__ = ["LIVER_CLASSES", "LIVER_FEATURES", "LIVER_INFORMATIVE", "liver_cohort"]

LIVER_CLASSES = {"no_disease": 80, "steatosis": 137, "NASH": 83}
"""Class name -> number of patients, in the order of increasing severity."""
LIVER_FEATURES = {"clinical": 8, "rna": 20_000, "meth": 450_000}
LIVER_INFORMATIVE = {"clinical": 4, "rna": 200, "meth": 260}
LIVER_EFFECT = {"clinical": 1.2, "rna": 0.4, "meth": 0.35}
"""Shift between the first and the last class: latent SDs, log2 fold change, logit."""


def liver_cohort(
    seed: int = 0,
    *,
    n_features: dict[str, int] | None = None,
    only: Collection[str] | None = None,
) -> SimulatedCohort:
    """The lecture's cohort, simulated (see the module docstring).

    Args:
        seed: the simulator's seed.
        n_features: modality -> number of features, to simulate a smaller cohort of the same
            design (default :data:`LIVER_FEATURES`); each must hold its informative features.
        only: simulate these modalities only (those simulated are what the whole cohort holds).

    Returns:
        The cohort; ``classes`` are the names of :data:`LIVER_CLASSES`.
    """
    sim = simulate_cohort(
        n_features=dict(LIVER_FEATURES if n_features is None else n_features),
        n_informative=LIVER_INFORMATIVE,
        effect_size=LIVER_EFFECT,
        class_sizes=list(LIVER_CLASSES.values()),
        seed=seed,
        only=only,
    )
    sim.classes = list(LIVER_CLASSES)
    return sim
