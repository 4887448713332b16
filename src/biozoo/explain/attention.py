"""Attention maps of a transformer encoder, and the attention each input token receives.

Per token, the attention it receives is aggregated over heads and layers, as EnzBERT does for
amino acids (Buton et al. 2023, https://doi.org/10.1093/bioinformatics/btad620):

- ``mean``: the maps averaged over layers and heads, then over the sample's real queries;
- ``rollout``: attention rollout (Abnar & Zuidema 2020, https://arxiv.org/abs/2005.00928):
  each layer's head-averaged map mixed with the identity for the residual path,
  ``0.5 A + 0.5 I``, rows renormalised, multiplied through the layers; then the ``[CLS]``
  row when the encoder pools on ``[CLS]``, otherwise the mean over real queries.

Both give, per sample, a distribution over its real tokens and the encoder's ``[CLS]`` token
(the ``[CLS]`` share is not listed, so the listed values sum to at most 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import pandas as pd
import torch
from torch import Tensor, nn

from biozoo.encoders.protocols import AttentionEncoder
from biozoo.errors import BiozooError
from biozoo.inputs import TokensInput

__all__ = [
    "attention_map_frame",
    "received_attention",
    "token_attention",
    "write_attention_csv",
]

Labels = Sequence[str] | Mapping[int, str] | None


def _maps(encoder: nn.Module, x: Tensor | Mapping[str, Tensor]) -> tuple[Tensor, Tensor, int]:
    """``(maps [B, layers, heads, L', L'], real-token mask [B, L'], offset)`` in eval mode."""
    if not isinstance(encoder, AttentionEncoder):
        raise BiozooError(
            f"attention maps need a transformer encoder, got {type(encoder).__name__}"
        )
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            _, tmask, maps = encoder.forward_tokens(x, need_weights=True)
    finally:
        encoder.train(was_training)
    offset = 1 if getattr(encoder, "pooling", None) == "cls" else 0
    return torch.stack(maps, dim=1).float(), tmask, offset


def _token_ids(encoder: nn.Module, x: object) -> Tensor | None:
    """Token ids ``[B, L]`` for a tokens input (labels then map ids), else None (positions)."""
    if isinstance(encoder.tokens.input, TokensInput):
        return x["tokens"]  # type: ignore[index]
    return None


def _name(key: int, labels: Labels) -> object:
    if labels is None:
        return key
    try:
        return labels[key]
    except (KeyError, IndexError):
        return key


def _ids(sample_ids: Sequence[object] | None, n: int) -> list[object]:
    if sample_ids is None:
        return list(range(n))
    ids = list(sample_ids)
    if len(ids) != n:
        raise BiozooError(f"{len(ids)} sample ids were given for a batch of {n} samples")
    return ids


def received_attention(
    maps: Tensor, mask: Tensor, *, method: Literal["mean", "rollout"] = "mean", cls: bool = False
) -> Tensor:
    """Attention received by each key position, ``[B, L']``.

    Args:
        maps: ``[B, layers, heads, L', L']`` attention weights (rows sum to 1 on real keys).
        mask: ``[B, L']`` bool, True on real tokens (and ``[CLS]``).
        method: ``mean`` or ``rollout``.
        cls: position 0 is a ``[CLS]`` token the encoder pools on (rollout reads its row).
    """
    keep = mask.to(maps.dtype)
    if method == "mean":
        flow = maps.mean(dim=(1, 2))  # (B, L', L') query x key
    elif method == "rollout":
        eye = torch.eye(maps.shape[-1], dtype=maps.dtype, device=maps.device)
        flow = eye.expand_as(maps[:, 0, 0]).clone()
        for layer in maps.mean(dim=2).unbind(1):  # (B, L', L') per layer, first to last
            mixed = 0.5 * layer + 0.5 * eye
            mixed = mixed / mixed.sum(-1, keepdim=True)
            flow = mixed @ flow
        if cls:
            return flow[:, 0] * keep
    else:
        raise BiozooError(f"unknown attention aggregation {method!r}; use mean or rollout")
    return (flow * keep.unsqueeze(-1)).sum(1) / keep.sum(1, keepdim=True).clamp(min=1) * keep


def token_attention(
    encoder: nn.Module,
    x: Tensor | Mapping[str, Tensor],
    sample_ids: Sequence[object] | None = None,
    *,
    labels: Labels = None,
    method: Literal["mean", "rollout"] = "mean",
) -> pd.DataFrame:
    """The attention each real input token receives, one row per (sample, token).

    Args:
        encoder: a ``transformer`` encoder (anything with ``forward_tokens``).
        x: one batch of its input.
        sample_ids: one id per sample (default ``0 .. B-1``).
        labels: names of the tokens: for a tokens input, indexed by token id (a vocabulary);
            otherwise indexed by position (feature or group names). Default: the id / position.
        method: ``mean`` over layers and heads, or attention ``rollout``.

    Returns:
        Columns ``sample_id, position, token, received_attention``; ``position`` counts the
        input's tokens from 0 (the encoder's own ``[CLS]`` is left out).
    """
    maps, mask, offset = _maps(encoder, x)
    got = received_attention(maps, mask, method=method, cls=offset == 1)[:, offset:]
    real = mask[:, offset:]
    ids = _token_ids(encoder, x)
    rows = []
    for i, sid in enumerate(_ids(sample_ids, maps.shape[0])):
        for pos in real[i].nonzero().flatten().tolist():
            key = int(ids[i, pos]) if ids is not None else pos
            rows.append((sid, pos, _name(key, labels), float(got[i, pos])))
    return pd.DataFrame(rows, columns=["sample_id", "position", "token", "received_attention"])


def attention_map_frame(
    encoder: nn.Module,
    x: Tensor | Mapping[str, Tensor],
    sample_ids: Sequence[object] | None = None,
    *,
    labels: Labels = None,
) -> pd.DataFrame:
    """Every attention weight between real tokens, one row per (sample, layer, head, q, k).

    Args: as :func:`token_attention`.

    Returns:
        Columns ``sample_id, layer, head, query, key, query_token, key_token, weight``;
        positions count the input's tokens from 0 and the ``[CLS]`` token is position -1.
    """
    maps, mask, offset = _maps(encoder, x)
    ids = _token_ids(encoder, x)
    n_layers, n_heads = maps.shape[1], maps.shape[2]
    frames = []
    for i, sid in enumerate(_ids(sample_ids, maps.shape[0])):
        pos = mask[i].nonzero().flatten().cpu()
        names = [
            "[CLS]" if p < offset
            else _name(int(ids[i, p - offset]) if ids is not None else int(p) - offset, labels)
            for p in pos.tolist()
        ]  # fmt: skip
        sub = maps[i][:, :, pos][:, :, :, pos]  # (layers, heads, n, n)
        n = len(pos)
        layer, head, q, k = torch.meshgrid(
            torch.arange(n_layers), torch.arange(n_heads), torch.arange(n), torch.arange(n),
            indexing="ij",
        )  # fmt: skip
        q, k = q.flatten(), k.flatten()
        frames.append(
            pd.DataFrame(
                {
                    "sample_id": [sid] * q.numel(),
                    "layer": layer.flatten().numpy(),
                    "head": head.flatten().numpy(),
                    "query": (pos[q] - offset).numpy(),
                    "key": (pos[k] - offset).numpy(),
                    "query_token": [names[j] for j in q.tolist()],
                    "key_token": [names[j] for j in k.tolist()],
                    "weight": sub.flatten().cpu().numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_attention_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Writes a frame of this module to CSV (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
