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


def _cohort_config(tmp_path, target_path, dna_path):
    from biozoo.data.spec import DataConfig

    return DataConfig(
        modalities={"dna": {"path": str(dna_path), "kind": "sequence",
                            "sequence": {"alphabet": "dna", "cls_token": False}}},
        target={"path": str(target_path), "column": "protein", "task": "sequence"},
    )  # fmt: skip


def test_targets_from_fasta_and_sequences_from_the_bundled_dataset(tmp_path):
    from biozoo.data.align import load_cohort
    from biozoo.data.spec import DataConfig

    dna, protein = simulate_orfs(5, seed=1)
    dna.to_csv(tmp_path / "dna.csv")
    (tmp_path / "p.fasta").write_text("".join(f">{i} protein\n{p}\n" for i, p in protein.items()))
    cohort = load_cohort(_cohort_config(tmp_path, tmp_path / "p.fasta", tmp_path / "dna.csv"))
    assert list(cohort.target) == list(protein) and list(cohort.ids) == list(protein.index)
    bundled = DataConfig(
        modalities={"dna": {"dataset": "orfs/dna", "kind": "sequence",
                            "sequence": {"alphabet": "dna"}}},
        target={"dataset": "orfs", "column": "protein", "task": "sequence"},
    )  # fmt: skip
    assert len(load_cohort(bundled)) == 500


def test_an_unknown_nucleotide_and_an_empty_target_are_one_sentence(tmp_path):
    from biozoo.data.align import load_cohort

    (tmp_path / "dna.csv").write_text("sample_id,dna\na,ATGAAATAA\nb,ATGNAATAA\n")
    (tmp_path / "p.csv").write_text("sample_id,protein\na,MK\nb,MK\n")
    with pytest.raises(BiozooError, match=r"record 'b' of .*dna.csv has 'N' at position 4"):
        load_cohort(_cohort_config(tmp_path, tmp_path / "p.csv", tmp_path / "dna.csv"))
    (tmp_path / "dna.csv").write_text("sample_id,dna\na,ATGAAATAA\nb,ATGTAA\n")
    (tmp_path / "p.fasta").write_text(">a\nMK\n>b\n\n")
    with pytest.raises(BiozooError, match=r"record 'b' of .*p.fasta has an empty sequence"):
        load_cohort(_cohort_config(tmp_path, tmp_path / "p.fasta", tmp_path / "dna.csv"))
