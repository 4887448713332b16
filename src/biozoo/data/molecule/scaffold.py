"""The ``scaffold`` split kind: k-fold over Bemis-Murcko scaffolds, so a scaffold is never split.

Molecules sharing a scaffold (their ring systems and the linkers between them, side chains
removed; Bemis & Murcko, J. Med. Chem. 1996, https://doi.org/10.1021/jm9602928) are one
group, and every group lies wholly on one side of every split: a model is tested on
chemotypes it never saw in training. Scaffolds are RDKit's ``MurckoScaffold`` SMILES without
stereochemistry. A molecule without rings has no scaffold and is a group of its own, as is a
sample lacking the molecule modality.

``split: {kind: scaffold, folds: 5, repeats: 1}``: for each repeat, the groups are shuffled
with a seed from the run seed and the repeat, then dealt largest first to the fold with the
fewest samples so far (the shuffle orders groups of equal size), which keeps the folds close in
size. Splits are named ``r<repeat>-f<fold>`` and are not stratified. ``modality`` names the
molecule modality when the data has several.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rdkit.Chem.Scaffolds import MurckoScaffold

from biozoo.data.molecule.read import parse_smiles
from biozoo.data.splits import SPLIT_KINDS, Split, SplitConfig, check_split
from biozoo.errors import BiozooError

if TYPE_CHECKING:
    from biozoo.data.cohort import Cohort, RecordModality
    from biozoo.data.spec import TargetConfig

__all__ = ["ScaffoldSplits", "murcko_scaffold", "scaffold_folds", "scaffold_groups"]

KIND = "molecule"
"""The modality kind whose records (SMILES) the split reads."""


@SPLIT_KINDS.register("scaffold")
class ScaffoldSplits:
    """Repeated k-fold over scaffold groups (see the module docstring)."""

    def __init__(self, cfg: SplitConfig) -> None:
        check_split(cfg, "scaffold", {"modality"})
        self.folds, self.repeats, self.modality = cfg.folds, cfg.repeats, cfg.modality

    @property
    def count(self) -> int:
        return self.folds * self.repeats

    def make(self, cohort: Cohort, *, seed: int, target: TargetConfig | None = None) -> list[Split]:
        """The scaffold k-fold splits of ``cohort``.

        Raises:
            BiozooError: the cohort has no molecule modality (or several, none named), the
                named modality is not a molecule one, or there are fewer scaffold groups than
                folds.
        """
        groups = scaffold_groups(_molecules(cohort, self.modality).records)
        return scaffold_folds(groups, folds=self.folds, repeats=self.repeats, seed=seed)


def murcko_scaffold(smiles: str) -> str:
    """The Bemis-Murcko scaffold of a molecule as canonical SMILES; ``""`` without rings.

    Raises:
        BiozooError: RDKit cannot parse ``smiles``.
    """
    mol = parse_smiles(smiles)
    if mol is None:
        raise BiozooError(f"SMILES {smiles!r} cannot be parsed, so it has no scaffold.")
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def scaffold_groups(records: np.ndarray) -> np.ndarray:
    """A group number per sample: one per distinct scaffold, one per scaffold-less sample.

    Args:
        records: SMILES per sample (None where a sample lacks the molecule).

    Returns:
        int64 ``[n]``, numbered in order of first appearance.
    """
    number: dict[str, int] = {}
    groups = np.empty(len(records), dtype=np.int64)
    for i, smiles in enumerate(records):
        scaffold = murcko_scaffold(smiles) if smiles is not None else ""
        key = scaffold or f"\0{i}"  # no rings (or no molecule): a group of its own
        groups[i] = number.setdefault(key, len(number))
    return groups


def scaffold_folds(groups: np.ndarray, *, folds: int, repeats: int, seed: int) -> list[Split]:
    """Repeated k-fold splits that keep each group on one side.

    Args:
        groups: a group number per sample.
        folds: number of folds.
        repeats: repetitions, each with its own shuffle.
        seed: the run seed; the same seed gives the same splits.

    Returns:
        ``folds * repeats`` splits named ``r<repeat>-f<fold>``; within a repeat every sample
        is tested exactly once.

    Raises:
        BiozooError: fewer groups than folds.
    """
    ids, sizes = np.unique(groups, return_counts=True)
    if len(ids) < folds:
        raise BiozooError(
            f"a {folds}-fold scaffold split needs at least {folds} scaffold groups; the "
            f"molecules have {len(ids)}."
        )
    out = []
    for r in range(repeats):
        rng = np.random.default_rng(np.random.SeedSequence([seed, r]))
        order = rng.permutation(len(ids))
        order = order[np.argsort(-sizes[order], kind="stable")]  # largest first, ties shuffled
        fold_of_group = np.empty(len(ids), dtype=np.int64)
        filled = np.zeros(folds, dtype=np.int64)
        for g in order:
            f = int(np.argmin(filled))
            fold_of_group[g] = f
            filled[f] += sizes[g]
        fold = fold_of_group[np.searchsorted(ids, groups)]
        for f in range(folds):
            test = np.flatnonzero(fold == f)
            train = np.flatnonzero(fold != f)
            out.append(Split(f"r{r}-f{f}", train, test))
    return out


def _molecules(cohort: Cohort, name: str | None) -> RecordModality:
    found = [n for n, m in cohort.modalities.items() if m.kind == KIND]
    names = ", ".join(cohort.modalities)
    if name is not None:
        if name not in cohort.modalities:
            raise BiozooError(f"split.modality {name!r} is not a modality of the data ({names}).")
        if name not in found:
            raise BiozooError(
                f"split.modality {name!r} is not a molecule modality; a scaffold split reads "
                f"SMILES."
            )
        return cohort.modalities[name]  # type: ignore[return-value]
    if not found:
        raise BiozooError(
            f"split kind 'scaffold' needs a molecule modality, and the data has none ({names})."
        )
    if len(found) > 1:
        raise BiozooError(
            f"the data has several molecule modalities ({', '.join(found)}); name the one to "
            f"take scaffolds from with split.modality."
        )
    return cohort.modalities[found[0]]  # type: ignore[return-value]
