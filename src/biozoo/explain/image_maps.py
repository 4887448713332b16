"""Where an image encoder looks: attention rollout for patch attention, Grad-CAM for
convolutions, both as ``[B, H, W]`` maps on the input image.

- :func:`rollout_map`: attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow
  in Transformers", https://arxiv.org/abs/2005.00928) of an encoder with the
  :class:`~biozoo.encoders.protocols.PatchAttention` capability: heads averaged, the identity
  added for the residual path, rows renormalised, multiplied through the layers
  (:func:`~biozoo.explain.attention.received_attention`, shared with the sequence
  transformer); the ``[CLS]`` row over the patches is laid on the patch grid and upsampled.
- :func:`grad_cam`: Grad-CAM (Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391) via
  Captum's ``LayerGradCam`` on the layer an encoder with the
  :class:`~biozoo.encoders.protocols.ConvFeatureMap` capability names: the feature map
  weighted by its spatially averaged gradients, summed over channels, ReLU, upsampled.
  :func:`model_output` gives the scalar it differentiates: the head's ``explained`` output
  of the whole model (the other modalities held at their values), as the attributions use.

Upsampling is bilinear; pixels an encoder never read (past a ViT's last whole patch) get 0.
:func:`biozoo.data.sources.image_patterns.mass_inside` scores a map against a planted
pattern.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biozoo.encoders.protocols import PatchAttention
from biozoo.errors import BiozooError
from biozoo.explain.attention import received_attention
from biozoo.model import MultiModalModel

__all__ = ["grad_cam", "model_output", "rollout_map", "upsample"]


def upsample(
    grid: Tensor, height: int, width: int, covered: tuple[int, int] | None = None
) -> Tensor:
    """``[B, h, w]`` cell values -> ``[B, height, width]`` pixels (bilinear).

    Args:
        grid: the coarse map.
        height: image height.
        width: image width.
        covered: ``(rows, cols)`` of pixels the grid stands for, from the top left (default
            the whole image); the rest is 0.
    """
    ch, cw = covered or (height, width)
    ch, cw = min(ch, height), min(cw, width)
    up = F.interpolate(grid.unsqueeze(1), size=(ch, cw), mode="bilinear", align_corners=False)
    return F.pad(up[:, 0], (0, width - cw, 0, height - ch))


def rollout_map(encoder: nn.Module, images: Tensor) -> Tensor:
    """Attention rollout from ``[CLS]`` to every patch, upsampled onto the image.

    Args:
        encoder: an encoder with the ``PatchAttention`` capability (put in eval mode here,
            its mode given back afterwards).
        images: ``[B, C, H, W]``.

    Returns:
        ``[B, H, W]``, non-negative; over the patches it sums to the share of ``[CLS]``'s
        rolled-out attention that reaches them (the rest stays on ``[CLS]``).
    """
    if not isinstance(encoder, PatchAttention):
        raise BiozooError(
            f"attention rollout needs an encoder that attends over patches, "
            f"got {type(encoder).__name__}"
        )
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            maps = encoder.attention_maps(images).float()  # (B, layers, heads, 1 + n, 1 + n)
    finally:
        encoder.train(was_training)
    mask = torch.ones(maps.shape[0], maps.shape[-1], dtype=torch.bool, device=maps.device)
    flow = received_attention(maps, mask, method="rollout", cls=True)[:, 1:]  # (B, n)
    rows, cols = encoder.patch_grid()
    cell = encoder.patch_pixels()  # pixels per patch side
    grid = flow.reshape(-1, rows, cols)
    height, width = images.shape[-2:]
    # onto the pixels the patches cover, each patch's mass kept
    return upsample(grid, height, width, (rows * cell, cols * cell)) / (cell * cell)


def model_output(
    model: MultiModalModel,
    head: nn.Module,
    modality: str,
    inputs: dict[str, object],
    present: dict[str, Tensor],
    *,
    sign: Tensor | None = None,
) -> Callable[[Tensor], Tensor]:
    """``images -> head.explained(...)`` of ``model``, the other modalities at ``inputs``.

    The returned function reads the samples of ``inputs`` in order: call it on a batch of
    the same samples (``[B]``, or ``[B, C]`` for a per-class head).

    Args:
        model: the model (in evaluation mode).
        head: the task's head.
        modality: the image modality whose input the function takes.
        inputs: every modality's input for the samples.
        present: every modality's presence for the samples.
        sign: ``[B]`` of +1 / -1 multiplying the output: with a binary head's log-odds of
            class 1, ``2 y - 1`` turns it into the log-odds of each sample's true class.
    """

    def forward(images: Tensor) -> Tensor:
        outputs, view_mask = model({**inputs, modality: images}, present)
        out = head.explained(outputs, view_mask)
        return out if sign is None else out * sign.to(out.dtype)

    return forward


def grad_cam(
    forward: Callable[[Tensor], Tensor],
    layer: nn.Module,
    images: Tensor,
    *,
    target: Tensor | None = None,
) -> Tensor:
    """Grad-CAM of ``forward``'s output at ``layer``, upsampled onto the image.

    Args:
        forward: images ``[B, C, H, W]`` -> ``[B]`` (or ``[B, C]`` with ``target``); its
            modules in evaluation mode.
        layer: a module inside ``forward`` whose output is a ``[B, C', h, w]`` feature map.
        images: the batch.
        target: ``[B]`` class per sample for a per-class output.

    Returns:
        ``[B, H, W]``, non-negative (the ReLU of the weighted feature map).
    """
    from captum.attr import LayerGradCam

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*required_grads has been set.*")
        cam = LayerGradCam(forward, layer).attribute(
            images, target=None if target is None else target.long(), relu_attributions=True
        )  # (B, 1, h, w)
    return upsample(cam[:, 0].detach().float(), *images.shape[-2:])
