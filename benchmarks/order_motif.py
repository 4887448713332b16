"""Does a sequence encoder learn word ORDER on small data? The order-motif peptides.

160 peptides (12-30 residues) of a 17-letter alphabet (no R, W, K), each with a 4-residue
insert at a random position: ``RWKW`` in the positives, ``WKWR`` in the negatives
(:func:`biozoo.data.sources.order_motif.order_motif_peptides`). Both classes have the same
composition; the two inserts are each other's reverse.

Three parts; the first two on the same 3 stratified folds (seed 0):

- ``cv``: one normal biozoo run (``biozoo.run``, residues as tokens, default training,
  ensembles of 2) of every sequence encoder, the transformer with its previous defaults
  written out (``stem: none``) beside its current ones, and logistic regression and a random
  forest on amino-acid composition (which must stay at chance).
- ``diagnose``: the transformer trained by hand (the training defaults: AdamW, lr 1e-3,
  batch 32, gradient clip 1, early stopping on 20 % of the training part, patience 20; one
  model per fold and seed, 2 seeds, AUC of their mean) under one change at a time, and what
  the model looks like inside: norms of token embeddings and positions, attention entropy,
  training and test accuracy along training.
- ``amp``: no loss elsewhere? The antimicrobial peptide protocol of
  ``benchmarks/sequence_protocols.py`` (same training: 5-fold CV, ensembles of 3, at most 60
  epochs, patience 8, batch 64) on a stratified subsample of ``--amp-fraction`` of its 4,620
  peptides, the transformer before and after side by side in one run (same folds), with a
  random forest on composition as the yardstick.

    python benchmarks/order_motif.py [--part cv|diagnose|amp|all] [--amp-fraction 0.25]

Writes ``benchmarks/results/order_motif.md`` and ``order_motif_<part>.json`` (the markdown
is rebuilt from whichever parts' JSON exist).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table, write_keeping_reading  # noqa: E402

import biozoo  # noqa: E402
from biozoo.data.sources.order_motif import order_motif_peptides  # noqa: E402
from biozoo.data.splits import make_splits  # noqa: E402
from biozoo.encoders import ENCODERS  # noqa: E402
from biozoo.evaluate import format_mean_sd  # noqa: E402

COMMAND = "python benchmarks/order_motif.py --part {p}"
RESULTS = Path(__file__).parent / "results"
READING = "## Reading (written by hand after the runs)"
N, SEED, FOLDS, ENSEMBLE = 160, 0, 3, 2
OLD = {"stem": "none"}  # the transformer's defaults before the convolutional stem
MODELS = {  # run name -> encoder spec
    "transformer (before)": {"name": "transformer", **OLD},
    "transformer, rotary (before)": {"name": "transformer", "positional": "rotary", **OLD},
    "transformer, mean pooling (before)": {"name": "transformer", "pooling": "mean", **OLD},
    "transformer": {"name": "transformer"},
    "transformer, rotary": {"name": "transformer", "positional": "rotary"},
    "transformer, mean pooling": {"name": "transformer", "pooling": "mean"},
    "rnn": {"name": "rnn"},
    "lstm": {"name": "lstm"},
    "gru": {"name": "gru"},
    "cnn1d": {"name": "cnn1d"},
    "mamba": {"name": "mamba"},
}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


# ---------------------------------------------------------------- cv: the product path


def cv(tmp: Path, models: dict[str, dict] | None = None) -> dict:
    """Every model of ``models`` (default :data:`MODELS`) in one biozoo run; per-fold ROC AUC
    and seconds."""
    models = MODELS if models is None else models
    seqs, labels = order_motif_peptides(N, seed=SEED)
    seqs.rename("sequence").to_csv(tmp / "peptides.csv")
    labels.to_csv(tmp / "labels.csv")
    names = {_safe(k): k for k in models}
    raw = {
        "name": "order_motif",
        "data": {
            "modalities": {
                "peptide": {
                    "path": str(tmp / "peptides.csv"),
                    "kind": "sequence",
                    "sequence": {"alphabet": "protein", "max_len": 64},
                }
            },
            "target": {"path": str(tmp / "labels.csv"), "column": "label", "task": "binary"},
        },
        "models": {s: {"encoders": {"peptide": {**models[k]}}} for s, k in names.items()},
        "training": {
            "ensemble": ENSEMBLE,
            "seed": SEED,
            "split": {"kind": "kfold", "folds": FOLDS},
        },
        "baselines": ["linear", "random_forest"],
        "output": {"dir": str(tmp / "runs"), "report": False, "latents": False},
    }
    result = biozoo.run(biozoo.parse_config(raw), out_dir=tmp / "runs")
    board = result.leaderboard.set_index("method")
    rows = {}
    for method, r in board.iterrows():
        rows[names.get(method, method)] = {
            "kind": r["kind"],
            "roc_auc_mean": float(r["roc_auc_mean"]),
            "roc_auc_sd": float(r["roc_auc_sd"]),
            "accuracy_mean": float(r["accuracy_mean"]),
            "seconds": float(result.metrics["seconds"].get(method, float("nan"))),
        }
    return {"models": {k: models[k] for k in models}, "rows": rows}


# ---------------------------------------------------------------- diagnose: by hand

AA = "ACDEFGHIKLMNPQRSTVWY"  # the protein alphabet; ids 3.. as biozoo's sequence tokens


def tokens_of(seqs: list[str], cls: bool = True) -> dict[str, torch.Tensor]:
    """Token ids as the ``sequence`` modality makes them (``[CLS]`` = 2 first when ``cls``)."""
    width = max(map(len, seqs)) + int(cls)
    out = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids = [2] * cls + [AA.index(c) + 3 for c in s]
        out[i, : len(ids)] = torch.tensor(ids)
    return {"tokens": out, "mask": out != 0}


class _Model(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.head = encoder, nn.Linear(encoder.out_dim, 1)

    def forward(self, x: dict) -> torch.Tensor:
        return self.head(self.encoder(x)).squeeze(-1)


def _take(x: dict, idx: np.ndarray) -> dict:
    return {k: v[torch.as_tensor(idx)] for k, v in x.items()}


def train_by_hand(
    make: Callable[[], _Model],
    x: dict,
    y: np.ndarray,
    x_test: dict,
    y_test: np.ndarray,
    seed: int,
    *,
    epochs: int = 200,
    patience: int | None = 20,
    warmup: int = 0,
    curve: list | None = None,
) -> tuple[np.ndarray, int, _Model]:
    """The training defaults by hand; ``patience=None``: all the training part, no stopping."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    n_val = int(0.2 * len(y)) if patience is not None else 0
    val, fit = perm[:n_val], perm[n_val:]
    model = make()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    target = torch.tensor(y, dtype=torch.float32)
    best, best_state, wait, step = math.inf, None, 0, 0
    per_epoch = math.ceil(len(fit) / 32)
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(fit)
        for start in range(0, len(order), 32):
            idx = order[start : start + 32]
            if warmup:  # linear warm-up over ``warmup`` epochs
                for group in opt.param_groups:
                    group["lr"] = 1e-3 * min(1.0, (step + 1) / (warmup * per_epoch))
            loss = F.binary_cross_entropy_with_logits(model(_take(x, idx)), target[idx])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
        model.eval()
        if curve is not None and epoch % 10 == 9:
            with torch.no_grad():
                fit_acc = float(((model(_take(x, fit)) > 0).numpy() == y[fit]).mean())
                test_acc = float(((model(x_test) > 0).numpy() == y_test).mean())
            curve.append([epoch + 1, round(fit_acc, 3), round(test_acc, 3)])
        if patience is None:
            continue
        with torch.no_grad():
            val_loss = F.binary_cross_entropy_with_logits(model(_take(x, val)), target[val])
        if val_loss.item() < best - 1e-4:
            best, best_state, wait = val_loss.item(), copy.deepcopy(model.state_dict()), 0
        else:
            wait += 1
            if wait >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        return model(x_test).numpy(), epoch + 1, model


def _folds(y: np.ndarray) -> list:
    return make_splits(y, task="binary", kind="kfold", folds=FOLDS, seed=SEED)


def transformer(scale: float = 1.0, **options: object) -> Callable[[], _Model]:
    """A builder of the default-sized transformer + linear head; ``scale`` multiplies the
    token embeddings at initialisation."""

    def make() -> _Model:
        info = {"kind": "tokens", "vocab": 3 + len(AA), "max_len": 31}
        model = _Model(ENCODERS.get("transformer")(info, **options))
        if scale != 1.0:
            with torch.no_grad():
                model.encoder.tokens.embed.weight.mul_(scale)
        return model

    return make


def cv_by_hand(make, *, cls: bool = True, seeds: int = 2, **kw: object) -> dict:
    seqs, labels = order_motif_peptides(N, seed=SEED)
    y = labels.to_numpy()
    x = tokens_of(list(seqs), cls=cls)
    aucs, epochs, fit_acc = [], [], []
    for k, split in enumerate(_folds(y)):
        preds = []
        for s in range(seeds):
            x_fit = _take(x, split.train)
            p, ep, model = train_by_hand(
                make, x_fit, y[split.train], _take(x, split.test), y[split.test], 100 * k + s, **kw
            )
            with torch.no_grad():
                fit_acc.append(float(((model(x_fit) > 0).numpy() == y[split.train]).mean()))
            preds.append(p)
            epochs.append(ep)
        aucs.append(roc_auc_score(y[split.test], np.mean(preds, axis=0)))
    return {
        "roc_auc_mean": float(np.mean(aucs)),
        "roc_auc_sd": float(np.std(aucs, ddof=1)),
        "train_accuracy": float(np.mean(fit_acc)),
        "epochs": float(np.mean(epochs)),
    }


VARIANTS: dict[str, tuple[dict, dict]] = {  # label -> (builder options, training options)
    "previous default (sinusoidal, [CLS] twice, no stem)": ({**OLD}, {}),
    "data [CLS] removed (one [CLS])": ({**OLD}, {"cls": False}),
    "token embeddings x 1/sqrt(d) (positions relatively 5.7x stronger)": (
        {**OLD, "scale": 32**-0.5},
        {},
    ),
    "learned positions": ({**OLD, "positional": "learned"}, {}),
    "rotary positions": ({**OLD, "positional": "rotary"}, {}),
    "mean pooling": ({**OLD, "pooling": "mean"}, {}),
    "warm-up (10 epochs, linear)": ({**OLD}, {"warmup": 10}),
    "no early stopping, 300 epochs": ({**OLD}, {"patience": None, "epochs": 300}),
    "order-blind control (no positions, mean pooling)": (
        {**OLD, "positional": "none", "pooling": "mean"},
        {},
    ),
    "conv stem, kernel 3 (new default)": ({}, {}),
    "conv stem + mean pooling": ({"pooling": "mean"}, {}),
    "conv stem, no positions, mean pooling": ({"positional": "none", "pooling": "mean"}, {}),
}


@torch.no_grad()
def inside(make: Callable[[], _Model], model: _Model | None, x: dict) -> dict:
    """Norms at initialisation, and the attention entropy of a (trained) model on ``x``."""
    enc = make().encoder
    emb = enc.tokens.embed.weight[3:]
    pe = enc.positional.encoding(32)
    out = {
        "token_norm": float(emb.norm(dim=1).mean()),
        "token_distance": float(torch.pdist(emb).mean()),
        "position_norm": float(pe.norm(dim=1).mean()),
        "position_step_1": float((pe[1:] - pe[:-1]).norm(dim=1).mean()),
        "position_step_4": float((pe[4:] - pe[:-4]).norm(dim=1).mean()),
        "token_variance": float(emb.var(0).sum()),
        "position_variance": float(pe[:31].var(0).sum()),
    }
    if model is not None:
        maps = model.encoder.attention_maps(x)  # (B, layers, heads, L', L')
        keys = x["mask"].sum(1).float() + 1  # real keys + the encoder's [CLS]
        p = maps.clamp_min(1e-12)
        entropy = -(maps * p.log()).sum(-1)  # (B, layers, heads, L')
        rel = entropy / keys.log()[:, None, None, None]
        out["attention_entropy_cls_row"] = float(rel[..., 0].mean())  # 1 = uniform
    return out


def diagnose() -> dict:
    t0 = time.perf_counter()
    rows = {}
    for label, (options, training) in VARIANTS.items():
        opts = dict(options)
        scale = float(opts.pop("scale", 1.0))
        kw = dict(training)
        cls = bool(kw.pop("cls", True))
        t = time.perf_counter()
        rows[label] = cv_by_hand(transformer(scale, **opts), cls=cls, **kw)
        rows[label]["seconds"] = round(time.perf_counter() - t, 1)
        print(f"{label}: {rows[label]}", file=sys.stderr, flush=True)
    # inside the previous default and the new one: first fold, first seed, with curves
    seqs, labels = order_motif_peptides(N, seed=SEED)
    y = labels.to_numpy()
    x = tokens_of(list(seqs))
    split = _folds(y)[0]
    looks = {}
    for label, options in {"previous default": OLD, "conv stem": {}}.items():
        curve: list = []
        make = transformer(**options)
        _, _, model = train_by_hand(
            make, _take(x, split.train), y[split.train], _take(x, split.test), y[split.test],
            0, patience=None, epochs=200, curve=curve,
        )  # fmt: skip
        looks[label] = {**inside(make, model, _take(x, split.test)), "curve": curve}
    return {"rows": rows, "inside": looks, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------- amp: no loss elsewhere


def amp(tmp: Path, fraction: float, models: dict[str, dict] | None = None) -> dict:
    """The transformer before / after (or ``models``) on a stratified subsample of
    AMPvsUniProt."""
    from _sources.bench_sources import write_amp_peptides
    from sequence_protocols import _training

    from biozoo.data.sequence.read import read_sequences

    paths = write_amp_peptides(tmp / "amp")
    labels = pd.read_csv(paths["labels"], index_col="id")
    keep = labels.groupby("label", group_keys=False).sample(frac=fraction, random_state=SEED)
    seqs = read_sequences(paths["sequences"])
    seqs[keep.index].rename("sequence").rename_axis("id").to_csv(tmp / "peptides.csv")
    keep[["label"]].to_csv(tmp / "labels.csv")
    if models is None:
        models = {
            "transformer_before": {"name": "transformer", **OLD},
            "transformer": {"name": "transformer"},
        }
    raw = {
        "name": "amp_subsample",
        "data": {
            "modalities": {
                "peptide": {
                    "path": str(tmp / "peptides.csv"),
                    "kind": "sequence",
                    "sequence": {"alphabet": "protein", "max_len": 64},
                }
            },
            "target": {"path": str(tmp / "labels.csv"), "column": "label", "task": "binary"},
        },
        "models": {k: {"encoders": {"peptide": v}} for k, v in models.items()},
        "training": _training(),
        "baselines": ["random_forest"],
        "output": {"dir": str(tmp / "runs"), "report": False, "latents": False},
    }
    result = biozoo.run(biozoo.parse_config(raw), out_dir=tmp / "runs")
    rows = {}
    for method, r in result.leaderboard.set_index("method").iterrows():
        rows[method] = {
            "roc_auc_mean": float(r["roc_auc_mean"]),
            "roc_auc_sd": float(r["roc_auc_sd"]),
            "accuracy_mean": float(r["accuracy_mean"]),
            "seconds": float(result.metrics["seconds"].get(method, float("nan"))),
        }
    return {"fraction": fraction, "peptides": len(keep), "rows": rows}


# ---------------------------------------------------------------- report


def _cv_section(data: dict) -> str:
    rows = data["rows"]
    table = []
    baselines = ["logistic/ridge (CV)", "random forest"]
    for name in [n for n in MODELS if "(before)" not in n] + baselines:
        if name not in rows:
            continue
        before = rows.get(f"{name} (before)", rows[name] if "transformer" not in name else None)
        now = rows[name]
        table.append([
            name,
            format_mean_sd(before["roc_auc_mean"], before["roc_auc_sd"]) if before else "",
            format_mean_sd(now["roc_auc_mean"], now["roc_auc_sd"]),
            f"{now['accuracy_mean']:.3f}",
            f"{now['seconds']:.0f}",
        ])  # fmt: skip
    return markdown_table(
        ["method", "ROC AUC before", "ROC AUC after", "accuracy after", "seconds"], table
    )


def _diagnose_section(data: dict) -> str:
    table = [
        [
            label,
            format_mean_sd(r["roc_auc_mean"], r["roc_auc_sd"]),
            f"{r['train_accuracy']:.2f}",
            f"{r['epochs']:.0f}",
        ]
        for label, r in data["rows"].items()
    ]
    text = markdown_table(["transformer variant", "ROC AUC", "train accuracy", "epochs"], table)
    for label, look in data["inside"].items():
        curve = ", ".join(f"{e}: {a:.2f}/{t:.2f}" for e, a, t in look["curve"])
        norms = {k: round(v, 3) for k, v in look.items() if k != "curve"}
        text += f"\n\n{label}: {json.dumps(norms)}\n\nepoch: train/test accuracy: {curve}"
    return text


def write_markdown() -> None:
    parts = {}
    for part in ("cv", "diagnose", "amp"):
        path = RESULTS / f"order_motif_{part}.json"
        if path.exists():
            parts[part] = json.loads(path.read_text())
    text = f"# Order motif: does a sequence encoder learn order?\n\n{(__doc__ or '').strip()}\n"
    if "cv" in parts:
        text += (
            f"\n## Every sequence encoder, before and after (`{COMMAND.format(p='cv')}`)\n\n"
            f"{_cv_section(parts['cv'])}\n\nThe transformer before: the same run's model with "
            f"``stem: none``, the previous defaults (identical weights and outputs). The other "
            f"encoders and the baselines are unchanged: their one result fills both columns.\n"
        )
    if "diagnose" in parts:
        text += (
            f"\n## Diagnosis (`{COMMAND.format(p='diagnose')}`)\n\n"
            f"{_diagnose_section(parts['diagnose'])}\n"
        )
    if "amp" in parts:
        a = parts["amp"]
        table = [
            [
                m.replace("_before", " (before)"),
                format_mean_sd(r["roc_auc_mean"], r["roc_auc_sd"]),
                f"{r['accuracy_mean']:.3f}",
                f"{r['seconds']:.0f}",
            ]
            for m, r in a["rows"].items()
        ]
        text += (
            f"\n## AMPvsUniProt subsample (`{COMMAND.format(p='amp')}`)\n\n"
            f"{a['peptides']} peptides ({a['fraction']:.0%} of 4,620, stratified), 5-fold CV, "
            f"ensembles of 3.\n\n"
            f"{markdown_table(['method', 'ROC AUC', 'accuracy', 'seconds'], table)}\n"
        )
    text += f"\n## Machine\n\n{machine_lines(machine())}\n"
    write_keeping_reading(RESULTS / "order_motif.md", text, READING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=["cv", "diagnose", "amp", "all"], default="all")
    parser.add_argument("--amp-fraction", type=float, default=0.25)
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = ["cv", "diagnose", "amp"] if args.part == "all" else [args.part]
    RESULTS.mkdir(parents=True, exist_ok=True)
    for part in parts:
        if part in ("cv", "amp"):
            with tempfile.TemporaryDirectory() as tmp:
                data = cv(Path(tmp)) if part == "cv" else amp(Path(tmp), args.amp_fraction)
        else:
            data = diagnose()
        (RESULTS / f"order_motif_{part}.json").write_text(json.dumps(data, indent=1))
        print(f"{part}: written", file=sys.stderr)
    write_markdown()


if __name__ == "__main__":
    main()
