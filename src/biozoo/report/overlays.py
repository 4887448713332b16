"""The report's image explanations: each test image beside its rollout and Grad-CAM overlays.

Reads ``image_maps/<model>/<modality>.npz`` (written by ``biozoo explain``,
:mod:`biozoo.explain.image_run`); None (no section) when the run folder has none.
"""

from __future__ import annotations

import logging
import zipfile
from html import escape

import numpy as np
from matplotlib.figure import Figure

from biozoo.report.blocks import figure, note
from biozoo.report.explained import sample_classes
from biozoo.report.run_files import RunFiles

__all__ = ["image_maps_section", "overlay_figure"]

log = logging.getLogger(__name__)

_METHODS = {"rollout": "attention rollout", "grad_cam": "Grad-CAM"}


def _shown(image: np.ndarray) -> np.ndarray:
    """A ``[C, H, W]`` image for display: one channel as grey, three as RGB, scaled to 0-1."""
    shown = image[:3].transpose(1, 2, 0) if image.shape[0] == 3 else image[0]
    lo, hi = np.percentile(shown, [1, 99])
    return np.clip((shown - lo) / (hi - lo if hi > lo else 1.0), 0, 1)


def overlay_figure(
    images: np.ndarray,
    maps: dict[str, np.ndarray],
    *,
    titles: list[str],
    heading: str,
) -> Figure:
    """Rows of images: the image, then each method's map laid over it.

    Args:
        images: ``[k, C, H, W]``.
        maps: method -> ``[k, H, W]`` (the first ``k`` maps of that method).
        titles: one label per image.
        heading: the figure's title.
    """
    k, cols = len(images), 1 + len(maps)
    fig = Figure(figsize=(1.9 * cols, 1.9 * k + 0.4), layout="constrained")
    axes = fig.subplots(k, cols, squeeze=False)
    for i in range(k):
        shown = _shown(images[i])
        grey = "gray" if shown.ndim == 2 else None
        axes[i, 0].imshow(shown, cmap=grey)
        axes[i, 0].set_title(titles[i], fontsize=7)
        for j, (method, values) in enumerate(maps.items(), start=1):
            axes[i, j].imshow(shown, cmap=grey)
            axes[i, j].imshow(values[i], cmap="inferno", alpha=0.55)
            axes[i, j].set_title(_METHODS.get(method, method), fontsize=7)
        for ax in axes[i]:
            ax.set_axis_off()
    fig.suptitle(heading, fontsize=8)
    return fig


def image_maps_section(run: RunFiles) -> str | None:
    """One overlay figure per model and image modality; None without ``image_maps/``."""
    root = run.layout.image_maps
    if not root.is_dir():
        return None
    files = sorted(root.glob("*/*.npz"))
    if not files:
        return note("No image maps in image_maps/ of this run folder.")
    classes = sample_classes(run)
    figs = []
    for i, path in enumerate(files):
        label = f"{path.parent.name} · {path.stem}"
        try:
            with np.load(path, allow_pickle=False) as z:
                images, ids = z["images"], z["sample_id"]
                maps = {m: z[m][: len(images)] for m in _METHODS if m in z.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            log.warning("report: skipped %s: %s", path, err)
            figs.append(note(f"image_maps/{path.parent.name}/{path.name} skipped: {err}"))
            continue
        if not len(images) or not maps:
            continue
        titles = [
            f"{sid}" + (f" [{classes[sid]}]" if sid in classes else "")
            for sid in map(str, ids[: len(images)])
        ]
        fig = overlay_figure(images, maps, titles=titles, heading=label)
        figs.append(figure(fig, f"image-maps-{i}", escape(label)))
    intro = (
        "<p>Where the image encoders look, on the first test images of the first split "
        "(true class in brackets), members averaged. Attention rollout (Vision Transformer): "
        "the [CLS] token's attention carried through every block, heads averaged and the "
        "residual path added, spread over the patches. Grad-CAM (convolutions, and the "
        "hybrid Vision Transformer's stem): the last feature map weighted by the gradient "
        "of the explained output, positive part. Bright is more. The maps of every test "
        "image are in image_maps/.</p>"
    )
    return intro + f'<div class="grid">{"".join(figs)}</div>'
