"""Cross-attention maps of encoder-decoder models, for the run folder.

For a few test samples of every split, each ensemble member decodes the sample and reads
back, for every output position, its attention over the input tokens (the decoder
teacher-forced on its own decoded sequence; heads and layers averaged for the transformer).
The run writes them to ``cross_attention/<model>.csv``, one row per (split, sample, member,
output position, input position): ``query`` and ``query_token`` are the output position and
its decoded letter, ``key`` and ``key_token`` the input position and its token. A model that
has learnt the genetic code attends from residue ``i`` to nucleotides ``3i .. 3i + 2``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from biozoo.data.batch import FoldData, take_rows, to_device
from biozoo.decoders.protocols import EncoderDecoder
from biozoo.tasks.sequence_target import EOS, FIRST, PAD, UNK
from biozoo.train.device import module_device
from biozoo.train.ensemble import Ensemble

__all__ = ["cross_attention_frame", "has_cross_attention"]

COLUMNS = ["sample_id", "member", "query", "query_token", "key", "key_token", "weight"]


def has_cross_attention(ensemble: Ensemble) -> bool:
    """Whether the ensemble's members are encoder-decoders."""
    return isinstance(ensemble.template, EncoderDecoder)


def _letter(i: int, letters: str) -> str:
    if i == EOS:
        return "[EOS]"
    if i == UNK or not 0 <= i - FIRST < len(letters):
        return "?"
    return letters[i - FIRST]


@torch.no_grad()
def cross_attention_frame(
    ensemble: Ensemble,
    data: FoldData,
    rows: np.ndarray,
    ids: list[str],
    key_tokens: list[list[str]] | None,
    letters: str,
) -> pd.DataFrame:
    """Every member's cross-attention for the samples at ``rows`` of ``data``.

    Args:
        ensemble: the split's trained encoder-decoders.
        data: the split's transformed data.
        rows: positions (in ``data``) of the samples to show.
        ids: their sample ids.
        key_tokens: each sample's input tokens, by position (None: positions only).
        letters: the target alphabet.

    Returns:
        Columns :data:`COLUMNS`: real output positions up to and including ``[EOS]``, real
        input positions.
    """
    index = torch.as_tensor(rows, dtype=torch.long)
    device = module_device(ensemble)
    inputs = to_device({k: take_rows(v, index) for k, v in data.inputs.items()}, device)
    present = to_device({k: v[index] for k, v in data.present.items()}, device)
    frames = []
    for m in range(ensemble.n_members):
        model = _member(ensemble, m)
        decoded, maps, mask = model.cross_attention(inputs, present)
        for i, sid in enumerate(ids):
            out = decoded[i].tolist()
            n_out = next((t + 1 for t, v in enumerate(out) if v in (EOS, PAD)), len(out))
            keys = mask[i].nonzero().flatten().tolist()
            weight = maps[i, :n_out][:, keys].cpu().numpy()  # (T, L)
            q, k = np.meshgrid(np.arange(n_out), np.arange(len(keys)), indexing="ij")
            names = key_tokens[i] if key_tokens is not None else None
            frames.append(
                pd.DataFrame(
                    {
                        "sample_id": sid,
                        "member": m,
                        "query": q.ravel(),
                        "query_token": [_letter(out[t], letters) for t in q.ravel()],
                        "key": np.asarray(keys)[k.ravel()],
                        "key_token": [
                            names[keys[j]] if names and keys[j] < len(names) else str(keys[j])
                            for j in k.ravel()
                        ],
                        "weight": weight.ravel(),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def _member(ensemble: Ensemble, m: int) -> EncoderDecoder:
    """Member ``m`` of a loop ensemble (encoder-decoders never stack), in eval mode."""
    model = ensemble.members[m]  # type: ignore[union-attr]
    model.eval()
    return model
