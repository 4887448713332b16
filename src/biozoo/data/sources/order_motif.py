"""Peptides whose class is the ORDER of four residues, not their composition.

Each peptide is a random stretch of a 17-letter alphabet (the 20 amino acids without R, W and
K) with a 4-residue insert at a random position: ``RWKW`` in the positives, ``WKWR`` in the
negatives. Both inserts hold one R, one K and two W, so the two classes have the same
composition; a model that only counts residues stays at chance. A sequence encoder must
learn order to separate them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from biozoo.errors import BiozooError

__all__ = ["BACKGROUND", "MOTIFS", "order_motif_peptides"]

BACKGROUND = "ACDEFGHILMNPQSTVY"  # the protein alphabet without R, W and K
MOTIFS = ("WKWR", "RWKW")  # class 0, class 1: same letters, different order


def order_motif_peptides(
    n: int = 160, *, min_len: int = 12, max_len: int = 30, seed: int = 0
) -> tuple[pd.Series, pd.Series]:
    """Simulate ``n`` peptides, half of each class, lengths ``min_len``-``max_len``.

    Args:
        n: number of peptides (classes alternate, so ``n // 2`` positives at least).
        min_len: shortest peptide, insert included (at least 4).
        max_len: longest peptide, insert included.
        seed: seed of the random generator.

    Returns:
        ``(sequences, labels)``: a str Series and an int64 Series (1: ``RWKW``), both indexed
        by ids ``pep0000``... named ``sample_id``.
    """
    if not 4 <= min_len <= max_len:
        raise BiozooError(
            f"order motif peptides need 4 <= min_len <= max_len, got {min_len}, {max_len}"
        )
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    letters = np.array(list(BACKGROUND))
    seqs = []
    for label in labels:
        length = int(rng.integers(min_len, max_len + 1))
        background = "".join(rng.choice(letters, size=length - 4))
        at = int(rng.integers(0, length - 4 + 1))
        seqs.append(background[:at] + MOTIFS[label] + background[at:])
    index = pd.Index([f"pep{i:04d}" for i in range(n)], name="sample_id")
    return (
        pd.Series(seqs, index=index, dtype=object, name="sequence"),
        pd.Series(labels.astype(np.int64), index=index, name="label"),
    )
