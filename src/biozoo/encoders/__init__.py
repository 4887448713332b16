"""Encoders: one modality's batch -> an embedding ``[B, out_dim]``, registered by name.

Every encoder follows one contract: ``forward(x, mask=None) -> Tensor[B, out_dim]``, an
``out_dim`` attribute, ``reset_parameters()``, and a nested pydantic ``Config`` listing the
options a user may set (sizes that come from data, like ``in_dim``, are passed by the code).
For a table, ``mask`` is ``[B]`` bool: False where the sample lacks the modality, whose
embedding is then zero (likewise for an image, ``x`` a float tensor ``[B, C, H, W]``).
"""

from biozoo.encoders._registry import ENCODERS
from biozoo.encoders.cnn1d import CNN1dEncoder
from biozoo.encoders.cnn2d import CNN2dEncoder
from biozoo.encoders.delphi import DelphiEncoder
from biozoo.encoders.gnn import ChebNetEncoder, GATEncoder, GCNEncoder, GINEncoder
from biozoo.encoders.identity import IdentityEncoder
from biozoo.encoders.kan import KANEncoder
from biozoo.encoders.mamba import MambaEncoder
from biozoo.encoders.mlp import MLPEncoder
from biozoo.encoders.moe import MoEEncoder
from biozoo.encoders.recurrent import GRUEncoder, LSTMEncoder, RNNEncoder
from biozoo.encoders.retnet import RetNetEncoder
from biozoo.encoders.table_graph import TableGNNEncoder
from biozoo.encoders.transformer import TransformerEncoder
from biozoo.encoders.vit import ViTEncoder

__all__ = [
    "ENCODERS",
    "CNN1dEncoder",
    "CNN2dEncoder",
    "DelphiEncoder",
    "GRUEncoder",
    "LSTMEncoder",
    "MambaEncoder",
    "RNNEncoder",
    "RetNetEncoder",
    "TransformerEncoder",
    "ChebNetEncoder",
    "GATEncoder",
    "GCNEncoder",
    "GINEncoder",
    "IdentityEncoder",
    "KANEncoder",
    "MLPEncoder",
    "MoEEncoder",
    "TableGNNEncoder",
    "ViTEncoder",
]
