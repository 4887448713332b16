"""The transformer encoder-decoder learns the genetic code, not its training proteins.

Its decoder must know its own position to find its codon (residue ``i`` reads nucleotides
``3i .. 3i + 2``). Token embeddings scaled ``sqrt(d_model)`` times louder than the positions
drowned that: the model fitted its training prefixes and stayed near chance on new ORFs.
"""

from __future__ import annotations

import torch

from biozoo.alphabets import ALPHABETS
from biozoo.config import ModelConfig
from biozoo.data.sources.orfs import simulate_orfs
from biozoo.decoders import TransformerDecoder
from biozoo.heads import SequenceHead
from biozoo.inputs import TokensInput
from biozoo.model import build_model
from biozoo.tasks.sequence_target import FIRST, TargetVocabulary

V = FIRST + len(ALPHABETS["protein"])


def test_decoder_tokens_are_not_louder_than_their_positions():
    torch.manual_seed(0)
    dec = TransformerDecoder(16, V, d_model=64).eval()
    seen = []
    dec.blocks[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    prefix = torch.arange(FIRST, V).repeat(2, 1)  # (2, 20): every letter once
    dec.teacher_forced(torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool), prefix)
    positions = dec.positional(torch.zeros(1, prefix.shape[1], 64))
    tokens = seen[0] - positions
    ratio = tokens.pow(2).mean().sqrt() / positions.pow(2).mean().sqrt()
    assert 0.5 < ratio < 2.0  # 1.5; with tokens sqrt(d) louder: 11.8


def _ids(dna, protein) -> tuple[dict, torch.Tensor]:
    lut = {c: 3 + i for i, c in enumerate("ACGT")}  # the sequence modality's k = 1 ids
    x = torch.zeros(len(dna), max(map(len, dna)), dtype=torch.long)
    for i, s in enumerate(dna):
        x[i, : len(s)] = torch.tensor([lut[c] for c in s])
    y = torch.from_numpy(TargetVocabulary(ALPHABETS["protein"]).transform(protein.to_numpy()))
    return {"dna": {"tokens": x, "mask": x != 0}}, y


def test_transformer_encoder_decoder_translates_new_orfs():
    torch.manual_seed(0)
    dna, protein = simulate_orfs(700, min_codons=3, max_codons=6, seed=0)
    inputs, y = _ids(dna.tolist(), protein)
    x = inputs["dna"]["tokens"]
    layers = {"d_model": 32, "layers": 2, "hidden": 64, "dropout": 0.0}
    spec = ModelConfig(
        default_encoder={"name": "transformer", "pooling": "mean", **layers},
        decoder={"name": "transformer", "max_len": y.shape[1], **layers},
    )
    model = build_model(spec, {"dna": TokensInput(vocab=7, max_len=x.shape[1])}, V)
    head, opt = SequenceHead(V), torch.optim.AdamW(model.parameters(), lr=5e-3)
    train, test = torch.arange(600), torch.arange(600, 700)
    for _ in range(12):
        for idx in train[torch.randperm(len(train))].split(32):
            batch = {"dna": {"tokens": x[idx], "mask": x[idx] != 0}}
            outputs, view_mask = model(batch, {"dna": torch.ones(len(idx))}, y[idx])
            opt.zero_grad()
            head(outputs, view_mask, y[idx]).loss.backward()
            opt.step()
    model.eval()
    new = {"dna": {"tokens": x[test], "mask": x[test] != 0}}
    ids = model.decode_tokens(new, {})[:, : y.shape[1]]
    real = y[test] != 0
    accuracy = float(((ids == y[test]) & real).sum() / real.sum())
    assert accuracy > 0.75  # 0.84; with tokens sqrt(d) louder than positions: 0.56
