"""Open reading frames and their proteins: the translation example made biological.

Each ORF is ``ATG``, then random sense codons, then a stop codon (``TAA``, ``TAG`` or
``TGA``), all drawn uniformly from the standard genetic code (NCBI table 1). Its target is
the protein it encodes, translated by Biopython (``Bio.Seq.translate(table=1, cds=True)``:
the stop codon is checked and left out), which is the ground truth; the simulator never
translates by itself. A protein of ``n`` residues comes from ``3 (n + 1)`` nucleotides, so
residue ``i`` (from 0) is read from nucleotides ``3i .. 3i + 2``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from biozoo.errors import BiozooError

__all__ = ["codon_table", "simulate_orfs", "translate"]


def codon_table() -> tuple[dict[str, str], list[str]]:
    """The standard code's sense codons (codon -> amino acid) and its stop codons."""
    from Bio.Data.CodonTable import unambiguous_dna_by_id

    table = unambiguous_dna_by_id[1]
    return dict(table.forward_table), sorted(table.stop_codons)


def translate(dna: str) -> str:
    """The protein of a complete ORF by the standard code (Biopython; stop left out)."""
    from Bio.Seq import Seq

    return str(Seq(dna).translate(table=1, cds=True))


def simulate_orfs(
    n: int = 400, *, min_codons: int = 5, max_codons: int = 30, seed: int = 0, prefix: str = "orf"
) -> tuple[pd.Series, pd.Series]:
    """Simulate ``n`` ORFs whose proteins have ``min_codons``-``max_codons`` residues.

    Args:
        n: number of ORFs.
        min_codons: fewest residues (the start codon's ``M`` included), at least 1.
        max_codons: most residues.
        seed: seed of the random generator.
        prefix: sample ids are ``<prefix>00000``...

    Returns:
        ``(dna, protein)``: str Series indexed by sample id (named ``sample_id``).
    """
    if not 1 <= min_codons <= max_codons:
        raise BiozooError(
            f"ORFs need 1 <= min_codons <= max_codons, got {min_codons} and {max_codons}."
        )
    sense, stops = codon_table()
    codons = np.array(sorted(sense))
    rng = np.random.default_rng(seed)
    dna, protein = [], []
    for length in rng.integers(min_codons, max_codons + 1, size=n):
        body = "".join(rng.choice(codons, size=int(length) - 1))
        orf = "ATG" + body + str(rng.choice(stops))
        dna.append(orf)
        protein.append(translate(orf))
    index = pd.Index([f"{prefix}{i:05d}" for i in range(n)], name="sample_id")
    return (
        pd.Series(dna, index=index, dtype=object, name="dna"),
        pd.Series(protein, index=index, dtype=object, name="protein"),
    )
