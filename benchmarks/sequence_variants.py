"""Linear attention, retention and a hybrid stack against softmax attention, by accuracy.

Two tasks, the product path (``biozoo.run``), each model in its own run on the same folds:

- ``order``: the order-motif peptides of ``benchmarks/order_motif.py`` (160 peptides,
  ``RWKW`` vs ``WKWR`` inserts, same composition; 3 stratified folds, ensembles of 2, default
  training), with logistic regression and a random forest on composition beside them;
- ``amp``: a stratified subsample of ``--amp-fraction`` of AMPvsUniProt's 4,620 peptides with
  the antimicrobial protocol's training (5 folds, ensembles of 3, at most 60 epochs, patience
  8, batch 64; ``benchmarks/sequence_protocols.py``), a random forest on composition beside.

Models: the ``transformer`` with its defaults (softmax attention, convolutional stem), with
``attention: linear`` (with and without the stem), a hybrid ``layers: [retention,
attention]``, and the ``retnet`` encoder with its defaults. Speed by length is in
``benchmarks/scan_speed.py``.

    OMP_NUM_THREADS=1 python benchmarks/sequence_variants.py --part order|amp [--amp-fraction 0.1]

Each model's result is written to ``results/sequence_variants.json`` as soon as it is done, so
a run cut short by a time limit keeps what it finished; ``results/sequence_variants.md`` is
rebuilt from that JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table, write_keeping_reading  # noqa: E402
from order_motif import amp, cv  # noqa: E402

from biozoo.evaluate import format_mean_sd  # noqa: E402

COMMAND = "OMP_NUM_THREADS=1 python benchmarks/sequence_variants.py --part {p}"
RESULTS = Path(__file__).parent / "results"
JSON = RESULTS / "sequence_variants.json"
READING = "## Reading (written by hand after the runs)"
MODELS = {  # run name -> encoder spec, in the order they run
    "transformer_linear": {"name": "transformer", "attention": "linear"},
    "retnet": {"name": "retnet"},
    "transformer_softmax": {"name": "transformer"},
    "transformer_linear_no_stem": {"name": "transformer", "attention": "linear", "stem": "none"},
    "hybrid_retention_attention": {"name": "transformer", "layers": ["retention", "attention"]},
}
PARTS = {
    "order": ["*"],
    "amp": ["transformer_softmax", "transformer_linear", "retnet", "hybrid_retention_attention"],
}


def run_part(part: str, fraction: float, record: dict) -> None:
    names = list(MODELS) if PARTS[part] == ["*"] else PARTS[part]
    done = record.setdefault(part, {"rows": {}, "models": {}})
    for name in names:
        if name in done["models"]:
            continue
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            models = {name: MODELS[name]}
            data = cv(Path(tmp), models) if part == "order" else amp(Path(tmp), fraction, models)
        done["rows"] |= data["rows"]
        done["models"][name] = MODELS[name]
        done["wall_s"] = done.get("wall_s", 0.0) + time.perf_counter() - t0
        if part == "amp":
            done["fraction"], done["peptides"] = data["fraction"], data["peptides"]
        record["machine"] = machine() | {"torch_threads": 1}
        JSON.write_text(json.dumps(record, indent=1))
        write_markdown(record)
        print(f"{part} {name}: {data['rows'].get(name)}", file=sys.stderr, flush=True)


def _table(rows: dict) -> str:
    body = [
        [name, format_mean_sd(r["roc_auc_mean"], r["roc_auc_sd"]), f"{r['accuracy_mean']:.3f}",
         f"{r['seconds']:.0f}"]
        for name, r in rows.items()
    ]  # fmt: skip
    return markdown_table(["method", "ROC AUC", "accuracy", "seconds"], body)


def write_markdown(record: dict) -> None:
    text = f"# Attention and recurrence variants\n\n{(__doc__ or '').strip()}\n"
    if "order" in record:
        o = record["order"]
        text += (
            f"\n## Order motif (`timeout 600 {COMMAND.format(p='order')}`)\n\n"
            f"160 peptides, 3-fold CV, ensembles of 2; wall time {o['wall_s']:.0f} s over its "
            f"runs.\n\n"
            f"{_table(o['rows'])}\n"
        )
    if "amp" in record:
        a = record["amp"]
        text += (
            f"\n## AMPvsUniProt subsample (`timeout 600 {COMMAND.format(p='amp')} "
            f"--amp-fraction {a['fraction']}`)\n\n"
            f"{a['peptides']} peptides ({a['fraction']:.0%} of 4,620, stratified), 5-fold CV, "
            f"ensembles of 3; wall time {a['wall_s']:.0f} s.\n\n{_table(a['rows'])}\n"
        )
    if "machine" in record:
        text += f"\n## Machine\n\n{machine_lines(record['machine'])}\n"
    write_keeping_reading(RESULTS / "sequence_variants.md", text, READING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=list(PARTS), required=True)
    parser.add_argument("--amp-fraction", type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = json.loads(JSON.read_text()) if JSON.exists() else {}
    run_part(args.part, args.amp_fraction, record)


if __name__ == "__main__":
    main()
