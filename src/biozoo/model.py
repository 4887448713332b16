"""The model: encoders per modality, a fusion and a head, built from a config."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from biozoo.activations import ACTIVATIONS
from biozoo.config import HeadConfig, ModelConfig
from biozoo.decoders import DECODERS, Seq2SeqModel, TokenStates
from biozoo.encoders import ENCODERS
from biozoo.encoders.protocols import AuxLoss
from biozoo.errors import BiozooError
from biozoo.fusion import FUSIONS
from biozoo.inputs import InputSpec, TableInput, input_from_meta, input_kinds
from biozoo.latent.model import LatentModel
from biozoo.latent.objectives import OBJECTIVES
from biozoo.layers.mlp import MLP

__all__ = ["MultiModalModel", "build_model"]


class MultiModalModel(nn.Module):
    """Encoders + fusion. The task head (loss, probabilities) is applied by the caller.

    Args:
        encoders: one encoder per modality, or a single ``early`` encoder.
        fusion: a registered fusion module.
        modalities: the modality names, in the order inputs are concatenated.
        early: whether inputs are concatenated before the single ``early`` encoder.
    """

    def __init__(
        self,
        encoders: dict[str, nn.Module],
        fusion: nn.Module,
        modalities: list[str],
        *,
        early: bool = False,
    ) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.modalities = list(modalities)
        self.early = early

    def embed(self, inputs: dict[str, Tensor], present: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each encoder's embedding ``[B, d_m]``: the latents before fusion."""
        if self.early:
            x = torch.cat([inputs[m] for m in self.modalities], dim=-1)
            mask = torch.stack([present[m] for m in self.modalities], dim=-1).any(dim=-1)
            return {"early": self.encoders["early"](x, mask)}
        return {m: self.encoders[m](inputs[m], present[m]) for m in self.modalities}

    def view_presence(self, present: dict[str, Tensor]) -> dict[str, Tensor]:
        if self.early:
            return {"early": torch.stack([present[m] for m in self.modalities], -1).any(-1)}
        return present

    def forward(
        self,
        inputs: dict[str, Tensor],
        present: dict[str, Tensor],
        *,
        embed: bool = False,
        with_aux: bool = False,
    ) -> tuple[Tensor, ...] | dict[str, Tensor]:
        """``(outputs [B, K, n_outputs], view_mask [B, K])`` for a head.

        With ``embed=True``: the embeddings of :meth:`embed` plus the fused one (``fused``).
        With ``with_aux=True``: a third element, the sum of the encoders' regularisation
        terms (``aux_loss()``, read right after their forward pass in this same call).
        """
        z = self.embed(inputs, present)
        if embed:
            return {**z, "fused": self.fusion.joint(z)}
        out = self.fusion(z, self.view_presence(present))
        if not with_aux:
            return out
        aux = out[0].new_zeros(())
        for enc in self.encoders.values():
            term = enc.aux_loss() if isinstance(enc, AuxLoss) else None
            if term is not None:
                aux = aux + term
        return (*out, aux)


def build_model(
    spec: ModelConfig, inputs: Mapping[str, InputSpec | dict[str, Any]], n_outputs: int
) -> MultiModalModel | LatentModel | Seq2SeqModel:
    """Build a model for the fold's inputs and a head size.

    Args:
        spec: the model section of the run config.
        inputs: modality -> what its encoder is built from (an :data:`~biozoo.inputs.InputSpec`,
            or its saved form :meth:`~biozoo.inputs.TableInput.to_meta`).
        n_outputs: outputs per view (1 for binary and regression, C for multiclass).

    Returns:
        A :class:`MultiModalModel`, or a :class:`~biozoo.latent.model.LatentModel` when the
        spec has an ``objective``.

    Raises:
        BiozooError: an encoder cannot read its modality's input, or a latent model is
            given a modality that is not a table.
    """
    specs = {m: input_from_meta(d) for m, d in inputs.items()}
    if spec.objective is not None:
        return _latent_model(spec, specs, n_outputs)
    if spec.decoder is not None:
        return _build_seq2seq(spec, specs, n_outputs)
    fusion_cls = FUSIONS.get(spec.fusion.name)
    fusion_opts = fusion_cls.Config(**spec.fusion.options)
    early = bool(getattr(fusion_cls, "early", False))
    if early:
        enc_opts = dict(fusion_opts.encoder)
        name = enc_opts.pop("name")
        not_tables = [m for m, d in specs.items() if not isinstance(d, TableInput)]
        if not_tables:
            raise BiozooError(
                f"early fusion joins tables only, but modality {not_tables[0]!r} is "
                f"{specs[not_tables[0]]}; use fusion concat or late."
            )
        width = sum(d.n_features for d in specs.values())  # type: ignore[union-attr]
        encoders = {"early": _encoder_for(name, TableInput(width), "early")(**enc_opts)}
    else:
        encoders = {}
        for m, d in specs.items():
            enc = spec.encoders.get(m, spec.default_encoder)
            make = _encoder_for(enc.name, d, m)
            try:
                encoders[m] = make(**enc.options)
            except BiozooError as err:  # the encoder knows its input, not the modality's name
                raise BiozooError(f"modality {m!r}: {err}") from err
    emb_dims = {name: enc.out_dim for name, enc in encoders.items()}
    fusion = fusion_cls(emb_dims, _output_layer(spec.head, n_outputs))
    return MultiModalModel(encoders, fusion, list(specs), early=early)


def _latent_model(spec: ModelConfig, specs: dict[str, InputSpec], n_outputs: int) -> LatentModel:
    assert spec.objective is not None
    objective = OBJECTIVES.get(spec.objective.name)(**spec.objective.options)
    encoders = {}
    for m, d in specs.items():
        if not isinstance(d, TableInput):
            raise BiozooError(
                f"objective {spec.objective.name!r} reconstructs tables, but modality {m!r} "
                f"is {d}; feed it as a table (no tokenizer or graph)."
            )
        enc = spec.encoders.get(m, spec.default_encoder)
        encoders[m] = _encoder_for(enc.name, d, m)(**enc.options)
    return LatentModel(encoders, specs, objective, _output_layer(spec.head, n_outputs))


def _build_seq2seq(spec: ModelConfig, specs: dict[str, InputSpec], n_outputs: int) -> Seq2SeqModel:
    """An encoder-decoder on the one modality of ``specs`` (``spec.decoder`` is set)."""
    assert spec.decoder is not None
    if len(specs) != 1:
        raise BiozooError(
            f"a model with a decoder reads one modality, but the data has {len(specs)} "
            f"({', '.join(specs)})."
        )
    ((modality, input_spec),) = specs.items()
    enc = spec.encoders.get(modality, spec.default_encoder)
    encoder = _encoder_for(enc.name, input_spec, modality)(**enc.options)
    if not isinstance(encoder, TokenStates):
        raise BiozooError(
            f"encoder {enc.name!r} hands no token states to a decoder; use an encoder that "
            f"does (lstm, gru, rnn or transformer)."
        )
    decoder_cls = DECODERS.get(spec.decoder.name)
    decoder = decoder_cls(encoder.token_dim, n_outputs, **spec.decoder.options)
    return Seq2SeqModel(encoder, decoder, modality, n_outputs)


def _encoder_for(name: str, input: InputSpec, modality: str) -> Callable[..., nn.Module]:
    """The encoder class ``name`` bound to ``input``, once it is known to read it."""
    cls = ENCODERS.get(name)
    reads = cls.reads
    if not isinstance(input, reads):
        raise BiozooError(
            f"encoder {name!r} cannot read modality {modality!r}, whose input is {input}; "
            f"it reads {input_kinds(reads)}."
        )
    return functools.partial(cls, input)


def _output_layer(head: HeadConfig, n_outputs: int):
    def make(in_dim: int) -> nn.Module:
        return MLP(
            in_dim,
            head.hidden,
            n_outputs,
            activation=ACTIVATIONS.get("relu"),
            dropout=head.dropout,
        )

    return make
