"""Tokenizers of omics tables: fold transforms that turn a table into tokens or groups.

- :class:`GeneRankTokenizer` (``gene_rank``): Cell2Sentence, a sample as its top-k expressed
  genes (``tokens`` input kind); in :mod:`biozoo.data.tokenizers_rank`.
- :class:`OmicsGroupsTokenizer` (``omics_groups``): AttOmics, the features cut into groups
  (``groups`` input kind); in :mod:`biozoo.data.tokenizers_groups`.

Both follow the fold-transform contract (``fit`` on the training samples only, ``transform``,
``flat``, ``input_info``, ``state`` / ``from_state``) and read a ``TableModality``.
"""

from __future__ import annotations

from biozoo.data.tokenizers_groups import OmicsGroupsTokenizer
from biozoo.data.tokenizers_rank import GeneRankTokenizer

__all__ = ["GeneRankTokenizer", "OmicsGroupsTokenizer"]
