"""Decoders of target sequences, registered by name in :data:`DECODERS`.

A model config with a ``decoder`` builds an encoder-decoder
(:class:`~biozoo.decoders.seq2seq.Seq2SeqModel`) instead of encoders + fusion:

- ``attention_lstm``: an LSTM with additive (Bahdanau) attention;
- ``transformer``: causal self-attention and cross-attention blocks.

Every decoder's ``Config`` extends :class:`DecodingOptions` (``search``, ``beam_width``,
``max_len``); decoding (greedy or beam search) is in :mod:`biozoo.decoders.search`.
"""

from biozoo.decoders._registry import DECODERS
from biozoo.decoders.attention_lstm import AttentionLSTMDecoder
from biozoo.decoders.protocols import DecodingOptions, EncoderDecoder, StepDecoder, TokenStates
from biozoo.decoders.search import beam_search, decode, greedy_search, sequence_log_prob
from biozoo.decoders.seq2seq import Seq2SeqModel
from biozoo.decoders.transformer import TransformerDecoder

__all__ = [
    "DECODERS",
    "AttentionLSTMDecoder",
    "DecodingOptions",
    "EncoderDecoder",
    "Seq2SeqModel",
    "StepDecoder",
    "TokenStates",
    "TransformerDecoder",
    "beam_search",
    "decode",
    "greedy_search",
    "sequence_log_prob",
]
