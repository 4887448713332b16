"""The order-motif peptides: classes differ in the order of four residues, not composition."""

from collections import Counter

import pytest

from biozoo.data.sources.order_motif import BACKGROUND, MOTIFS, order_motif_peptides
from biozoo.errors import BiozooError


def test_peptides_carry_one_motif_of_their_class_and_share_composition():
    seqs, labels = order_motif_peptides(60, min_len=12, max_len=30, seed=3)
    assert list(seqs.index) == list(labels.index) and labels.sum() == 30
    for s, y in zip(seqs, labels, strict=True):
        assert 12 <= len(s) <= 30
        assert s.count(MOTIFS[y]) == 1 and MOTIFS[1 - y] not in s
        assert set(s.replace(MOTIFS[y], "")) <= set(BACKGROUND)
    assert Counter(MOTIFS[0]) == Counter(MOTIFS[1])  # same letters, other order
    again, _ = order_motif_peptides(60, min_len=12, max_len=30, seed=3)
    assert again.equals(seqs)


def test_bad_lengths_are_reported():
    with pytest.raises(BiozooError, match="min_len"):
        order_motif_peptides(10, min_len=3)
