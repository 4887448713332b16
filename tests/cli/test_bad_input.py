"""The bad-input corpus: every command, every modality kind, every way a file can be wrong.

Each case writes its small files, runs one command, and asserts the exit status, that no
traceback is shown, that the message names the culprit, and that nothing is left behind
(the files under the case's folder are exactly those it wrote). Most cases fail before any
training; those that need a finished run copy one tiny run trained once per session.
"""

from __future__ import annotations

import copy
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from tests.conftest import tiny_raw
from typer.testing import CliRunner

import biozoo
from biozoo.cli import app

runner = CliRunner()


@dataclass
class Ctx:
    """What a case's setup may use: its own folder, the tiny cohort's files, a finished run."""

    tmp: Path
    files: dict[str, Path]
    trained: Path

    def config(self, edit: Callable[[dict], object] | None = None, text: str | None = None) -> str:
        """A run config file: the tiny config changed by ``edit``, or ``text`` as it is."""
        path = self.tmp / "run.yaml"
        if text is not None:
            path.write_text(text)
            return str(path)
        raw = copy.deepcopy(tiny_raw(self.files))
        raw["training"].update(epochs=1, ensemble=1)
        raw["output"] = {"report": False}
        if edit is not None:
            edit(raw)
        path.write_text(yaml.safe_dump(raw))
        return str(path)

    def file(self, name: str, content: str | bytes) -> str:
        path = self.tmp / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return str(path)

    def with_table(self, modality: str, content: str) -> str:
        """The tiny config with ``modality``'s table replaced by ``content``."""
        table = self.file(f"{modality}.csv", content)
        return self.config(lambda r: r["data"]["modalities"][modality].update(path=table))

    def with_modality(self, spec: dict, name: str, content: str) -> str:
        """The tiny config plus a modality ``spec`` whose file holds ``content``."""
        path = self.file(name, content)
        return self.config(lambda r: r["data"]["modalities"].update(extra={**spec, "path": path}))

    def with_split_column(self, values: Callable[[int], list[str]]) -> str:
        """The tiny config split by a predefined column ``official`` of its labels file."""
        lines = self.files["labels"].read_text().splitlines()
        column = values(len(lines) - 1)
        rows = [f"{lines[0]},official"]
        rows += [f"{a},{b}" for a, b in zip(lines[1:], column, strict=True)]
        labels = self.file("labels.csv", "\n".join(rows) + "\n")
        split = {"kind": "predefined", "column": "official"}
        return self.config(lambda r: (r["data"]["target"].update(path=labels),
                                      r["training"].update(split=split)))

    def run_copy(self, damage: Callable[[Path], object] | None = None) -> str:
        """A copy of the finished run, damaged by ``damage``."""
        run = self.tmp / "run"
        shutil.copytree(self.trained, run)
        if damage is not None:
            damage(run)
        return str(run)

    def data(self) -> list[str]:
        return [f"{m}={self.files[m]}" for m in ("clinical", "rna", "meth")]


def weights(run: Path) -> Path:
    return sorted((run / "models" / "mm").glob("*.safetensors"))[0]


def transforms(run: Path) -> Path:
    return sorted((run / "models" / "transforms").glob("*.safetensors"))[0]


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00not safetensors at all" * 10)


def edit_config(run: Path, edit: Callable[[dict], object]) -> None:
    raw = yaml.safe_load((run / "config.yaml").read_text())
    edit(raw)
    (run / "config.yaml").write_text(yaml.safe_dump(raw))


def wider(raw: dict) -> None:
    raw["models"]["mm"]["default_encoder"] = {"name": "mlp", "hidden": [33]}


def set_(path: str, value: object) -> Callable[[dict], None]:
    """An edit that sets the dotted key ``path`` of the config to ``value``."""

    def edit(raw: dict) -> None:
        *parents, last = path.split(".")
        node = raw
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value

    return edit


def png(mode: str = "L", size: int = 16) -> bytes:
    """A small PNG file's bytes (noise, so that it does not compress to nothing)."""
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def npz(**arrays: object) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def with_images(
    c: Ctx, files: dict[str, bytes], listed: str | None = None, models: dict | None = None
) -> str:
    """The tiny config plus an image modality listing ``files`` (ids ``S0001``... of the tiny
    cohort, whose other samples lack an image) in a CSV; ``models`` replace the config's."""
    for name, content in files.items():
        c.file(name, content)
    rows = listed or "".join(f"S{i + 1:04d},{name}\n" for i, name in enumerate(files))
    listing = c.file("images.csv", "id,file\n" + rows)
    return c.config(
        lambda r: (
            r["data"]["modalities"].update(extra={"kind": "image", "path": listing}),
            r["data"].update(missing_modality="keep"),
            models is not None and r.update(models=models),
        )
    )


TABLE = "id,a,b\ns1,1,2\ns2,3,4\n"
LONG = "x" * 300
INF_TABLE = "id,a\ns1,inf\n"


def _rename_key(section: str, old: str, new: str) -> Callable[[dict], None]:
    def edit(raw: dict) -> None:
        raw[section][new] = raw[section].pop(old)

    return edit


def _rename_modality(new: str) -> Callable[[dict], None]:
    def edit(raw: dict) -> None:
        mods = raw["data"]["modalities"]
        mods[new] = mods.pop("meth")

    return edit


def train(c: Ctx, cfg: str, out: str | None = None) -> list[str]:
    return ["train", cfg, "--out", out or str(c.tmp / "runs")]


# (id, argv builder, exit status, what the message must name)
CASES: list[tuple[str, Callable[[Ctx], list[str]], int, str]] = [
    # ---- config files
    ("config-missing", lambda c: ["train", str(c.tmp / "none.yaml")], 2, "none.yaml"),
    ("config-not-utf8", lambda c: train(c, c.file("c.yaml", b"name: \xff\xfe\n")), 2, "UTF-8"),
    ("config-latin1", lambda c: train(c, c.file("c.yaml", "name: caf\xe9\n".encode("latin-1"))), 2, "c.yaml"),  # noqa: E501
    ("config-yaml-syntax", lambda c: train(c, c.config(text="name: [x\n")), 2, "not valid YAML"),
    ("config-yaml-tab", lambda c: train(c, c.config(text="name: x\n\tdata: 1\n")), 2, "line"),
    ("config-duplicate-top", lambda c: train(c, c.config(text="name: a\nname: b\n")), 2, "'name' twice"),  # noqa: E501
    ("config-duplicate-nested", lambda c: train(c, c.config(text="training:\n  lr: 1\n  epochs: 2\n  lr: 2\n")), 2, "line 4"),  # noqa: E501
    ("config-a-list", lambda c: train(c, c.config(text="- 1\n- 2\n")), 2, "mapping"),
    ("config-empty", lambda c: train(c, c.config(text="")), 2, "mapping"),
    ("config-nothing-to-train", lambda c: train(c, c.config(lambda r: r.update(models={}, baselines=[]))), 2, "nothing to train"),  # noqa: E501
    ("config-unknown-key", lambda c: train(c, c.config(set_("trainng", {}))), 2, "trainng"),
    ("config-unknown-nested-key", lambda c: train(c, c.config(set_("training.lrr", 1))), 2, "training.lrr"),  # noqa: E501
    ("config-negative-lr", lambda c: train(c, c.config(set_("training.lr", -1))), 2, "training.lr"),
    ("config-zero-epochs", lambda c: train(c, c.config(set_("training.epochs", 0))), 2, "training.epochs"),  # noqa: E501
    ("config-lr-text", lambda c: train(c, c.config(set_("training.lr", "fast"))), 2, "training.lr"),
    ("config-one-fold", lambda c: train(c, c.config(set_("training.split.folds", 1))), 2, "folds"),
    ("config-val-fraction", lambda c: train(c, c.config(set_("training.val_fraction", 0.7))), 2, "val_fraction"),  # noqa: E501
    ("config-bad-run-name", lambda c: train(c, c.config(set_("name", "../up"))), 2, "name"),
    ("config-attributions-no-models", lambda c: train(c, c.config(set_("output", {"attributions": True, "save_models": False}))), 2, "save_models"),  # noqa: E501
    ("config-unknown-optimizer", lambda c: train(c, c.config(set_("training.optimizer", "adamz"))), 2, "adamz"),  # noqa: E501
    ("config-optimizer-unknown-option", lambda c: train(c, c.config(set_("training.optimizer_options", {"betaz": 1}))), 2, "betaz"),  # noqa: E501
    ("config-optimizer-option-type", lambda c: train(c, c.config(set_("training.optimizer_options", {"betas": "fast"}))), 2, "'betas'"),  # noqa: E501
    ("config-optimizer-option-length", lambda c: train(c, c.config(set_("training.optimizer_options", {"betas": [0.9]}))), 2, "'betas'"),  # noqa: E501
    ("config-optimizer-option-number", lambda c: train(c, c.config(set_("training.optimizer_options", {"eps": "tiny"}))), 2, "'eps'"),  # noqa: E501
    ("config-optimizer-lr-option", lambda c: train(c, c.config(set_("training.optimizer_options", {"lr": 1}))), 2, "'lr'"),  # noqa: E501
    ("config-unknown-schedule", lambda c: train(c, c.config(set_("training.schedule", {"name": "cosin"}))), 2, "cosin"),  # noqa: E501
    ("config-unknown-baseline", lambda c: train(c, c.config(set_("baselines", ["randm_forest"]))), 2, "randm_forest"),  # noqa: E501
    ("config-unknown-encoder", lambda c: train(c, c.config(set_("models.multimodule.encoders.rna", {"name": "mlpp"}))), 2, "mlpp"),  # noqa: E501
    ("config-encoder-option", lambda c: train(c, c.config(set_("models.multimodule.encoders.rna", {"name": "mlp", "hiden": [1]}))), 2, "hiden"),  # noqa: E501
    ("config-unknown-fusion", lambda c: train(c, c.config(set_("models.late.fusion", {"name": "lat"}))), 2, "lat"),  # noqa: E501
    ("config-unknown-kind", lambda c: train(c, c.config(set_("data.modalities.rna.kind", "tabel"))), 2, "tabel"),  # noqa: E501
    ("config-bad-task", lambda c: train(c, c.config(set_("data.target.task", "binar"))), 2, "task"),
    ("config-no-modalities", lambda c: train(c, c.config(set_("data.modalities", {}))), 2, "modalities"),  # noqa: E501
    ("config-path-and-dataset", lambda c: train(c, c.config(set_("data.modalities.rna.dataset", "x"))), 2, "dataset"),  # noqa: E501
    ("config-missing-modality-file", lambda c: train(c, c.config(set_("data.modalities.rna.path", str(c.tmp / "gone.csv")))), 2, "gone.csv"),  # noqa: E501
    ("config-missing-target-file", lambda c: train(c, c.config(set_("data.target.path", str(c.tmp / "nolabels.csv")))), 2, "nolabels.csv"),  # noqa: E501
    ("config-missing-target-column", lambda c: train(c, c.config(set_("data.target.column", "lable"))), 2, "lable"),  # noqa: E501
    ("config-unknown-split-kind", lambda c: train(c, c.config(set_("training.split", {"kind": "scafold"}))), 2, "'scafold'"),  # noqa: E501
    ("config-split-no-column", lambda c: train(c, c.config(set_("training.split", {"kind": "predefined"}))), 2, "'column'"),  # noqa: E501
    ("config-split-column-not-used", lambda c: train(c, c.config(set_("training.split", {"kind": "kfold", "column": "official"}))), 2, "'column'"),  # noqa: E501
    ("split-column-missing", lambda c: train(c, c.config(set_("training.split", {"kind": "predefined", "column": "official"}))), 2, "'official'"),  # noqa: E501
    ("split-column-unknown-value", lambda c: train(c, c.with_split_column(lambda n: ["train"] * (n - 1) + ["tset"])), 2, "'tset'"),  # noqa: E501
    ("split-column-no-test", lambda c: train(c, c.with_split_column(lambda n: ["train"] * n)), 2, "no test rows"),  # noqa: E501
    ("split-column-no-train", lambda c: train(c, c.with_split_column(lambda n: ["test"] * (n // 2) + ["val"] * (n - n // 2))), 2, "no train rows"),  # noqa: E501
    ("split-column-empty-value", lambda c: train(c, c.with_split_column(lambda n: ["train"] * (n - 1) + [""])), 2, "no value for sample"),  # noqa: E501
    ("split-scaffold-no-molecule", lambda c: train(c, c.config(set_("training.split", {"kind": "scaffold"}))), 2, "molecule modality"),  # noqa: E501
    # ---- names that would become paths
    ("name-model-dotdot", lambda c: train(c, c.config(_rename_key("models", "late", "../../x"))), 2, "'../../x'"),  # noqa: E501
    ("name-model-slash", lambda c: train(c, c.config(_rename_key("models", "late", "a/b"))), 2, "'a/b'"),  # noqa: E501
    ("name-model-absolute", lambda c: train(c, c.config(_rename_key("models", "late", "/tmp/x"))), 2, "'/tmp/x'"),  # noqa: E501
    ("name-model-dot", lambda c: train(c, c.config(_rename_key("models", "late", "rna.seq"))), 2, "'rna.seq'"),  # noqa: E501
    ("name-model-hidden", lambda c: train(c, c.config(_rename_key("models", "late", ".x"))), 2, "'.x'"),  # noqa: E501
    ("name-model-long", lambda c: train(c, c.config(_rename_key("models", "late", LONG))), 2, "model name"),  # noqa: E501
    ("name-modality-dot", lambda c: train(c, c.config(_rename_modality("rna.seq"))), 2, "'rna.seq'"),  # noqa: E501
    ("name-modality-dotdot", lambda c: train(c, c.config(_rename_modality("../m"))), 2, "'../m'"),
    ("name-modality-space", lambda c: train(c, c.config(_rename_modality("my data"))), 2, "'my data'"),  # noqa: E501
    ("name-encoder-key-dot", lambda c: train(c, c.config(set_("models.late.encoders", {"a.b": {"name": "mlp"}}))), 2, "'a.b'"),  # noqa: E501
    # ---- tables
    ("table-short-row", lambda c: train(c, c.with_table("rna", "id,a,b\ns1,1,2\ns2,3\n")), 2, "line 3"),  # noqa: E501
    ("table-long-row", lambda c: train(c, c.with_table("rna", "id,a,b\ns1,1,2,5\ns2,3,4\n")), 2, "rna.csv"),  # noqa: E501
    ("table-inf", lambda c: train(c, c.with_table("rna", "id,a,b\ns1,1,inf\ns2,3,4\n")), 2, "column 'b'"),  # noqa: E501
    ("table-minus-inf", lambda c: train(c, c.with_table("rna", "id,a,b\ns1,-inf,1\ns2,3,4\n")), 2, "column 'a'"),  # noqa: E501
    ("table-overflow", lambda c: train(c, c.with_table("rna", "id,a,b\ns1,1e400,1\ns2,3,4\n")), 2, "column 'a'"),  # noqa: E501
    ("table-text-value", lambda c: train(c, c.with_table("rna", "id,a,b\ns1,1,high\ns2,3,4\n")), 2, "'high'"),  # noqa: E501
    ("table-duplicate-ids", lambda c: train(c, c.with_table("rna", "id,a,b\ns1,1,2\ns1,3,4\n")), 2, "s1"),  # noqa: E501
    ("table-duplicate-features", lambda c: train(c, c.with_table("rna", "id,a,a\ns1,1,2\ns2,3,4\n")), 2, "'a'"),  # noqa: E501
    ("table-empty", lambda c: train(c, c.with_table("rna", "id,a\n")), 2, "empty"),
    ("table-zero-bytes", lambda c: train(c, c.with_table("rna", "")), 2, "rna.csv"),
    ("table-all-missing-feature", lambda c: train(c, c.with_table("rna", "id,a,b\ns1,1,\ns2,3,\n")), 2, "'b'"),  # noqa: E501
    ("table-missing-id", lambda c: train(c, c.with_table("rna", "id,a\n,1\ns2,3\n")), 2, "sample id"),  # noqa: E501
    ("table-not-utf8", lambda c: train(c, c.config(set_("data.modalities.rna.path", c.file("rna.csv", b"id,a\n\xff\xfe,1\n")))), 2, "rna.csv"),  # noqa: E501
    ("table-binary", lambda c: train(c, c.config(set_("data.modalities.rna.path", c.file("rna.csv", bytes(range(256)))))), 2, "rna.csv"),  # noqa: E501
    ("table-no-shared-samples", lambda c: train(c, c.with_table("rna", "id,a\nq1,1\nq2,3\n")), 2, "rna"),  # noqa: E501
    ("table-bad-parquet", lambda c: train(c, c.config(set_("data.modalities.rna.path", c.file("rna.parquet", "not parquet")))), 2, "rna.parquet"),  # noqa: E501
    ("table-bad-h5ad", lambda c: train(c, c.config(set_("data.modalities.rna.path", c.file("rna.h5ad", "not hdf5")))), 2, "rna.h5ad"),  # noqa: E501
    ("table-unknown-suffix", lambda c: train(c, c.config(set_("data.modalities.rna.path", c.file("rna.xlsx", "x")))), 2, "rna.xlsx"),  # noqa: E501
    ("labels-inf", lambda c: train(c, c.config(set_("data.target.path", c.file("labels.csv", "id,label\ns1,inf\n")))), 2, "labels.csv"),  # noqa: E501
    ("labels-short-row", lambda c: train(c, c.config(set_("data.target.path", c.file("labels.csv", "id,label,x\ns1\n")))), 2, "labels.csv"),  # noqa: E501
    # ---- the other modality kinds
    ("fasta-bad-letter", lambda c: train(c, c.with_modality({"kind": "sequence"}, "p.fasta", ">s1\nACGT\n>s2\nAC1T\n")), 2, "p.fasta"),  # noqa: E501
    ("fasta-empty", lambda c: train(c, c.with_modality({"kind": "sequence"}, "p.fasta", "")), 2, "p.fasta"),  # noqa: E501
    ("fasta-no-header", lambda c: train(c, c.with_modality({"kind": "sequence"}, "p.fasta", "ACGT\n")), 2, "p.fasta"),  # noqa: E501
    ("fasta-duplicate-id", lambda c: train(c, c.with_modality({"kind": "sequence"}, "p.fasta", ">s1\nAC\n>s1\nGT\n")), 2, "s1"),  # noqa: E501
    ("fasta-not-utf8", lambda c: train(c, c.config(lambda r: r["data"]["modalities"].update(extra={"kind": "sequence", "path": c.file("p.fasta", b">s1\n\xff\xfe\n")}))), 2, "p.fasta"),  # noqa: E501
    ("sequence-csv-no-column", lambda c: train(c, c.with_modality({"kind": "sequence", "sequence": {"column": "seq"}}, "p.csv", "id,x\ns1,AC\n")), 2, "seq"),  # noqa: E501
    ("sequence-unknown-option", lambda c: train(c, c.with_modality({"kind": "sequence", "sequence": {"alphabett": "dna"}}, "p.fasta", ">s1\nAC\n")), 2, "alphabett"),  # noqa: E501
    ("series-no-time-column", lambda c: train(c, c.with_modality({"kind": "series", "series": {"time_column": "day"}}, "v.csv", "id,t,a\ns1,0,1\n")), 2, "day"),  # noqa: E501
    ("series-text-time", lambda c: train(c, c.with_modality({"kind": "series"}, "v.csv", "id,day,a\ns1,soon,1\n")), 2, "v.csv"),  # noqa: E501
    ("series-empty", lambda c: train(c, c.with_modality({"kind": "series"}, "v.csv", "")), 2, "v.csv"),  # noqa: E501
    ("series-inf", lambda c: train(c, c.with_modality({"kind": "series"}, "v.csv", "id,day,a\ns1,0,inf\ns1,1,2\n")), 2, "v.csv"),  # noqa: E501
    ("series-short-row", lambda c: train(c, c.with_modality({"kind": "series"}, "v.csv", "id,day,a\ns1,0\ns1,1,2\n")), 2, "v.csv"),  # noqa: E501
    ("molecule-bad-smiles", lambda c: train(c, c.with_modality({"kind": "molecule"}, "m.csv", "id,smiles\ns1,CCO\ns2,C1CC(\n")), 2, "s2"),  # noqa: E501
    ("molecule-empty", lambda c: train(c, c.with_modality({"kind": "molecule"}, "m.csv", "")), 2, "m.csv"),  # noqa: E501
    ("molecule-no-column", lambda c: train(c, c.with_modality({"kind": "molecule", "molecule": {"column": "smi"}}, "m.csv", "id,smiles\ns1,CCO\n")), 2, "smi"),  # noqa: E501
    ("molecule-dataset", lambda c: train(c, c.config(lambda r: r["data"]["modalities"].update(extra={"kind": "molecule", "dataset": "gse7390"}))), 2, "path"),  # noqa: E501
    ("image-truncated-png", lambda c: train(c, with_images(c, {"a.png": png(), "b.png": png()[:200]})), 2, "b.png"),  # noqa: E501
    ("image-not-an-image", lambda c: train(c, with_images(c, {"a.png": b"no pixels here"})), 2, "a.png"),  # noqa: E501
    ("image-truncated-tiff", lambda c: train(c, with_images(c, {"a.tif": b"II*\x00\x08\x00\x00\x00\x0e"})), 2, "a.tif"),  # noqa: E501
    ("image-mixed-channels", lambda c: train(c, with_images(c, {"a.png": png(), "b.png": png("RGB")})), 2, "b.png"),  # noqa: E501
    ("image-missing-file", lambda c: train(c, with_images(c, {"a.png": png()}, "s0,a.png\ns1,gone.png\n")), 2, "gone.png"),  # noqa: E501
    ("image-sizes-differ", lambda c: train(c, with_images(c, {f"{i}.png": png(size=8 + i % 2) for i in range(12)})), 2, "several sizes"),  # noqa: E501
    ("image-list-no-file-column", lambda c: train(c, c.with_modality({"kind": "image", "image": {"file_column": "img"}}, "images.csv", "id,file\ns0,a.png\n")), 2, "images.csv"),  # noqa: E501
    ("image-npz-no-ids", lambda c: train(c, c.config(lambda r: r["data"]["modalities"].update(extra={"kind": "image", "path": c.file("i.npz", npz(values=np.zeros((2, 1, 4, 4))))}))), 2, "i.npz"),  # noqa: E501
    ("image-npz-3d-values", lambda c: train(c, c.config(lambda r: r["data"]["modalities"].update(extra={"kind": "image", "path": c.file("i.npz", npz(values=np.zeros((2, 1, 4, 4, 1)), ids=np.array(["s0", "s1"])))}))), 2, "i.npz"),  # noqa: E501
    ("image-crops-no-mask-file", lambda c: train(c, c.config(lambda r: r["data"]["modalities"].update(extra={"kind": "image", "path": c.file("big.png", png()), "image": {"mask": str(c.tmp / "mask.png")}}))), 2, "mask.png"),  # noqa: E501
    ("image-table-format", lambda c: train(c, c.with_modality({"kind": "image", "format": "csv"}, "images.csv", "id,file\n")), 2, "image.format"),  # noqa: E501
    ("image-dataset-with-mask", lambda c: train(c, c.config(lambda r: r["data"]["modalities"].update(extra={"kind": "image", "dataset": "nuclei/images", "image": {"mask": "m.tif"}}))), 2, "image.mask"),  # noqa: E501
    ("image-smaller-than-a-patch", lambda c: train(c, with_images(c, {f"{i}.png": png(size=8) for i in range(6)}, models={"m": {"encoders": {"extra": {"name": "vit", "patch": 16}}}})), 2, "modality 'extra'"),  # noqa: E501
    ("image-unknown-resize", lambda c: train(c, c.with_modality({"kind": "image", "image": {"resize": "stretch"}}, "images.csv", "id,file\n")), 2, "image.resize"),  # noqa: E501
    # ---- output locations of train
    ("train-out-is-file", lambda c: train(c, c.config(), c.file("runs", "x")), 2, "runs"),
    ("train-out-under-file", lambda c: train(c, c.config(), str(Path(c.file("f", "x")) / "runs")), 2, "f/runs"),  # noqa: E501
    ("train-out-too-long", lambda c: train(c, c.config(), str(c.tmp / LONG)), 2, LONG[:40]),
    # ---- predict
    ("predict-no-run", lambda c: ["predict", str(c.tmp / "norun"), *c.data()], 2, "norun"),
    ("predict-not-a-run", lambda c: ["predict", str(c.tmp), *c.data()], 2, "not a biozoo run"),
    ("predict-out-is-folder", lambda c: ["predict", c.run_copy(), *c.data(), "--out", str(c.tmp)], 2, "--out"),  # noqa: E501
    ("predict-out-under-file", lambda c: ["predict", c.run_copy(), *c.data(), "--out", str(Path(c.file("f", "x")) / "p.csv")], 2, "p.csv"),  # noqa: E501
    ("predict-out-no-folder", lambda c: ["predict", c.run_copy(), *c.data(), "--out", str(c.tmp / "no" / "p.csv")], 2, "no/p.csv"),  # noqa: E501
    ("predict-out-too-long", lambda c: ["predict", c.run_copy(), *c.data(), "--out", str(c.tmp / LONG)], 2, LONG[:40]),  # noqa: E501
    ("predict-data-yaml-syntax", lambda c: ["predict", c.run_copy(), c.file("d.yaml", "data: [x\n")], 2, "d.yaml"),  # noqa: E501
    ("predict-data-yaml-duplicate", lambda c: ["predict", c.run_copy(), c.file("d.yaml", "modalities:\n  a: {path: x}\n  a: {path: y}\n")], 2, "'a' twice"),  # noqa: E501
    ("predict-data-yaml-not-utf8", lambda c: ["predict", c.run_copy(), c.file("d.yaml", b"modalities: \xff\n")], 2, "UTF-8"),  # noqa: E501
    ("predict-data-yaml-no-path", lambda c: ["predict", c.run_copy(), c.file("d.yaml", "modalities:\n  rna: {}\n")], 2, "rna"),  # noqa: E501
    ("predict-data-yaml-missing", lambda c: ["predict", c.run_copy(), str(c.tmp / "d.yaml")], 2, "d.yaml"),  # noqa: E501
    ("predict-data-not-pair", lambda c: ["predict", c.run_copy(), "rna.csv"], 2, "'rna.csv'"),
    ("predict-data-missing-file", lambda c: ["predict", c.run_copy(), *c.data()[::2], f"rna={c.tmp / 'gone.csv'}"], 2, "gone.csv"),  # noqa: E501
    ("predict-data-inf", lambda c: ["predict", c.run_copy(), *c.data()[:2], "meth=" + c.file("m.csv", INF_TABLE)], 2, "m.csv"),  # noqa: E501
    ("predict-unknown-model", lambda c: ["predict", c.run_copy(), *c.data(), "--model", "nope"], 2, "nope"),  # noqa: E501
    ("predict-model-path", lambda c: ["predict", c.run_copy(), *c.data(), "--model", "../../x"], 2, "../../x"),  # noqa: E501
    ("predict-split-path", lambda c: ["predict", c.run_copy(), *c.data(), "--split", "../x"], 2, "../x"),  # noqa: E501
    ("predict-unknown-backend", lambda c: ["predict", c.run_copy(), *c.data(), "--backend", "fp4"], 2, "fp4"),  # noqa: E501
    ("predict-weights-truncated", lambda c: ["predict", c.run_copy(lambda r: truncate(weights(r))), *c.data()], 2, "safetensors"),  # noqa: E501
    ("predict-weights-garbage", lambda c: ["predict", c.run_copy(lambda r: garbage(weights(r))), *c.data()], 2, "safetensors"),  # noqa: E501
    ("predict-transforms-truncated", lambda c: ["predict", c.run_copy(lambda r: truncate(transforms(r))), *c.data()], 2, "transforms"),  # noqa: E501
    ("predict-transforms-garbage", lambda c: ["predict", c.run_copy(lambda r: garbage(transforms(r))), *c.data()], 2, "transforms"),  # noqa: E501
    ("predict-config-edited", lambda c: ["predict", c.run_copy(lambda r: edit_config(r, wider)), *c.data()], 2, "config.yaml"),  # noqa: E501
    ("predict-config-gone", lambda c: ["predict", c.run_copy(lambda r: (r / "config.yaml").unlink()), *c.data()], 2, "config.yaml"),  # noqa: E501
    ("predict-config-not-yaml", lambda c: ["predict", c.run_copy(lambda r: (r / "config.yaml").write_text("a: [")), *c.data()], 2, "config.yaml"),  # noqa: E501
    ("predict-config-duplicate", lambda c: ["predict", c.run_copy(lambda r: (r / "config.yaml").write_text((r / "config.yaml").read_text() + "name: again\n")), *c.data()], 2, "'name' twice"),  # noqa: E501
    # ---- explain
    ("explain-no-run", lambda c: ["explain", str(c.tmp / "norun")], 2, "norun"),
    ("explain-unknown-method", lambda c: ["explain", c.run_copy(), "--method", "shapp"], 2, "shapp"),  # noqa: E501
    ("explain-unknown-model", lambda c: ["explain", c.run_copy(), "--model", "nope"], 2, "nope"),
    ("explain-weights-truncated", lambda c: ["explain", c.run_copy(lambda r: truncate(weights(r)))], 2, "safetensors"),  # noqa: E501
    ("explain-transforms-garbage", lambda c: ["explain", c.run_copy(lambda r: garbage(transforms(r)))], 2, "transforms"),  # noqa: E501
    ("explain-config-edited", lambda c: ["explain", c.run_copy(lambda r: edit_config(r, wider))], 2, "config.yaml"),  # noqa: E501
    # ---- export
    ("export-no-int8", lambda c: ["export", c.run_copy()], 2, "--int8"),
    ("export-no-run", lambda c: ["export", str(c.tmp / "norun"), "--int8"], 2, "norun"),
    ("export-weights-truncated", lambda c: ["export", c.run_copy(lambda r: truncate(weights(r))), "--int8"], 2, "safetensors"),  # noqa: E501
    ("export-weights-garbage", lambda c: ["export", c.run_copy(lambda r: garbage(weights(r))), "--int8"], 2, "safetensors"),  # noqa: E501
    ("export-transforms-truncated", lambda c: ["export", c.run_copy(lambda r: truncate(transforms(r))), "--int8"], 2, "transforms"),  # noqa: E501
    ("export-config-edited", lambda c: ["export", c.run_copy(lambda r: edit_config(r, wider)), "--int8"], 2, "config.yaml"),  # noqa: E501
    ("export-out-is-file", lambda c: ["export", c.run_copy(), "--int8", "--out", c.file("e", "x")], 2, "e"),  # noqa: E501
    # ---- report
    ("report-no-run", lambda c: ["report", str(c.tmp / "norun")], 2, "norun"),
]


@pytest.fixture(scope="session")
def trained(tiny_files, tmp_path_factory) -> Path:
    """One tiny finished run (a single model, two folds, one member, two epochs)."""
    raw = copy.deepcopy(tiny_raw(tiny_files))
    raw["models"] = {"mm": {}}
    raw["baselines"] = []
    raw["training"].update(epochs=2, ensemble=1, split={"kind": "kfold", "folds": 2})
    raw["output"] = {"report": False, "latents": False}
    return biozoo.run(biozoo.parse_config(raw), out_dir=tmp_path_factory.mktemp("trained")).path


def _tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")}


@pytest.mark.parametrize(("case", "argv", "code", "culprit"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_sentence(case, argv, code, culprit, tiny_files, trained, tmp_path):
    ctx = Ctx(tmp_path / "case", tiny_files, trained)
    ctx.tmp.mkdir()
    args = argv(ctx)
    before = _tree(ctx.tmp)
    result = runner.invoke(app, args)
    output = result.output.replace("\n", " ")
    assert result.exit_code == code, output
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    assert "Traceback" not in result.output
    assert "error:" in output and culprit in output.replace("  ", " "), output
    assert _tree(ctx.tmp) == before, "something was left behind"


def test_the_corpus_covers_every_command_and_kind():
    assert len(CASES) >= 80
    commands = {argv for _, argv, _, _ in CASES}
    assert len(commands) == len(CASES)
    ids = " ".join(c[0] for c in CASES)
    for word in ("train", "predict", "explain", "export", "report", "fasta", "series",
                 "molecule", "image", "table", "config", "split"):  # fmt: skip
        assert word in ids, word
