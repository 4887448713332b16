"""UMAP's numba functions are compiled once per machine, not once per report process."""

import sys

from biozoo.report.latent_maps import _import_umap


def test_every_jitted_umap_function_keeps_its_machine_code_on_disk():
    from numba.core.dispatcher import Dispatcher

    _import_umap()
    jitted = [
        (name, attr)
        for name, module in list(sys.modules.items())
        if name == "umap" or name.startswith("umap.")
        for attr, obj in vars(module).items()
        if isinstance(obj, Dispatcher)
    ]
    # the layout optimiser is what a latent map's UMAP compiles first
    assert ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch") in jitted
    uncached = [
        f"{name}.{attr}"
        for name, attr in jitted
        if getattr(sys.modules[name], attr).stats.cache_path is None
    ]
    assert not uncached
