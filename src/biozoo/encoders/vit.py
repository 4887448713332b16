"""The ``vit`` encoder: a Vision Transformer, an image's patches as tokens.

Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words: Transformers for Image Recognition
at Scale", https://arxiv.org/abs/2010.11929: non-overlapping ``patch x patch`` squares are
embedded by a convolution whose stride is its kernel, a learned ``[CLS]`` token is put in
front, positions are added (learned, or the fixed 2-D sinusoidal table), and pre-norm blocks
attend over the tokens; the ``[CLS]`` state is the embedding. The blocks are the same
:class:`~biozoo.layers.attention.TransformerBlock` the sequence ``transformer`` runs.

ViTs need much data to learn what a convolution assumes (locality, translation); on small
data they lag CNNs. ``stem="conv"`` is the paper's hybrid: residual convolution stages
(:class:`~biozoo.layers.conv2d.ResidualStages`, as in ``cnn2d``) run first and the patches
are cut from their feature map. Pixels past the last whole patch are not read.

``attention`` picks the blocks' attention over the tokens: ``softmax`` (every token attends to
every token), ``linear`` (softmax-free, linear in the number of patches) or ``axial``
(:class:`~biozoo.layers.axial_attention.AxialAttention`: a patch attends along its row of the
patch grid, then along its column, in ``O(n * (rows + cols))`` for ``n`` patches). With
``axial`` the ``[CLS]`` token stays the pooled embedding: it is a key of every row and column
and its own query attends globally, over all patches, in both passes.

Capabilities: :class:`~biozoo.encoders.protocols.PatchAttention` (attention rollout onto the
image) and :class:`~biozoo.encoders.protocols.ConvFeatureMap` (Grad-CAM on the hybrid's stem;
:meth:`ViTEncoder.cam_layer` is None without a stem).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import Tensor, nn

from biozoo.encoders._registry import ENCODERS
from biozoo.errors import BiozooError
from biozoo.inputs import ImageInput
from biozoo.layers.attention import FeedForward, TransformerBlock
from biozoo.layers.axial_attention import GRID_ATTENTION_KINDS
from biozoo.layers.conv2d import ResidualStages, check_image
from biozoo.layers.multihead import head_dim
from biozoo.layers.positional import sinusoidal_2d

__all__ = ["ViTEncoder"]


@ENCODERS.register("vit")
class ViTEncoder(nn.Module):
    """Image -> (convolutional stem) -> patches -> ``[CLS]`` + positions -> pre-norm blocks ->
    ``[CLS]`` -> linear map.

    Args:
        input: the images it reads (channels and size come from the data).
        patch: side of a square patch, in pixels (in stem feature-map cells with a stem).
        d_model: token width (a multiple of ``heads``; of 4 for sinusoidal positions).
        heads: attention heads.
        layers: transformer blocks (the depth).
        hidden: width of the position-wise MLP.
        dropout: dropout on attention weights, residual branches and before the output map.
        positional: ``learned`` or ``sinusoidal`` (2-D, fixed).
        stem: ``none`` (plain ViT) or ``conv`` (hybrid: residual convolution stages first).
        stem_width: channels of the stem's first stage (doubling per stage).
        stem_stages: stem stages; the stem halves the resolution ``stem_stages - 1`` times.
        attention: ``softmax``, ``linear`` or ``axial`` (rows, then columns of the patch grid).
        out_dim: size of the embedding.

    Shape:
        - x: ``[B, channels, H, W]``; mask: ``[B]`` bool or None; output ``[B, out_dim]``
          (zero for absent samples).

    Raises:
        BiozooError: the image (after the stem) is smaller than one patch.
    """

    reads: ClassVar[tuple[type, ...]] = (ImageInput,)
    stackable: ClassVar[bool] = True  # instance-level: False with a stem (batch norm)

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        patch: PositiveInt = 4
        d_model: PositiveInt = 32
        heads: PositiveInt = 4
        layers: PositiveInt = 2
        hidden: PositiveInt = 64
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        positional: Literal["learned", "sinusoidal"] = "learned"
        stem: Literal["none", "conv"] = "none"
        stem_width: PositiveInt = 16
        stem_stages: PositiveInt = 2
        attention: Literal["softmax", "linear", "axial"] = "softmax"
        out_dim: PositiveInt = 32

    def __init__(
        self,
        input: ImageInput,
        *,
        patch: int = 4,
        d_model: int = 32,
        heads: int = 4,
        layers: int = 2,
        hidden: int = 64,
        dropout: float = 0.1,
        positional: Literal["learned", "sinusoidal"] = "learned",
        stem: Literal["none", "conv"] = "none",
        stem_width: int = 16,
        stem_stages: int = 2,
        attention: Literal["softmax", "linear", "axial"] = "softmax",
        out_dim: int = 32,
    ) -> None:
        super().__init__()
        head_dim(d_model, heads, "vit d_model")
        self.input, self.out_dim, self.patch = input, out_dim, patch
        self.pooling = "cls"
        self.stem = None
        channels, down = input.channels, 1
        if stem == "conv":
            widths = [stem_width * 2**i for i in range(stem_stages)]
            self.stem = ResidualStages(input.channels, widths)
            channels, down = widths[-1], self.stem.downsampling
            self.stackable = False  # batch norm's running statistics
        height, width = -(-input.height // down), -(-input.width // down)
        if height < patch or width < patch:
            after = f" ({height}x{width} after the convolutional stem)" if down > 1 else ""
            raise BiozooError(
                f"vit cannot cut a {patch}x{patch} patch from the image modality's "
                f"{input.height}x{input.width} images{after}; use a smaller patch"
            )
        self.grid = (height // patch, width // patch)
        n_patches = self.grid[0] * self.grid[1]
        self.embed = nn.Conv2d(channels, d_model, patch, stride=patch)
        self.cls = nn.Parameter(torch.empty(d_model))
        self.pos: nn.Parameter | None = None
        if positional == "learned":
            self.pos = nn.Parameter(torch.empty(1 + n_patches, d_model))
        else:
            table = torch.cat([torch.zeros(1, d_model), sinusoidal_2d(*self.grid, d_model)])
            self.register_buffer("pos_table", table, persistent=False)
        attn = GRID_ATTENTION_KINDS[attention]
        self.blocks = nn.ModuleList(
            TransformerBlock(
                d_model,
                heads,
                ffn=FeedForward(d_model, hidden, dropout=dropout),
                dropout=dropout,
                attn=attn(d_model, heads, grid=self.grid, prefix=1, dropout=dropout),
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.stem is not None:
            self.stem.reset_parameters()
        self.embed.reset_parameters()
        nn.init.normal_(self.cls, std=0.02)
        if self.pos is not None:
            nn.init.normal_(self.pos, std=0.02)
        for block in self.blocks:
            block.reset_parameters()
        self.norm.reset_parameters()
        self.proj.reset_parameters()

    def patch_grid(self) -> tuple[int, int]:
        """``(rows, cols)`` of patches; token ``1 + r * cols + c`` is patch ``(r, c)``."""
        return self.grid

    def patch_pixels(self) -> int:
        """Side of a patch in input pixels: ``patch`` times the stem's downsampling."""
        return self.patch * (self.stem.downsampling if self.stem is not None else 1)

    def cam_layer(self) -> nn.Module | None:
        """The stem's last residual block (Grad-CAM's feature map), or None without a stem."""
        return self.stem.last if self.stem is not None else None

    def _tokens(self, x: Tensor) -> Tensor:
        check_image(x, self.input, "vit")
        h = self.stem(x) if self.stem is not None else x
        rows, cols = self.grid
        h = h[..., : rows * self.patch, : cols * self.patch]  # whole patches only
        h = self.embed(h).flatten(2).transpose(1, 2)  # (B, rows*cols, d)
        h = torch.cat([self.cls.expand(h.shape[0], 1, -1), h], dim=1)  # (B, 1 + n, d)
        return h + (self.pos if self.pos is not None else self.pos_table)

    def forward_tokens(
        self, x: Tensor | Mapping[str, Tensor], *, need_weights: bool = False
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """Token states after the last block (``[CLS]`` first), their mask (all True), and each
        block's attention weights ``[B, heads, 1 + n, 1 + n]`` when ``need_weights``.
        """
        h = self._tokens(x)  # type: ignore[arg-type]
        maps = []
        for block in self.blocks:
            h, weights = block(h, need_weights=need_weights)
            if weights is not None:
                maps.append(weights)
        tmask = torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)
        return self.norm(h), tmask, maps

    def attention_maps(self, x: Tensor | Mapping[str, Tensor]) -> Tensor:
        """Attention weights of every block, ``[B, layers, heads, 1 + n, 1 + n]``."""
        _, _, maps = self.forward_tokens(x, need_weights=True)
        return torch.stack(maps, dim=1)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        h, _, _ = self.forward_tokens(x)
        z = self.proj(self.drop(h[:, 0]))
        if mask is not None:
            z = z * mask.unsqueeze(-1).to(z.dtype)
        return z
