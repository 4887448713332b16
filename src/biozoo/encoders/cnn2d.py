"""The ``cnn2d`` encoder: a small residual CNN with batch norm and global average pooling.

ResNet's residual stages (He et al. 2016, https://arxiv.org/abs/1512.03385), scaled down
for small biomedical images (crops of a few dozen pixels): a 3x3 stem, one stage per width,
each stage after the first halving the resolution, then the mean over every position.

The last residual block's output is the feature map that Grad-CAM reads
(:meth:`CNN2dEncoder.cam_layer`, the :class:`~biozoo.encoders.protocols.ConvFeatureMap`
capability). Batch norm keeps running statistics (buffers updated in place), which
``torch.func.vmap`` cannot batch: ensemble members are trained one after the other
(``stackable = False``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import Tensor, nn

from biozoo.encoders._registry import ENCODERS
from biozoo.inputs import ImageInput
from biozoo.layers.conv2d import ResidualStages, check_image

__all__ = ["CNN2dEncoder"]


@ENCODERS.register("cnn2d")
class CNN2dEncoder(nn.Module):
    """Image -> residual stages -> global average pooling -> dropout -> linear map.

    Args:
        input: the images it reads (channels and size come from the data).
        width: channels of the first stage; stage ``i`` has ``width * 2**i``.
        stages: residual stages (resolution halves ``stages - 1`` times).
        blocks: residual blocks per stage.
        dropout: dropout before the output map.
        out_dim: size of the embedding.

    Shape:
        - x: ``[B, channels, H, W]``; mask: ``[B]`` bool or None; output ``[B, out_dim]``
          (zero for absent samples).
    """

    reads: ClassVar[tuple[type, ...]] = (ImageInput,)
    stackable: ClassVar[bool] = False

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        width: PositiveInt = 16
        stages: PositiveInt = 3
        blocks: PositiveInt = 1
        dropout: float = Field(0.1, ge=0.0, lt=1.0)
        out_dim: PositiveInt = 32

    def __init__(
        self,
        input: ImageInput,
        *,
        width: int = 16,
        stages: int = 3,
        blocks: int = 1,
        dropout: float = 0.1,
        out_dim: int = 32,
    ) -> None:
        super().__init__()
        self.input, self.out_dim = input, out_dim
        self.features = ResidualStages(
            input.channels, [width * 2**i for i in range(stages)], blocks=blocks
        )
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(width * 2 ** (stages - 1), out_dim)

    def reset_parameters(self) -> None:
        self.features.reset_parameters()
        self.proj.reset_parameters()

    def cam_layer(self) -> nn.Module:
        """The layer whose output feature map Grad-CAM weighs: the last residual block."""
        return self.features.last

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        check_image(x, self.input, "cnn2d")
        h = self.features(x)  # (B, C', H', W')
        z = self.proj(self.drop(h.mean(dim=(2, 3))))  # (B, out_dim)
        if mask is not None:
            z = z * mask.unsqueeze(-1).to(z.dtype)
        return z
