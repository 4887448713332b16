"""Link prediction on the BioPlex 3.0 HEK293T interaction network: GNNs against classical
scores on the same held-out edges.

The whole network (13,957 proteins, 118,162 interactions, from cptac's bundled file) is split
by :func:`biozoo.pipelines.link_prediction.split_links`: 10% of the edges held out for test, 5% for
validation (early stopping), as many uniformly drawn non-edges for each. Two GNNs over learned
64-dimensional node embeddings (2 layers; GCN with a dot-product decoder, GraphSAGE with an MLP
decoder) train full-batch on the training edges only; common neighbours, Adamic-Adar, Jaccard
and preferential attachment score the same test pairs on the same training graph.

    OMP_NUM_THREADS=1 python benchmarks/bioplex_links.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402
from _sources.bioplex import load_bioplex  # noqa: E402

from biozoo.pipelines.link_prediction import (  # noqa: E402
    HEURISTICS,
    heuristic_scores,
    link_prediction,
    split_links,
)

COMMAND = "OMP_NUM_THREADS=1 python benchmarks/bioplex_links.py"
GNNS = {
    "GCN + dot": {"model": "gcn", "decoder": "dot"},
    "GraphSAGE + MLP": {"model": "sage", "decoder": "mlp"},
}
SETTINGS = {"hidden": 64, "layers": 2, "lr": 0.01, "epochs": 300, "patience": 30}
NAMES = {
    "common_neighbours": "common neighbours",
    "adamic_adar": "Adamic-Adar",
    "jaccard": "Jaccard",
    "preferential_attachment": "preferential attachment",
}

READING = """\
- Both GNNs beat every classical score on the same held-out pairs: ROC AUC 0.89-0.90 and
  AP 0.91 against 0.85 for preferential attachment and 0.71-0.72 for common neighbours,
  Adamic-Adar and Jaccard. They cost about 1,000 times more: minutes of training against a
  tenth of a second.
- The neighbourhood scores are weak here because many interactions close no triangle (BioPlex
  comes from bait-prey pulldowns): more than half of the held-out interactions have no common
  neighbour in the training graph, so they tie with almost all non-edges.
- Preferential attachment's 0.85 shows how much of the task is degree: uniformly drawn
  non-edges mostly join two sparsely connected proteins, while interactions tend to touch
  well-connected ones.
  Part of the GNNs' margin is surely degree too; non-edges drawn to match the degrees of the
  positives would be a harder and fairer test. Not run here.
- One seed (one split, one initialisation); the spread over seeds is not measured. The machine
  was shared (load average about 6 on 2 cores), so absolute times are inflated; the ratio
  between the GNNs and the heuristics is what to read.
- The whole network was used (no restriction to the largest connected component), full batch.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    edges = load_bioplex()
    load_s = time.perf_counter() - t0
    results: dict[str, dict] = {}
    split: dict = {}
    for i, (name, opts) in enumerate(GNNS.items()):
        res = link_prediction(
            edges, seed=args.seed, heuristics=HEURISTICS if i == 0 else (), **opts, **SETTINGS
        )
        split = res.pop("split")
        results[name] = res.pop("gnn")
        results.update({NAMES[k]: v for k, v in res.items()})
        print(name, results[name], flush=True)
    # why the neighbourhood scores trail: how many test pairs have no common neighbour at all
    sp = split_links(edges, seed=args.seed)
    cn = {
        k: heuristic_scores(sp.train, sp.n_nodes, getattr(sp, k), ("common_neighbours",))
        for k in ("test_pos", "test_neg")
    }
    zero = {k: float((v["common_neighbours"] == 0).mean()) for k, v in cn.items()}
    rows = []
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["roc_auc"]):
        note = f"best epoch {r['best_epoch']} of {r['epochs']}" if "epochs" in r else "scipy sparse"
        rows.append(
            [
                name,
                f"{r['roc_auc']:.3f}",
                f"{r['average_precision']:.3f}",
                f"{r['seconds']:.1f}",
                note,
            ]
        )
    text = f"""# Link prediction on BioPlex 3.0 (HEK293T): GNNs against classical scores

Command: `{COMMAND}` (seed {args.seed}). The whole network: {split["nodes"]} proteins,
{split["edges"]} interactions (cptac's `BioPlex_293T_Network_10K_Dec_2019.tsv.gz`, read in
{load_s:.1f} s). Held out: {split["test"]} test edges (10%) and {split["val"]} validation
edges (5%), each with as many non-edges drawn uniformly (PyG `negative_sampling`); the
{split["train"]} remaining edges are the only graph any method sees. GNNs: learned node
embeddings, {SETTINGS["layers"]} layers of width {SETTINGS["hidden"]}, Adam lr {SETTINGS["lr"]},
full batch, one fresh uniform non-edge per training edge each epoch, at most
{SETTINGS["epochs"]} epochs, early stopping on validation ROC AUC (patience
{SETTINGS["patience"]}); settings fixed before the run, not tuned. Time: wall seconds of the
whole fit + scoring on 1 thread (the heuristics: scoring the test pairs).

{markdown_table(["method", "test ROC AUC", "test AP", "time (s)", "notes"], rows)}

In the training graph, {zero["test_pos"]:.1%} of the held-out interactions and
{zero["test_neg"]:.1%} of the non-edges have no common neighbour: every such pair gets the
same common-neighbour, Adamic-Adar and Jaccard score.

## Reading

{READING}
## Machine

{machine_lines(machine())}
"""
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "bioplex_links.md").write_text(text)
    record = {
        "command": COMMAND,
        "seed": args.seed,
        "split": split,
        "settings": SETTINGS,
        "gnns": GNNS,
        "results": results,
        "machine": machine(),
    }
    (out / "bioplex_links.json").write_text(json.dumps(record, indent=2))
    print(text)


if __name__ == "__main__":
    main()
