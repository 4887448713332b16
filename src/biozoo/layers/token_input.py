"""Turns any sequence-like input into tokens ``[B, L, d_model]`` and a mask ``[B, L]``.

- :class:`~biozoo.inputs.TokensInput`: an embedding per token id (id 0 is padding and embeds
  to zero); with value ids (``values`` set, e.g. a gene's binned expression as in scGPT: Cui
  et al. 2024, https://doi.org/10.1038/s41592-024-02201-0) a second embedding per value id is
  added to the token's, initialised small (sd :data:`VALUE_EMBED_STD`) so that training
  starts from the token identities and grows the values' share.
- :class:`~biozoo.inputs.SeriesInput`: a linear map of each time step's channels.
- :class:`~biozoo.inputs.GroupsInput`: one token per feature group, a linear map of the
  group's ``S`` values with its own weights (AttOmics: Beaude et al. 2023,
  https://doi.org/10.1093/bioinformatics/btad624); padded entries of a group are left out, and
  a group without any value is a padded token.
- :class:`~biozoo.inputs.TableInput`: each of the ``p`` features is a token
  ``value * w_j + b_j`` (FT-Transformer: Gorishniy et al. 2021, https://arxiv.org/abs/2106.11959).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from biozoo.errors import BiozooError
from biozoo.inputs import VALUE_NONE, GroupsInput, SeriesInput, TableInput, TokensInput

__all__ = [
    "VALUE_EMBED_STD",
    "TokenInput",
    "compact_tokens",
    "keep_random_share",
    "masked_mean",
    "zero_absent",
]

VALUE_EMBED_STD = 0.02  # initial sd of the value embeddings (gene embeddings: 1)


class TokenInput(nn.Module):
    """Embeds an input of any supported kind as a sequence of ``d_model``-wide tokens.

    Args:
        input: what the encoder reads: a :class:`~biozoo.inputs.TokensInput`,
            :class:`~biozoo.inputs.SeriesInput`, :class:`~biozoo.inputs.GroupsInput` or
            :class:`~biozoo.inputs.TableInput`.
        d_model: token width.

    Attributes:
        input: the input description.
        max_len: number of tokens the input can hold (``max_len``, groups or features).
        ordered: the tokens have an order (tokens and series; table features and groups
            have none, their identity lives in their own weights).

    Shape:
        - table ``[B, p]``; tokens ``{"tokens": [B, L], "mask": [B, L]}``; series
          ``{"values": [B, T, C], "mask": [B, T]}``; groups ``{"values": [B, G, S],
          "mask": [B, G, S]}``.
        - output: ``(h [B, L, d_model], mask [B, L] bool)``.
    """

    def __init__(
        self, input: TokensInput | SeriesInput | GroupsInput | TableInput, d_model: int
    ) -> None:
        super().__init__()
        self.input = input
        self.d_model = d_model
        self.ordered = False
        match input:
            case TableInput(n_features=p):
                self.max_len = p
                self.weight = nn.Parameter(torch.empty(p, d_model))
                self.bias = nn.Parameter(torch.empty(p, d_model))
            case TokensInput(vocab=vocab, max_len=max_len, values=values):
                self.ordered = True
                self.max_len = max_len
                self.embed = nn.Embedding(vocab, d_model, padding_idx=0)
                if values:
                    self.value_embed = nn.Embedding(values, d_model, padding_idx=VALUE_NONE)
            case SeriesInput(channels=channels, max_len=max_len):
                self.ordered = True
                self.max_len = max_len
                self.proj = nn.Linear(channels, d_model)
            case GroupsInput(groups=groups, size=size):
                self.max_len = groups
                self.weight = nn.Parameter(torch.empty(groups, size, d_model))
                self.bias = nn.Parameter(torch.empty(groups, d_model))
            case _:
                raise BiozooError(
                    f"sequence encoders read tokens, series, groups or table inputs, "
                    f"not a {input} input ({input!r})"
                )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        match self.input:
            case TokensInput():
                self.embed.reset_parameters()
                if self.input.values:
                    # small, as the learned positions: a value embedding as large as the
                    # gene's (N(0, 1)) swamps the gene identity at the start of training
                    nn.init.normal_(self.value_embed.weight, std=VALUE_EMBED_STD)
                    with torch.no_grad():
                        self.value_embed.weight[VALUE_NONE].zero_()
            case SeriesInput():
                self.proj.reset_parameters()
            case _:
                # table: 1/sqrt(d) as in FT-Transformer; groups: like a Linear(S, d) per group
                fan = self.d_model if isinstance(self.input, TableInput) else self.weight.shape[1]
                bound = 1 / math.sqrt(fan)
                nn.init.uniform_(self.weight, -bound, bound)
                nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor | Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        if isinstance(self.input, TableInput):
            values = _tensor(x, "table")
            h = values.unsqueeze(-1) * self.weight + self.bias  # (B, p, d)
            return h, torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)
        if not isinstance(x, Mapping):
            raise BiozooError(f"a {self.input} input must be a dict of tensors, got {type(x)}")
        match self.input:
            case TokensInput():
                tokens = x["tokens"]
                mask = x.get("mask")
                mask = tokens != 0 if mask is None else mask.bool()
                h = self.embed(tokens * mask)
                if self.input.values:
                    if "values" not in x:
                        raise BiozooError(
                            "this tokens input carries value ids, but the batch has no 'values'"
                        )
                    h = h + self.value_embed(x["values"] * mask)
                return h, mask
            case SeriesInput():
                values, mask = x["values"], x["mask"].bool()
                values = torch.where(mask.unsqueeze(-1), values, 0.0)  # also drops NaN padding
                return self.proj(values), mask
            case _:  # groups
                values, mask = x["values"], x["mask"].bool()
                values = torch.where(mask, values, 0.0)  # (B, G, S)
                h = torch.einsum("bgs,gsd->bgd", values, self.weight) + self.bias
                return h, mask.any(dim=-1)

    def extra_repr(self) -> str:
        return f"input={self.input}, max_len={self.max_len}, d_model={self.d_model}"


def _tensor(x: object, kind: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise BiozooError(f"a {kind} input must be a tensor [batch, features], got {type(x)}")
    return x


def compact_tokens(h: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Moves each sample's real tokens to the front, in order (padding becomes a suffix).

    Recurrences and convolutions read a sequence in order; a gap (a group without any value)
    would otherwise sit between real tokens.

    Shape:
        - h: ``[B, L, d]``; mask: ``[B, L]`` bool; outputs the same shapes.
    """
    order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices  # (B, L)
    h = torch.gather(h, 1, order.unsqueeze(-1).expand_as(h))
    return h, torch.gather(mask, 1, order)


def keep_random_share(
    mask: Tensor, fraction: float, generator: torch.Generator | None = None
) -> Tensor:
    """``mask`` with a random share ``fraction`` of each sample's tokens dropped; a sample
    whose draw would drop every one of its tokens keeps them all.

    The draw comes from ``generator`` (on the CPU, then moved to ``mask``'s device) or, when
    None, from torch's global generator on ``mask``'s device (as dropout, also under vmap).

    Shape:
        - mask: ``[B, L]`` bool; output the same shape.
    """
    if generator is None:
        draw = torch.rand(mask.shape, device=mask.device)
    else:
        draw = torch.rand(mask.shape, generator=generator).to(mask.device)
    kept = mask & (draw >= fraction)
    return torch.where(kept.any(dim=1, keepdim=True), kept, mask)


def masked_mean(h: Tensor, mask: Tensor) -> Tensor:
    """Mean of the real tokens ``[B, L, d] -> [B, d]`` (zero for a sample without tokens)."""
    keep = mask.unsqueeze(-1).to(h.dtype)
    return (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)


def zero_absent(z: Tensor, token_mask: Tensor, mask: Tensor | None) -> Tensor:
    """Zeroes the embeddings ``z [B, d]`` of samples that are absent or have no token."""
    present = token_mask.any(dim=1)
    if mask is not None:
        present = present & mask.bool()
    return z * present.unsqueeze(-1).to(z.dtype)
