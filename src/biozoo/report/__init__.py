"""``report.html``: a self-contained page of a finished run's results.

- :func:`write_report` — write ``<run folder>/report.html`` from the folder's files only.
- :func:`latent_map_data` — the 2-d coordinates the latent maps plot.
"""

from __future__ import annotations

from biozoo.report.html import render_report, write_report
from biozoo.report.latent_maps import LatentMap, latent_map_data

__all__ = ["LatentMap", "latent_map_data", "render_report", "write_report"]
