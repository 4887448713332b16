"""A latent model's run: its report maps the latent of every modality and the joint one."""

from __future__ import annotations

import re
from html import unescape

import pytest
from tests.report.conftest import tiny_run

from biozoo.report import write_report

VAE = {
    "vae": {
        "default_encoder": {"name": "mlp", "hidden": [8], "out_dim": 4},
        "objective": {"name": "vae", "latent_dim": 2},
    }
}


@pytest.fixture(scope="module")
def vae_report(tmp_path_factory):
    run = tiny_run("binary", tmp_path_factory.mktemp("vae"), models=VAE)
    return run, write_report(run, umap=False).read_text()


def test_a_vae_runs_report_shows_its_latent_maps(vae_report):
    run, page = vae_report
    files = sorted(p.stem for p in (run / "latents" / "vae").glob("*.csv"))
    assert files == ["a", "b", "fused"]  # each modality's posterior mean and the joint one
    section = page.split('<section id="latents">', 1)[1].split("</section>", 1)[0]
    assert "No latents/" not in section
    figures = re.findall(r'<figure class="plot[^"]*" data-plot="(latent-\d+)">(.*?)</figure>',
                         section, flags=re.S)  # fmt: skip
    assert [key for key, _ in figures] == [f"latent-{i}" for i in range(len(files))]
    titles = [unescape(body) for _, body in figures]  # each map's title is SVG text
    for module in files:
        assert sum(f"vae · {module}: d=2" in t for t in titles) == 1, module
    assert all("<svg" in body and "<path" in body for _, body in figures)  # drawn inline
