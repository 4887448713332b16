"""The contract of every registered decoder, and teacher forcing through an encoder-decoder."""

from __future__ import annotations

import inspect

import pytest
import torch
from pydantic import ValidationError

from biozoo.config import ModelConfig
from biozoo.decoders import (
    DECODERS,
    DecodingOptions,
    EncoderDecoder,
    StepDecoder,
    beam_search,
    decode,
    greedy_search,
)
from biozoo.errors import BiozooError
from biozoo.heads import SequenceHead
from biozoo.inputs import TableInput, TokensInput
from biozoo.model import build_model

V = 8  # target ids: 4 specials and 4 letters


@pytest.mark.parametrize("name", DECODERS.names())
def test_teacher_forcing_shapes_and_gradients(name):
    torch.manual_seed(0)
    dec = DECODERS.get(name)(6, V, max_len=5)
    assert isinstance(dec, StepDecoder)
    memory = torch.randn(3, 7, 6, requires_grad=True)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[2, 3:] = False
    prefix = torch.tensor([[1, 4, 5, 6], [1, 7, 2, 0], [1, 4, 0, 0]])
    logits, attention = dec.teacher_forced(memory, mask, prefix)
    assert logits.shape == (3, 4, V) and attention.shape == (3, 4, 7)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 4))
    assert attention[2, :, 3:].abs().max() == 0  # padding gets no attention
    logits.sum().backward()
    assert all(p.grad is not None for p in dec.parameters() if p.requires_grad)
    assert memory.grad.abs().sum() > 0


@pytest.mark.parametrize("name", DECODERS.names())
def test_step_matches_teacher_forcing(name):
    torch.manual_seed(1)
    dec = DECODERS.get(name)(6, V).eval()
    memory, mask = torch.randn(2, 5, 6), torch.ones(2, 5, dtype=torch.bool)
    prefix = torch.tensor([[1, 4, 6], [1, 5, 5]])
    logits, _ = dec.teacher_forced(memory, mask, prefix)
    state = dec.start(memory, mask)
    for t in range(3):
        log_p, state, _ = dec.step(prefix[:, : t + 1], state)
        torch.testing.assert_close(log_p, logits[:, t].log_softmax(-1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("encoder", "decoder"), [("lstm", "attention_lstm"), ("transformer", "transformer")]
)
def test_encoder_decoder_trains_with_the_target_and_decodes_without(encoder, decoder):
    spec = ModelConfig(default_encoder={"name": encoder}, decoder={"name": decoder, "max_len": 6})
    model = build_model(spec, {"dna": TokensInput(vocab=7, max_len=9)}, V)
    assert isinstance(model, EncoderDecoder) and model.stackable is False
    tokens = torch.randint(3, 7, (4, 9))
    tokens[3, 5:] = 0
    inputs, present = {"dna": {"tokens": tokens, "mask": tokens != 0}}, {"dna": torch.ones(4)}
    y = torch.tensor([[4, 5, 2, 0], [6, 2, 0, 0], [7, 7, 7, 2], [4, 2, 0, 0]])
    outputs, view_mask, aux = model(inputs, present, y, with_aux=True)
    assert outputs.shape == (4, 1, 4, V) and view_mask.shape == (4, 1) and aux == 0
    loss = SequenceHead(V)(outputs, view_mask, y).loss
    loss.backward()
    model.eval()
    decoded, _ = model(inputs, present)
    assert decoded.shape == (4, 1, 6, V)
    pred = SequenceHead(V)(decoded, torch.ones(4, 1)).prediction
    assert torch.equal(pred.sum(-1), torch.ones(4, 6))  # one-hot: a decoded token per position
    ids, maps, mask = model.cross_attention(inputs, present)
    assert ids.shape == (4, 6) and maps.shape == (4, 6, 9) and mask.shape == (4, 9)
    assert model(inputs, present, embed=True)["dna"].shape[0] == 4


def test_a_decoder_needs_an_encoder_with_token_states_and_one_modality():
    spec = ModelConfig(default_encoder={"name": "mlp"}, decoder={"name": "attention_lstm"})
    with pytest.raises(BiozooError, match="encoder 'mlp' hands no token states"):
        build_model(spec, {"x": TableInput(5)}, V)
    spec = ModelConfig(default_encoder={"name": "lstm"}, decoder={"name": "attention_lstm"})
    two = {"a": TokensInput(vocab=7, max_len=4), "b": TokensInput(vocab=7, max_len=4)}
    with pytest.raises(BiozooError, match="a model with a decoder reads one modality"):
        build_model(spec, two, V)


@pytest.mark.parametrize("name", DECODERS.names())
def test_decoder_config_extends_the_decoding_options_and_matches_its_signature(name):
    cls = DECODERS.get(name)
    assert issubclass(cls.Config, DecodingOptions)
    params = inspect.signature(cls).parameters
    for field, info in cls.Config.model_fields.items():
        assert field in params, field
        assert params[field].default == info.get_default(), field
    with pytest.raises(ValidationError, match="search"):
        cls.Config(search="sample")
    with pytest.raises(ValidationError, match="extra"):
        cls.Config(beam=4)


@pytest.mark.parametrize("name", DECODERS.names())
@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_a_decoder_is_decoded_by_the_search_its_options_name(name, search):
    torch.manual_seed(2)
    dec = DECODERS.get(name)(6, V, search=search, beam_width=3, max_len=5).eval()
    assert dec.decoding == DecodingOptions(search=search, beam_width=3, max_len=5)
    memory, mask = torch.randn(3, 4, 6), torch.ones(3, 4, dtype=torch.bool)
    if search == "beam":
        expected, _ = beam_search(dec, memory, mask, width=3, max_len=5)
    else:
        expected, _ = greedy_search(dec, memory, mask, max_len=5)
    assert torch.equal(decode(dec, memory, mask, dec.decoding), expected)

