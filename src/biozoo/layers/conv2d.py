"""2-D residual convolution blocks, and a check that a batch is the image its encoder expects.

Residual blocks as in ResNet (He et al. 2016, "Deep Residual Learning for Image Recognition",
https://arxiv.org/abs/1512.03385): ``ReLU(x' + BN(conv(ReLU(BN(conv(x))))))``, where ``x'``
is ``x`` itself, or a strided 1x1 convolution + BN when the block changes width or
downsamples. The ``cnn2d`` encoder is a stack of such stages; the ``vit`` encoder's hybrid
option puts the same stages in front of its patches as a convolutional stem.
"""

from __future__ import annotations

from torch import Tensor, nn

from biozoo.errors import BiozooError
from biozoo.inputs import ImageInput

__all__ = ["ResidualBlock2d", "ResidualStages", "check_image"]


class ResidualBlock2d(nn.Module):
    """Two 3x3 ``conv -> BN`` with a ReLU between, plus the skip path, then a ReLU.

    Args:
        in_channels: channels in.
        out_channels: channels out.
        stride: stride of the first convolution (2 halves the height and width).

    Shape:
        - x: ``[B, in_channels, H, W]``; output ``[B, out_channels, ceil(H/s), ceil(W/s)]``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.skip = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.BatchNorm2d):
                m.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        h = self.bn1(self.conv1(x)).relu()
        h = self.bn2(self.conv2(h))
        return (h + self.skip(x)).relu()


class ResidualStages(nn.Module):
    """A 3x3 ``conv -> BN -> ReLU`` stem, then one residual stage per entry of ``widths``.

    Every stage after the first starts with a stride-2 block, so ``len(widths)`` stages divide
    the height and width by ``2 ** (len(widths) - 1)`` (rounded up).

    Args:
        in_channels: image channels.
        widths: channels of each stage.
        blocks: residual blocks per stage.

    Shape:
        - x: ``[B, in_channels, H, W]``; output ``[B, widths[-1], H', W']``.
    """

    def __init__(self, in_channels: int, widths: list[int], *, blocks: int = 1) -> None:
        super().__init__()
        if not widths:
            raise BiozooError("a convolutional stack needs at least one stage width")
        self.widths = list(widths)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        prev = widths[0]
        for i, width in enumerate(widths):
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                layers.append(ResidualBlock2d(prev, width, stride=stride))
                prev = width
        self.blocks = nn.Sequential(*layers)

    @property
    def downsampling(self) -> int:
        """The factor by which the height and width shrink."""
        return 2 ** (len(self.widths) - 1)

    @property
    def last(self) -> nn.Module:
        """The last residual block: its output is the stack's final feature map."""
        return self.blocks[-1]

    def reset_parameters(self) -> None:
        self.stem[0].reset_parameters()
        self.stem[1].reset_parameters()
        for block in self.blocks:
            block.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.stem(x))


def check_image(x: Tensor, input: ImageInput, encoder: str) -> None:
    """Raise a one-sentence BiozooError unless ``x`` is a ``[B, C, H, W]`` float batch of
    ``input``'s channel count.

    Args:
        x: the batch.
        input: what the encoder was built for.
        encoder: the encoder's name, for the message.
    """
    if not isinstance(x, Tensor) or x.dim() != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise BiozooError(
            f"encoder {encoder!r} reads an image batch as a float tensor [B, C, H, W], got {shape}"
        )
    if x.shape[1] != input.channels:
        raise BiozooError(
            f"encoder {encoder!r} was built for {input.channels}-channel images but the image "
            f"batch has {x.shape[1]} channels"
        )
