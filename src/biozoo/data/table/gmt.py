"""Gene-set files in GMT format (MSigDB, Enrichr, GSEA).

One set per line, tab-separated: the set's name, a description (often a URL or ``NA``), then
its genes (https://software.broadinstitute.org/cancer/software/gsea/wiki/index.php/Data_formats).
Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from biozoo.errors import BiozooError

__all__ = ["read_gmt"]


def read_gmt(path: Path) -> dict[str, list[str]]:
    """Read the gene sets of a GMT file.

    Args:
        path: a ``.gmt`` file, optionally gzipped (``.gmt.gz``).

    Returns:
        Set name -> its genes, in file order (a gene listed twice in a set is kept once).

    Raises:
        BiozooError: the file is missing, unreadable or empty, a line has fewer than three
            fields (name, description, a gene), or a set name repeats.
    """
    path = Path(path)
    if not path.is_file():
        raise BiozooError(f"gene-set file {path} does not exist.")
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", newline="") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise BiozooError(f"gene-set file {path} could not be read as text: {err}.") from None
    sets: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [x.strip() for x in line.split("\t")]
        genes = [g for g in fields[2:] if g]
        if len(fields) < 3 or not fields[0] or not genes:
            raise BiozooError(
                f"line {number} of {path} is not a gene set: a GMT line holds a name, a "
                f"description and at least one gene, separated by tabs."
            )
        name = fields[0]
        if name in sets:
            raise BiozooError(
                f"gene set {name!r} appears twice in {path} (lines {first_line[name]} and "
                f"{number}); set names must be unique."
            )
        sets[name] = list(dict.fromkeys(genes))
        first_line[name] = number
    if not sets:
        raise BiozooError(f"gene-set file {path} holds no gene set.")
    return sets
