"""The run folder of a life-event run, written atomically (``biozoo events CONFIG``).

```
<out>/<name>-<timestamp>/
  config.yaml            the config, every default written out
  versions.json          Python, platform, package versions, seed
  metrics.json           the metrics table, patients, [UNK] events in test, training, timings
  metrics.csv            one row per method (transformer and baselines, same test patients)
  auc.csv                next-event ROC AUC per code, overall and per age band x sex
  calibration.csv        waiting-time calibration per decile of predicted rate
  incidence.csv          cumulative incidence by age: observed, sampled, Aalen–Johansen
  splits.csv             patient, part (train / test)
  history.csv            training curve (NLL per transition, fit and validation patients)
  models/delphi.safetensors   the model's weights (encoder spec, vocabulary size in metadata)
  models/tokens.safetensors   the fitted vocabulary and covariate scaling
  report.html            self-contained page of the above
```

:func:`load_life_events_model` rebuilds the model and its tokens for sampling.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file

from biozoo._atomic import json_default
from biozoo.data.events import EventTokens
from biozoo.data.spec import PartSpec
from biozoo.errors import BiozooError
from biozoo.pipelines.life_events.model import EventHistoryModel
from biozoo.pipelines.life_events.protocol import LifeEventsConfig, LifeEventsResult, event_encoder
from biozoo.report.life_events import write_life_events_report
from biozoo.train.run import versions
from biozoo.train.runfolder import RunFolder
from biozoo.train.saving import read_meta, save_ensemble

__all__ = ["load_life_events_model", "write_life_events_run"]

MODEL, TOKENS = "models/delphi.safetensors", "models/tokens.safetensors"


def write_life_events_run(res: LifeEventsResult, cfg: LifeEventsConfig, out_dir: Path) -> Path:
    """Write the run folder of ``res`` under ``out_dir`` (hidden until complete).

    Returns:
        The finished folder, ``<out_dir>/<cfg.name>-<timestamp>``.
    """
    with RunFolder(Path(out_dir), cfg.name) as folder:
        dumped = cfg.model_dump(mode="json")
        folder.write_text("config.yaml", yaml.safe_dump(dumped, sort_keys=False))
        folder.write_json("versions.json", versions(cfg))  # type: ignore[arg-type]
        folder.write_json("metrics.json", _summary(res, cfg))
        folder.write_csv("metrics.csv", res.metrics)
        folder.write_csv("auc.csv", res.auc)
        folder.write_csv("calibration.csv", res.calibration)
        folder.write_csv("incidence.csv", res.incidence)
        folder.write_csv(
            "splits.csv",
            pd.DataFrame(
                [(p, part) for part, ids in res.patients.items() for p in ids],
                columns=["patient", "part"],
            ),
        )
        folder.write_csv("history.csv", pd.DataFrame(res.training.get("history", [])))
        meta = {
            "model": cfg.model.model_dump(mode="json"),
            "vocab": len(res.part.token_names() or []),
            "no_event_every": cfg.no_event_every,
            "terminal": cfg.terminal,
        }
        save_ensemble(folder.path(MODEL), res.model.state_dict(), meta)
        arrays, tokens = res.part.state()
        save_numpy(
            arrays,
            str(folder.path(TOKENS)),
            metadata={"biozoo": json.dumps(tokens, default=json_default)},
        )
        write_life_events_report(folder.layout.root)
        return folder.commit()


def _summary(res: LifeEventsResult, cfg: LifeEventsConfig) -> dict[str, object]:
    training = {k: v for k, v in res.training.items() if k != "history"}
    return {
        "name": cfg.name,
        "metrics": res.metrics.to_dict(orient="records"),
        "patients": {k: len(v) for k, v in res.patients.items()},
        "test_unknown_events": res.test_unknown_events,
        "vocab": res.part.token_names(),
        "training": training,
        "seconds": res.seconds,
    }


def load_life_events_model(run_dir: Path) -> tuple[EventHistoryModel, EventTokens]:
    """The trained model (eval mode) and its fitted tokens from a life-event run folder.

    Raises:
        BiozooError: the folder has no saved model.
    """
    run_dir = Path(run_dir)
    if not (run_dir / MODEL).is_file() or not (run_dir / TOKENS).is_file():
        raise BiozooError(f"{run_dir} holds no saved life-event model ({MODEL}, {TOKENS}).")
    part = EventTokens.from_state(load_numpy(str(run_dir / TOKENS)), read_meta(run_dir / TOKENS))
    meta = read_meta(run_dir / MODEL)
    state = load_file(str(run_dir / MODEL))
    spec = PartSpec.model_validate(meta["model"])
    never = state["never"].tolist()
    model = EventHistoryModel(event_encoder(spec, part), int(meta["vocab"]), never)  # type: ignore[arg-type]
    model.load_state_dict(state)
    return model.eval(), part
