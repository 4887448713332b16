"""Masked-value pretraining of token encoders on a fold's training samples.

Before an ensemble is fine-tuned with its head, each member's token encoders that read value
ids (gene tokens with binned expression, ``tokenizer: {name: gene_rank, value_bins: ...}``)
learn to predict hidden values, self-supervised, as scBERT (Yang et al. 2022,
https://doi.org/10.1038/s42256-022-00534-z) and scGPT (Cui et al. 2024,
https://doi.org/10.1038/s41592-024-02201-0) pretrain on unlabelled cells: in every sample a
share of the valued tokens get the value id :data:`~biozoo.inputs.VALUE_HIDDEN`, and a linear
map of the encoder's state of each such token scores its bin (cross-entropy). The map is
dropped afterwards; the encoder keeps its weights and fine-tuning starts from them.

Only the samples handed in are read: the experiment hands the training part of the outer
fold, so no test sample is seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from biozoo.config import PretrainConfig
from biozoo.data.batch import FoldData, take_rows, to_device
from biozoo.decoders.protocols import TokenStates
from biozoo.errors import BiozooError
from biozoo.inputs import VALUE_FIRST, VALUE_HIDDEN, TokensInput
from biozoo.train.ensemble import Ensemble

__all__ = ["hide_values", "masked_value_loss", "pretrain_ensemble", "value_encoders"]


def value_encoders(model: nn.Module) -> dict[str, nn.Module]:
    """The model's encoders that read value ids and expose their token states, by modality."""
    encoders = getattr(model, "encoders", None)
    if not isinstance(encoders, nn.ModuleDict):
        return {}
    out = {}
    for name, encoder in encoders.items():
        spec = getattr(encoder, "input", None)
        if isinstance(encoder, TokenStates) and isinstance(spec, TokensInput) and spec.values:
            out[name] = encoder
    return out


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
    """Pretrain every member's value-reading encoders on ``data``'s samples, in place.

    Each member is copied into a model from ``make_model``, pretrained alone (its own seed
    ``seed + member`` for batches and hidden tokens) on ``device`` (default the CPU), and its
    weights put back.

    Returns:
        ``pretrain_loss``: each member's mean loss over its last epoch.

    Raises:
        BiozooError: the model has no encoder that reads value ids.
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
        encoders = value_encoders(model)
        if not encoders:
            raise BiozooError(
                "training.pretrain needs an encoder that reads value ids and gives token "
                "states, e.g. a transformer on tokenizer gene_rank with value_bins."
            )
        scorers = nn.ModuleDict(
            {m: nn.Linear(e.token_dim, e.input.values - VALUE_FIRST) for m, e in encoders.items()}
        ).to(device)
        params = [p for e in encoders.values() for p in e.parameters()]
        params += list(scorers.parameters())
        opt = torch.optim.AdamW(params, lr=options.lr, weight_decay=weight_decay)
        generator = torch.Generator().manual_seed(seed + member)
        model.train()
        for _ in range(options.epochs):
            losses = []
            for idx in torch.randperm(n, generator=generator).split(batch_size):
                terms = [
                    masked_value_loss(
                        e,
                        scorers[m],
                        to_device(take_rows(data.inputs[m], idx), device),
                        options.mask_fraction,
                        generator,
                    )
                    for m, e in encoders.items()
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
