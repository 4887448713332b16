"""Named letter alphabets of biological sequences, shared by sequence inputs and targets."""

from __future__ import annotations

__all__ = ["ALPHABETS", "alphabet_letters"]

ALPHABETS = {"protein": "ACDEFGHIKLMNPQRSTVWY", "dna": "ACGT", "rna": "ACGU"}


def alphabet_letters(alphabet: str, uppercase: bool = True) -> str:
    """The letters of a named or literal alphabet (upper-cased when ``uppercase``)."""
    letters = ALPHABETS.get(alphabet, alphabet)
    return "".join(dict.fromkeys(letters.upper())) if uppercase else letters
