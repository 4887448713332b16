"""An encoder-decoder model: one modality's token states, attended to by a decoder.

The model keeps the contract of :class:`biozoo.model.MultiModalModel` towards the training
loop and the head: ``forward(inputs, present)`` gives ``(outputs [B, 1, T, V], view_mask
[B, 1])``. Given the target ids as a third argument it runs teacher-forced (the decoder reads
``[BOS]`` and the target shifted right, Williams & Zipser 1989) and ``outputs`` are logits;
without it the decoder searches (greedy or beam, the decoder's ``search`` option) and
``outputs`` are the decoded tokens as degenerate logits (0 on the chosen token, -1e9
elsewhere), so the head's probabilities are one-hot.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from biozoo.decoders.protocols import StepDecoder, TokenStates
from biozoo.decoders.search import decode, shifted

__all__ = ["Seq2SeqModel", "decoded_logits"]

_OFF = -1e9  # logit of the tokens a decoded position did not choose


def decoded_logits(ids: Tensor, n_outputs: int) -> Tensor:
    """Degenerate logits ``[B, T, V]`` whose softmax is the one-hot of ``ids [B, T]``."""
    out = torch.full((*ids.shape, n_outputs), _OFF, device=ids.device)
    return out.scatter_(-1, ids[..., None], 0.0)


class Seq2SeqModel(nn.Module):
    """An encoder with token states and a step decoder, for one input modality.

    Args:
        encoder: a :class:`~biozoo.decoders.protocols.TokenStates` encoder.
        decoder: a :class:`~biozoo.decoders.protocols.StepDecoder`.
        modality: the modality the encoder reads.
        n_outputs: target vocabulary size.
    """

    stackable = False  # decoding is data-dependent control flow, which vmap cannot batch

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, modality: str, n_outputs: int
    ) -> None:
        super().__init__()
        if not isinstance(encoder, TokenStates):
            raise TypeError(f"{type(encoder).__name__} does not expose token states")
        if not isinstance(decoder, StepDecoder):
            raise TypeError(f"{type(decoder).__name__} is not a step decoder")
        self.encoders = nn.ModuleDict({modality: encoder})
        self.decoder = decoder
        self.modality, self.n_outputs = modality, n_outputs
        self.modalities = [modality]

    def memory(self, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The encoder's token states ``[B, L, d]`` and mask ``[B, L]``."""
        return self.encoders[self.modality].encode_tokens(inputs[self.modality])

    def embed(self, inputs: dict[str, Tensor], present: dict[str, Tensor]) -> dict[str, Tensor]:
        """The mean of the real token states ``[B, d]``: the latent of the input."""
        h, mask = self.memory(inputs)
        w = mask.to(h.dtype)[..., None]
        return {self.modality: (h * w).sum(1) / w.sum(1).clamp_min(1.0)}

    def decode_tokens(self, inputs: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        h, mask = self.memory(inputs)
        return self._search(h, mask)

    def _search(self, h: Tensor, mask: Tensor) -> Tensor:
        return decode(self.decoder, h, mask, self.decoder.decoding)

    @torch.no_grad()
    def cross_attention(
        self, inputs: dict[str, Tensor], present: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor]:
        h, mask = self.memory(inputs)
        ids = self._search(h, mask)
        _, maps = self.decoder.teacher_forced(h, mask, shifted(ids))
        return ids, maps, mask

    def forward(
        self,
        inputs: dict[str, Tensor],
        present: dict[str, Tensor],
        target: Tensor | None = None,
        *,
        embed: bool = False,
        with_aux: bool = False,
    ) -> tuple[Tensor, ...] | dict[str, Tensor]:
        """``(outputs [B, 1, T, V], view_mask [B, 1])``, plus a zero aux loss with
        ``with_aux``; the embeddings of :meth:`embed` (and ``fused``) with ``embed``."""
        if embed:
            z = self.embed(inputs, present)
            return {**z, "fused": z[self.modality]}
        h, mask = self.memory(inputs)
        if target is not None:
            logits, _ = self.decoder.teacher_forced(h, mask, shifted(target.long()))
        else:
            logits = decoded_logits(self._search(h, mask), self.n_outputs).to(h.dtype)
        outputs = logits.unsqueeze(1)  # (B, 1, T, V)
        view_mask = torch.ones(outputs.shape[:2], dtype=h.dtype, device=h.device)
        if not with_aux:
            return outputs, view_mask
        return outputs, view_mask, h.new_zeros(())
