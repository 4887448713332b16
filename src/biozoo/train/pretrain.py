"""Masked-value pretraining of token encoders on a fold's training samples.

Before an ensemble is fine-tuned with its head, each member's token encoders learn to predict
hidden values, self-supervised, as scBERT (Yang et al. 2022,
https://doi.org/10.1038/s42256-022-00534-z) and scGPT (Cui et al. 2024,
https://doi.org/10.1038/s41592-024-02201-0) pretrain on unlabelled cells. What is hidden
depends on what the encoder reads (:data:`OBJECTIVES`):

- value ids (gene tokens with binned expression, ``tokenizer: {name: gene_rank, value_bins:
  ...}``): in every sample a share of the valued tokens get the value id
  :data:`~biozoo.inputs.VALUE_HIDDEN`, and a linear map of each such token's state scores
  its bin (cross-entropy);
- gene groups (``tokenizer: omics_groups``): a share of each sample's groups is hidden
  whole (masked like a missing group, so the group's token carries its identity only), and
  a linear map per group predicts the group's values from its token's state (mean squared
  error over the group's measured values), a masked autoencoder over gene programs.

The maps are dropped afterwards; the encoder keeps its weights and fine-tuning starts from
them.

Only the samples handed in are read: the experiment hands the training part of the outer
fold, so no test sample is seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from biozoo.config import PretrainConfig
from biozoo.data.batch import FoldData, take_rows, to_device
from biozoo.decoders.protocols import TokenStates
from biozoo.errors import BiozooError
from biozoo.inputs import VALUE_FIRST, VALUE_HIDDEN, GroupsInput, TokensInput
from biozoo.layers.token_input import keep_random_share
from biozoo.train.ensemble import Ensemble

__all__ = [
    "OBJECTIVES",
    "GroupDecoder",
    "MaskedObjective",
    "hide_groups",
    "hide_values",
    "masked_group_loss",
    "masked_value_loss",
    "pretrain_ensemble",
    "pretrainable_encoders",
]


def hide_values(
    values: Tensor, fraction: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``values`` with a random share ``fraction`` of the valued tokens hidden, and where.

    Shape:
        - values: Long ``[B, L]``; outputs: the hidden ids ``[B, L]`` and a bool ``[B, L]``.
    """
    draw = torch.rand(values.shape, generator=generator).to(values.device)
    hidden = (draw < fraction) & (values >= VALUE_FIRST)
    return torch.where(hidden, torch.full_like(values, VALUE_HIDDEN), values), hidden


def masked_value_loss(
    encoder: nn.Module,
    scorer: nn.Module,
    x: Mapping[str, Tensor],
    fraction: float,
    generator: torch.Generator,
) -> Tensor | None:
    """Cross-entropy of the hidden tokens' bins, scored from their states; None when no
    token was hidden."""
    values = x["values"]
    shown, hidden = hide_values(values, fraction, generator)
    if not hidden.any():
        return None
    states, _ = encoder.encode_tokens({**x, "values": shown})  # (B, L, d), position p = token p
    logits = scorer(states[hidden])
    return nn.functional.cross_entropy(logits, values[hidden] - VALUE_FIRST)


def hide_groups(mask: Tensor, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``mask`` with a random share ``fraction`` of each sample's present groups hidden whole,
    and which groups; a sample that would lose all of its groups keeps them all.

    Shape:
        - mask: bool ``[B, G, S]``; outputs: the shown mask ``[B, G, S]``, hidden ``[B, G]``.
    """
    present = mask.any(dim=-1)
    shown = keep_random_share(present, fraction, generator)
    return mask & shown.unsqueeze(-1), present & ~shown


class GroupDecoder(nn.Module):
    """A linear map per group from its token's state to the group's ``size`` values.

    Shape:
        - states ``[B, G, d]`` -> values ``[B, G, size]``.
    """

    def __init__(self, groups: int, dim: int, size: int) -> None:
        super().__init__()
        bound = 1 / dim**0.5
        self.weight = nn.Parameter(torch.empty(groups, dim, size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(groups, size))

    def forward(self, states: Tensor) -> Tensor:
        return torch.einsum("bgd,gds->bgs", states, self.weight) + self.bias


def masked_group_loss(
    encoder: nn.Module,
    decoder: nn.Module,
    x: Mapping[str, Tensor],
    fraction: float,
    generator: torch.Generator,
) -> Tensor | None:
    """Mean squared error of the hidden groups' measured values, predicted from their
    states; None when no group was hidden."""
    mask = x["mask"].bool()
    shown, hidden = hide_groups(mask, fraction, generator)
    scored = mask & hidden.unsqueeze(-1)
    if not scored.any():
        return None
    states, _ = encoder.encode_tokens({**x, "mask": shown})  # (B, G, d), position g = group g
    return nn.functional.mse_loss(decoder(states)[scored], x["values"][scored])


Loss = Callable[[nn.Module, nn.Module, Mapping[str, Tensor], float, torch.Generator], Tensor | None]


@dataclass(frozen=True)
class MaskedObjective:
    """What is hidden and predicted for one kind of input.

    Attributes:
        accepts: whether an encoder reading this input spec can be pretrained this way.
        predictor: the map from an encoder's token states to the hidden values (dropped
            after pretraining).
        loss: ``(encoder, predictor, batch, fraction, generator)`` -> the batch's loss, or
            None when nothing was hidden.
    """

    accepts: Callable[[object], bool]
    predictor: Callable[[nn.Module], nn.Module]
    loss: Loss


OBJECTIVES: tuple[MaskedObjective, ...] = (  # the losses are looked up when called
    MaskedObjective(
        accepts=lambda spec: isinstance(spec, TokensInput) and spec.values > 0,
        predictor=lambda e: nn.Linear(e.token_dim, e.input.values - VALUE_FIRST),
        loss=lambda *batch: masked_value_loss(*batch),
    ),
    MaskedObjective(
        accepts=lambda spec: isinstance(spec, GroupsInput),
        predictor=lambda e: GroupDecoder(e.input.groups, e.token_dim, e.input.size),
        loss=lambda *batch: masked_group_loss(*batch),
    ),
)


def pretrainable_encoders(model: nn.Module) -> dict[str, tuple[nn.Module, MaskedObjective]]:
    """The model's encoders that expose their token states and read an input with a masked
    objective, by modality, each with its objective."""
    encoders = getattr(model, "encoders", None)
    if not isinstance(encoders, nn.ModuleDict):
        return {}
    out = {}
    for name, encoder in encoders.items():
        spec = getattr(encoder, "input", None)
        found = [o for o in OBJECTIVES if o.accepts(spec)]
        if isinstance(encoder, TokenStates) and found:
            out[name] = (encoder, found[0])
    return out


def pretrain_ensemble(
    ensemble: Ensemble,
    make_model: Callable[[], nn.Module],
    data: FoldData,
    options: PretrainConfig,
    *,
    batch_size: int,
    weight_decay: float,
    seed: int,
    device: torch.device | None = None,
) -> dict[str, object]:
    """Pretrain every member's pretrainable encoders on ``data``'s samples, in place.

    Each member is copied into a model from ``make_model``, pretrained alone (its own seed
    ``seed + member`` for batches and hidden tokens) on ``device`` (default the CPU), and its
    weights put back.

    Returns:
        ``pretrain_loss``: each member's mean loss over its last epoch.

    Raises:
        BiozooError: the model has no encoder with a masked objective.
    """
    state = ensemble.stacked_state()
    trained, last = [], []
    n = len(data)
    device = device or torch.device("cpu")
    for member in range(ensemble.n_members):
        model = make_model().to(device)
        tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
        with torch.no_grad():
            for k, t in state.items():
                tensors[k].copy_(t[member])
        found = pretrainable_encoders(model)
        if not found:
            raise BiozooError(
                "training.pretrain needs an encoder that gives token states over value ids or "
                "gene groups, e.g. a transformer on tokenizer gene_rank with value_bins, or on "
                "omics_groups."
            )
        encoders = {m: e for m, (e, _) in found.items()}
        scorers = nn.ModuleDict({m: o.predictor(e) for m, (e, o) in found.items()}).to(device)
        params = [p for e in encoders.values() for p in e.parameters()]
        params += list(scorers.parameters())
        opt = torch.optim.AdamW(params, lr=options.lr, weight_decay=weight_decay)
        generator = torch.Generator().manual_seed(seed + member)
        model.train()
        for _ in range(options.epochs):
            losses = []
            for idx in torch.randperm(n, generator=generator).split(batch_size):
                terms = [
                    objective.loss(
                        e,
                        scorers[m],
                        to_device(take_rows(data.inputs[m], idx), device),
                        options.mask_fraction,
                        generator,
                    )
                    for m, (e, objective) in found.items()
                ]
                terms = [t for t in terms if t is not None]
                if not terms:
                    continue
                loss = torch.stack(terms).sum()
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                losses.append(float(loss.detach()))
        last.append(sum(losses) / max(len(losses), 1))
        trained.append({k: tensors[k].detach() for k in state})
    ensemble.load_stacked_state({k: torch.stack([s[k] for s in trained]) for k in state})
    return {"pretrain_loss": last}
