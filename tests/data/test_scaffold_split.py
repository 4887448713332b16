"""The ``scaffold`` split kind: Bemis-Murcko scaffold groups never cross a split."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import tiny_raw

import biozoo
from biozoo.data.align import load_cohort
from biozoo.data.molecule.scaffold import murcko_scaffold, scaffold_folds, scaffold_groups
from biozoo.data.splits import SplitConfig, cohort_splits
from biozoo.errors import BiozooError

# five scaffolds (benzene, pyridine, cyclohexane, naphthalene, biphenyl) and acyclic molecules
SMILES = [
    "c1ccccc1", "Cc1ccccc1", "CCc1ccccc1", "Oc1ccccc1", "Nc1ccccc1C(=O)O",
    "c1ccncc1", "Cc1ccncc1", "Clc1ccncc1",
    "C1CCCCC1", "OC1CCCCC1",
    "c1ccc2ccccc2c1", "Cc1ccc2ccccc2c1",
    "c1ccc(-c2ccccc2)cc1", "Oc1ccc(-c2ccccc2)cc1",
    "CCO", "CCCC", "CC(=O)O", "CCN", "C(Cl)(Cl)Cl", "CCCCCO",
]  # fmt: skip


def test_scaffolds_strip_side_chains_and_acyclic_molecules_have_none():
    assert murcko_scaffold("CCc1ccccc1") == murcko_scaffold("Oc1ccccc1") == "c1ccccc1"
    assert murcko_scaffold("Oc1ccc(-c2ccccc2)cc1") == "c1ccc(-c2ccccc2)cc1"
    assert murcko_scaffold("CCO") == ""
    with pytest.raises(BiozooError, match="cannot be parsed"):
        murcko_scaffold("C1CC(")


def test_groups_are_scaffolds_and_each_acyclic_molecule_is_alone():
    groups = scaffold_groups(np.array([*SMILES, None], dtype=object))
    assert list(groups[:14]) == [0] * 5 + [1] * 3 + [2] * 2 + [3] * 2 + [4] * 2
    assert len(set(groups[14:])) == 7 and not set(groups[14:]) & set(groups[:14])


@pytest.mark.parametrize(("folds", "repeats", "seed"), [(3, 2, 0), (5, 1, 4), (2, 3, 11)])
def test_groups_never_split_and_every_sample_is_tested_once(folds, repeats, seed):
    groups = scaffold_groups(np.array(SMILES, dtype=object))
    splits = scaffold_folds(groups, folds=folds, repeats=repeats, seed=seed)
    assert [s.name for s in splits] == [f"r{r}-f{f}" for r in range(repeats) for f in range(folds)]
    for s in splits:
        assert len(s.test) and len(s.train)
        assert len(np.intersect1d(s.train, s.test)) == 0
        assert len(s.train) + len(s.test) == len(SMILES)
        assert not set(groups[s.train]) & set(groups[s.test])  # no scaffold on both sides
    for r in range(repeats):
        tested = np.concatenate([s.test for s in splits[r * folds : (r + 1) * folds]])
        assert np.array_equal(np.sort(tested), np.arange(len(SMILES)))


def test_scaffold_folds_are_deterministic_and_balanced():
    groups = np.repeat(np.arange(40), np.arange(40) % 4 + 1)  # 40 groups of 1-4 samples
    a = scaffold_folds(groups, folds=5, repeats=2, seed=3)
    b = scaffold_folds(groups, folds=5, repeats=2, seed=3)
    c = scaffold_folds(groups, folds=5, repeats=2, seed=4)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b, strict=True))
    assert any(not np.array_equal(x.test, y.test) for x, y in zip(a, c, strict=True))
    assert any(not np.array_equal(x.test, y.test) for x, y in zip(a[:5], a[5:], strict=True))
    sizes = [len(s.test) for s in a[:5]]
    assert max(sizes) - min(sizes) <= 4  # at most the largest group apart
    with pytest.raises(BiozooError, match="needs at least 6 scaffold groups; the molecules have"):
        scaffold_folds(np.zeros(10, dtype=np.int64) + np.arange(10) % 5, folds=6, repeats=1, seed=0)


def test_a_cohort_is_split_by_its_molecule_modality(tmp_path):
    mols = tmp_path / "mols.csv"
    mols.write_text("id,smiles\n" + "".join(f"m{i},{s}\n" for i, s in enumerate(SMILES)))
    labels = tmp_path / "labels.csv"
    labels.write_text("id,y\n" + "".join(f"m{i},{i * 0.5}\n" for i in range(len(SMILES))))
    data = {
        "modalities": {"mol": {"kind": "molecule", "path": str(mols)}},
        "target": {"path": str(labels), "column": "y", "task": "regression"},
    }
    cohort = load_cohort(biozoo.parse_config({"data": data}).data)
    splits = cohort_splits(cohort, SplitConfig(kind="scaffold", folds=4), seed=0)
    groups = scaffold_groups(np.array(SMILES, dtype=object))
    order = np.array([int(i[1:]) for i in cohort.ids])
    for s in splits:
        assert not set(groups[order[s.train]]) & set(groups[order[s.test]])
    named = cohort_splits(cohort, SplitConfig(kind="scaffold", folds=4, modality="mol"), seed=0)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(splits, named, strict=True))


def test_a_scaffold_split_needs_a_molecule_modality(tiny_files, error_naming):
    cohort = load_cohort(biozoo.parse_config(tiny_raw(tiny_files)).data)
    error_naming(
        lambda: cohort_splits(cohort, SplitConfig(kind="scaffold"), seed=0),
        "needs a molecule modality",
        "clinical, rna, meth",
    )
    error_naming(
        lambda: cohort_splits(cohort, SplitConfig(kind="scaffold", modality="rna"), seed=0),
        "'rna' is not a molecule modality",
    )
    error_naming(
        lambda: cohort_splits(cohort, SplitConfig(kind="scaffold", modality="mol"), seed=0),
        "'mol' is not a modality",
    )
