"""Latent spaces without labels: biozoo's VAE against PCA and scvi-tools' SCVI on PBMC 68k
reduced, and the multi-omics VAE against PCA on the simulated cohort.

Question: does an unsupervised latent space hold the cell type (or the simulated class)?
Every latent is learned without labels (the VAEs run with ``supervised: false``, so the head
is a probe on a detached latent and the labels never shape it). It is then scored on each
fold's held-out samples: the accuracy of a 15-nearest-neighbour classifier fitted on the
fold's training samples' latents, and the silhouette of the held-out latents by label.

Data.
- pbmc68k_reduced (bundled; 700 cells x 765 genes, 10 ``bulk_labels``). scanpy ships its
  log-normalised values, not raw counts. Counts are recovered as
  ``round(expm1(x) / min_nonzero_of_the_cell)`` (the smallest non-zero value of a cell is one
  count; the mean distance of the ratios to an integer is 0.0003). SCVI and the negative
  binomial VAE read these counts; PCA and the Gaussian VAE read the log-normalised values
  (standardised per gene on each fold's training cells, as PCA's input is).
- simulated (bundled; 200 samples, RNA-seq counts (500) and methylation (1000), binary
  label): the VAE joins both (negative binomial for the counts, Gaussian for the
  standardised methylation) by product of experts; PCA reads both standardised tables.

Folds: ``biozoo.data.splits.make_splits`` (5-fold stratified, seed 0), the same for every
method; biozoo's runs use the same splitter and seed and the script checks their folds are
these. Each method runs in its own process, so its wall time (all 5 folds) and peak memory
(the process's maximum resident set, Python and torch included) are its own.

    OMP_NUM_THREADS=1 python benchmarks/latent.py
    OMP_NUM_THREADS=1 python benchmarks/latent.py --only pbmc/pca pbmc/vae_gaussian \
        --name latent_gaussian     # a reduced run: some methods, its own result files

A reduced run (``--only``) writes ``<name>.md`` and ``<name>.json`` and says in its title
which methods it ran; the full run writes ``latent.md`` and ``latent.json``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402

from biozoo.data.sources.datasets import dataset_table, dataset_target  # noqa: E402
from biozoo.data.splits import make_splits  # noqa: E402

COMMAND = "OMP_NUM_THREADS=1 python benchmarks/latent.py"
RESULTS = Path(__file__).parent / "results"
LATENT_DIM = 10
K = 15
FOLDS = 5
EPOCHS = 100
ENCODER = {"name": "mlp", "hidden": [128], "out_dim": 64, "dropout": 0.1, "norm": "batch"}

METHODS = {
    "pbmc": ["pca", "vae_nb", "vae_gaussian", "scvi"],
    "simulated": ["pca", "vae_multiomics"],
}
LABELS = {
    "pca": "PCA (10 components)",
    "vae_nb": "biozoo VAE, negative binomial on counts",
    "vae_gaussian": "biozoo VAE, Gaussian on standardised log-normalised values",
    "vae_multiomics": "biozoo multi-omics VAE (NB RNA + Gaussian methylation, PoE)",
    "scvi": "scvi-tools SCVI on counts",
}


# -- data and folds ---------------------------------------------------------------------------


def prepare(work: Path) -> None:
    """Write every table, the labels and the folds that the methods read."""
    x = dataset_table("pbmc68k_reduced/rna").astype(np.float64)
    e = np.expm1(x.to_numpy())
    unit = np.where(e > 0, e, np.inf).min(axis=1, keepdims=True)
    counts = pd.DataFrame(np.round(e / unit), index=x.index, columns=x.columns)
    x.to_csv(work / "pbmc_lognorm.csv", index_label="sample_id")
    counts.to_csv(work / "pbmc_counts.csv", index_label="sample_id")
    labels = dataset_target("pbmc68k_reduced", "bulk_labels").rename("label")
    labels.to_frame().to_csv(work / "pbmc_labels.csv", index_label="sample_id")
    for table in ("rna", "meth"):
        dataset_table(f"simulated/{table}").to_csv(
            work / f"simulated_{table}.csv", index_label="sample_id"
        )
    sim = dataset_target("simulated", "label").rename("label")
    sim.to_frame().to_csv(work / "simulated_labels.csv", index_label="sample_id")
    folds = {}
    for name, y in (("pbmc", labels), ("simulated", sim)):
        codes = pd.factorize(y.astype(str), sort=True)[0]
        splits = make_splits(codes, stratify=codes, kind="kfold", folds=FOLDS, seed=0)
        folds[name] = {
            "ids": [str(i) for i in y.index],
            "folds": [(s.name, s.train.tolist(), s.test.tolist()) for s in splits],
        }
    (work / "folds.json").write_text(json.dumps(folds))


def scores(z_train, y_train, z_test, y_test) -> dict[str, float]:
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=K).fit(z_train, y_train)
    return {
        "knn_accuracy": float((knn.predict(z_test) == y_test).mean()),
        "silhouette": float(silhouette_score(z_test, y_test)),
    }


# -- methods (each in its own process) --------------------------------------------------------


def run_pca(work: Path, dataset: str, folds: dict) -> list[dict[str, float]]:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    tables = ["pbmc_lognorm"] if dataset == "pbmc" else ["simulated_rna", "simulated_meth"]
    ids = folds["ids"]
    frames = [pd.read_csv(work / f"{t}.csv", index_col=0).loc[ids] for t in tables]
    if dataset == "simulated":  # counts on a log scale, as the VAE's encoder reads them
        frames[0] = np.log1p(frames[0])
    x = pd.concat(frames, axis=1).to_numpy(np.float64)
    y = _labels(work, dataset, ids)
    out = []
    for _, train, test in folds["folds"]:
        scale = StandardScaler().fit(x[train])
        pca = PCA(LATENT_DIM, random_state=0).fit(scale.transform(x[train]))
        z_train, z_test = (
            pca.transform(scale.transform(x[train])),
            pca.transform(scale.transform(x[test])),
        )
        out.append(scores(z_train, y[train], z_test, y[test]))
    return out


def _vae_config(work: Path, method: str) -> dict:
    scaled = {"scale": True, "log1p": False}
    counts = {"scale": False, "log1p": False}
    if method == "vae_multiomics":
        modalities = {
            "rna": {"path": str(work / "simulated_rna.csv"), "transforms": counts},
            "meth": {"path": str(work / "simulated_meth.csv"), "transforms": scaled},
        }
        likelihood, labels = {"rna": "nb"}, work / "simulated_labels.csv"
        task, batch = "binary", 32
    elif method == "vae_gaussian":
        modalities = {"rna": {"path": str(work / "pbmc_lognorm.csv"), "transforms": scaled}}
        likelihood, labels = {"rna": "gaussian"}, work / "pbmc_labels.csv"
        task, batch = "multiclass", 128
    else:
        modalities = {"rna": {"path": str(work / "pbmc_counts.csv"), "transforms": counts}}
        likelihood, labels = {"rna": "nb"}, work / "pbmc_labels.csv"
        task, batch = "multiclass", 128
    objective = {
        "name": "vae",
        "latent_dim": LATENT_DIM,
        "decoder_hidden": [128],
        "likelihood": likelihood,
        "supervised": False,
    }
    return {
        "name": method,
        "data": {
            "modalities": modalities,
            "target": {"path": str(labels), "task": task, "column": "label"},
        },
        "models": {"vae": {"default_encoder": ENCODER, "objective": objective}},
        "training": {
            "epochs": EPOCHS,
            "patience": 20,
            "batch_size": batch,
            "lr": 1e-3,
            "ensemble": 1,
            "seed": 0,
            "split": {"kind": "kfold", "folds": FOLDS},
        },
        "baselines": [],
        "output": {"report": False, "save_models": False},
    }


def run_vae(work: Path, dataset: str, folds: dict, method: str) -> list[dict[str, float]]:
    from biozoo.api import parse_config
    from biozoo.train.run import train

    result = train(parse_config(_vae_config(work, method)), out_dir=work / "runs")
    splits = pd.read_csv(result.path / "splits.csv", dtype={"sample_id": str})
    ids = folds["ids"]
    latents = pd.read_csv(result.path / "latents" / "vae" / "fused.csv", dtype={"sample_id": str})
    y = pd.Series(_labels(work, dataset, ids), index=ids)
    out = []
    for name, train_pos, test_pos in folds["folds"]:
        ours = splits[(splits["split"] == name) & (splits["part"] == "test")]["sample_id"]
        assert set(ours) == {ids[i] for i in test_pos}, f"biozoo's fold {name} differs"
        lat = latents[(latents["split"] == name) & (latents["member"] == 0)]
        z = lat.set_index("sample_id")[[f"z{j}" for j in range(LATENT_DIM)]]
        tr = [ids[i] for i in train_pos]
        te = [ids[i] for i in test_pos]
        out.append(scores(z.loc[tr].to_numpy(), y[tr].to_numpy(), z.loc[te].to_numpy(), y[te]))
    for fold, summary in zip(out, result.metrics["training"]["vae"], strict=True):
        fold["epochs"] = summary["epochs_run"]
    board = result.leaderboard.set_index("method")
    recon = [c for c in board.columns if c.startswith("recon_") and c.endswith("_mean")]
    for c in recon:
        out[0][c] = float(board.loc["vae", c])  # the run's mean over folds, kept once
    return out


def run_scvi(work: Path, dataset: str, folds: dict) -> list[dict[str, float]]:
    import anndata
    import scvi

    scvi.settings.seed = 0
    scvi.settings.num_threads = 1
    ids = folds["ids"]
    counts = pd.read_csv(work / "pbmc_counts.csv", index_col=0).loc[ids]
    y = _labels(work, dataset, ids)
    out = []
    for _, train, test in folds["folds"]:
        a_train = anndata.AnnData(counts.iloc[train].to_numpy(np.float32))
        a_test = anndata.AnnData(counts.iloc[test].to_numpy(np.float32))
        scvi.model.SCVI.setup_anndata(a_train)
        model = scvi.model.SCVI(a_train, n_latent=LATENT_DIM, n_hidden=128, n_layers=1)
        model.train(
            max_epochs=EPOCHS,
            batch_size=128,
            early_stopping=True,
            early_stopping_patience=20,
            accelerator="cpu",
            enable_progress_bar=False,
        )
        scvi.model.SCVI.setup_anndata(a_test)
        z_train = model.get_latent_representation(a_train)
        z_test = model.get_latent_representation(a_test)
        out.append(scores(z_train, y[train], z_test, y[test]))
        out[-1]["epochs"] = len(model.history["elbo_train"])
    return out


def _labels(work: Path, dataset: str, ids: list[str]) -> np.ndarray:
    frame = pd.read_csv(work / f"{dataset}_labels.csv", index_col=0, dtype={"sample_id": str})
    frame.index = frame.index.astype(str)
    return frame.loc[ids, "label"].astype(str).to_numpy()


def one(work: Path, dataset: str, method: str) -> None:
    """Run one method on every fold; print its scores, wall time and peak memory as JSON."""
    import logging

    logging.disable(logging.WARNING)
    folds = json.loads((work / "folds.json").read_text())[dataset]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    t0 = time.perf_counter()
    if method == "pca":
        per_fold = run_pca(work, dataset, folds)
    elif method == "scvi":
        per_fold = run_scvi(work, dataset, folds)
    else:
        per_fold = run_vae(work, dataset, folds, method)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    peak_mb = usage.ru_maxrss / 1024
    print(
        json.dumps(
            {"per_fold": per_fold, "seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak_mb}
        )
    )


# -- driver -----------------------------------------------------------------------------------


def main(only: list[str] | None = None, name: str = "latent") -> None:
    """Run every method (or the ``dataset/method`` pairs of ``only``) and write ``name``'s
    result files."""
    results: dict[str, dict[str, object]] = {}
    chosen = {d: [m for m in ms if only is None or f"{d}/{m}" in only] for d, ms in METHODS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare(work)
        for dataset, methods in chosen.items():
            for method in methods:
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", str(work), dataset, method],
                    capture_output=True,
                    text=True,
                    env=env,
                )
                if proc.returncode != 0:
                    why = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"
                    results[f"{dataset}/{method}"] = {"error": why}
                    print(f"{dataset}/{method}: failed: {why}", file=sys.stderr)
                    continue
                results[f"{dataset}/{method}"] = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"{dataset}/{method}: {results[f'{dataset}/{method}']['seconds']:.0f} s",
                      file=sys.stderr)  # fmt: skip
    info = machine()
    RESULTS.mkdir(exist_ok=True)
    command = COMMAND + (f" --only {' '.join(only)} --name {name}" if only else "")
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"command": command, "machine": info, "results": results}, indent=1)
    )
    (RESULTS / f"{name}.md").write_text(render(results, info, chosen, command))


def _mean_sd(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def render(
    results: dict[str, dict[str, object]],
    info: dict[str, object],
    chosen: dict[str, list[str]] | None = None,
    command: str = COMMAND,
) -> str:
    chosen = METHODS if chosen is None else chosen
    title = "# Latent spaces without labels: biozoo's VAE, PCA and scvi-tools' SCVI"
    if chosen != METHODS:
        ran = ", ".join(LABELS[m] for ms in chosen.values() for m in ms)
        title = f"# Latent spaces without labels, a reduced run: {ran}"
    lines = [
        title,
        "",
        f"Command: `{command}`. What and how: see the script's docstring. Each latent has "
        f"{LATENT_DIM} dimensions and is learned without labels; scores are on each fold's "
        f"held-out samples: {K}-NN accuracy (fitted on the fold's training latents) and the "
        f"silhouette by label. Mean ± sd over the {FOLDS} folds (5-fold stratified, seed 0, "
        "the same folds for every method). Time: wall and CPU seconds for all folds, one "
        "process per method, 1 thread (on a shared machine the wall time includes waiting for "
        "a core; the CPU time does not); peak memory: that process's maximum resident set "
        "(Python and torch included).",
        "",
        f"biozoo VAE: encoder {ENCODER}, decoder [128], one member, AdamW lr 1e-3, at most "
        f"{EPOCHS} epochs, early stopping (patience 20) on a 20% inner validation split. "
        f"SCVI: n_hidden 128, one layer, at most {EPOCHS} epochs, its own early stopping "
        "(patience 20), batch 128. No tuning of either.",
        "",
    ]
    for dataset, heading in (("pbmc", "PBMC 68k reduced, cell type"), ("simulated", "simulated")):
        if not chosen.get(dataset):
            continue
        lines += [f"## {heading}", ""]
        rows = []
        for method in chosen[dataset]:
            r = results.get(f"{dataset}/{method}", {})
            if "error" in r:
                rows.append([LABELS[method], "failed: " + str(r["error"])[:80], "", "", ""])
                continue
            per = r["per_fold"]
            epochs = [p["epochs"] for p in per if "epochs" in p]
            rows.append(
                [
                    LABELS[method],
                    _mean_sd([p["knn_accuracy"] for p in per]),
                    _mean_sd([p["silhouette"] for p in per]),
                    f"{r['seconds']:.0f}",
                    f"{r['cpu_seconds']:.0f}",
                    f"{r['peak_mb']:.0f}",
                    ", ".join(str(e) for e in epochs) or "-",
                ]
            )
        header = [
            "method",
            f"{K}-NN accuracy",
            "silhouette",
            "wall (s)",
            "CPU (s)",
            "peak memory (MB)",
            "epochs per fold",
        ]
        lines += [markdown_table(header, rows), ""]
        for method in chosen[dataset]:
            per = results.get(f"{dataset}/{method}", {}).get("per_fold") or [{}]
            recon = {k: round(v, 4) for k, v in per[0].items() if k.startswith("recon_")}
            if recon:
                lines.append(f"- {LABELS[method]}: held-out reconstruction {recon}")
        lines.append("")
    lines += ["Machine:", "", machine_lines(info), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        one(Path(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        import argparse

        pairs = [f"{d}/{m}" for d, ms in METHODS.items() for m in ms]
        parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
        parser.add_argument("--only", nargs="+", choices=pairs, help="dataset/method pairs")
        parser.add_argument("--name", default=None, help="result files' name (with --only)")
        args = parser.parse_args()
        if args.only and args.name in (None, "latent"):
            parser.error("a reduced run (--only) needs its own --name, not the full table's")
        main(args.only, args.name or "latent")
