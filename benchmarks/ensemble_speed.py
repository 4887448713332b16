"""Training a split's 5 members together (stacked, vmap) against 5 separate fits.

Same data (the demo's first split of GSE7390, transforms fitted on its training part), same
model, same number of epochs (early stopping off), same Lightning loop; the only difference
is whether the members are one stacked model or five models trained one after another.

    python benchmarks/ensemble_speed.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, machine_lines, markdown_table  # noqa: E402

from biozoo.data.align import load_cohort  # noqa: E402
from biozoo.data.splits import inner_split, make_splits  # noqa: E402
from biozoo.inputs import TableInput  # noqa: E402
from biozoo.model import build_model  # noqa: E402
from biozoo.presets import demo_config  # noqa: E402
from biozoo.train.ensemble import StackedEnsemble  # noqa: E402
from biozoo.train.experiment import head_for  # noqa: E402
from biozoo.train.fold import fit_transforms  # noqa: E402
from biozoo.train.plan import fit_ensemble  # noqa: E402

COMMAND = "python benchmarks/ensemble_speed.py"
EPOCHS, MEMBERS, REPEATS = 100, 5, 3


def main() -> None:
    cfg = demo_config()
    cohort = load_cohort(cfg.data)
    split = make_splits(cohort.target, stratify=cohort.target, kind="holdout", repeats=5, seed=0)[0]
    train = cohort.subset(split.train)
    data = fit_transforms(train, cfg.data).fold_data(train)
    fit_pos, val_pos = inner_split(train.target, stratify=train.target, val_fraction=0.2, seed=0)
    fit, val = data.take(torch.from_numpy(fit_pos)), data.take(torch.from_numpy(val_pos))
    head = head_for(cohort)
    inputs = {k: TableInput(v.shape[1]) for k, v in data.inputs.items()}
    rows, record = [], {}
    for name, spec in cfg.models.items():

        def make(spec=spec):
            return build_model(spec, inputs, head.n_outputs)

        def fit_members(seeds: list[int]) -> None:
            fit_ensemble(
                StackedEnsemble(make, seeds),
                head,
                fit,
                val,
                epochs=EPOCHS,
                batch_size=32,
                patience=EPOCHS + 1,
                optimizer="adamw",
                lr=1e-3,
                weight_decay=1e-2,
                gradient_clip=1.0,
                seed=0,
            )

        stacked, separate = [], []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            fit_members(list(range(MEMBERS)))
            stacked.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for s in range(MEMBERS):
                fit_members([s])
            separate.append(time.perf_counter() - t0)
        best_stacked, best_separate = min(stacked), min(separate)
        record[name] = {"stacked_s": stacked, "separate_s": separate}
        rows.append(
            [
                name,
                f"{best_separate:.2f}",
                f"{best_stacked:.2f}",
                f"{best_separate / best_stacked:.1f}x",
            ]
        )
    text = f"""# Ensemble training: stacked members against separate fits

Command: `{COMMAND}`. GSE7390 demo split h0 ({len(fit_pos)} fit / {len(val_pos)} validation
samples), {MEMBERS} members, {EPOCHS} epochs each (early stopping off), batch 32, best of
{REPEATS} repeats.

{
        markdown_table(
            ["model", f"{MEMBERS} separate fits (s)", "stacked, one fit (s)", "speed-up"], rows
        )
    }

## Machine

{machine_lines(machine())}
"""
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ensemble_speed.md").write_text(text)
    (out / "ensemble_speed.json").write_text(
        json.dumps({"command": COMMAND, "runs": record, "machine": machine()}, indent=2)
    )
    print(text)


if __name__ == "__main__":
    main()
