"""The ORF simulator: Biopython's standard code is the ground truth of every target."""

from __future__ import annotations

import pytest
from Bio.Data.CodonTable import standard_dna_table

from biozoo.data.sources.datasets import load_dataset
from biozoo.data.sources.orfs import simulate_orfs
from biozoo.errors import BiozooError


def test_orfs_start_stop_and_translate_codon_by_codon():
    dna, protein = simulate_orfs(50, min_codons=2, max_codons=9, seed=3)
    assert list(dna.index) == list(protein.index) and dna.index.name == "sample_id"
    for orf, prot in zip(dna, protein, strict=True):
        assert orf.startswith("ATG") and orf[-3:] in standard_dna_table.stop_codons
        assert len(orf) == 3 * (len(prot) + 1) and 2 <= len(prot) <= 9
        codons = [orf[i : i + 3] for i in range(0, len(orf) - 3, 3)]
        assert "".join(standard_dna_table.forward_table[c] for c in codons) == prot
    again, _ = simulate_orfs(50, min_codons=2, max_codons=9, seed=3)
    assert again.equals(dna)


def test_bad_lengths_are_one_sentence():
    with pytest.raises(BiozooError, match="ORFs need 1 <= min_codons <= max_codons, got 5 and 2"):
        simulate_orfs(3, min_codons=5, max_codons=2)


def test_bundled_orfs_dataset():
    data = load_dataset("orfs")
    assert data.task == "sequence" and list(data.tables) == ["dna"]
    dna = data.tables["dna"]["sequence"]
    assert len(dna) == 500 and (data.labels["residues"] == data.target.str.len()).all()
