"""Ready-made run configs: the demo on GSE7390."""

from __future__ import annotations

from biozoo.config import RunConfig, parse_config

__all__ = ["demo_config"]

DEMO = {
    "name": "gse7390-demo",
    "data": {
        "modalities": {
            "gex": {"dataset": "gse7390/gex"},
            "clin": {"dataset": "gse7390/clin"},
        },
        "target": {"dataset": "gse7390", "column": "e.tdm", "task": "binary"},
    },
    "models": {
        "multimodule_mlp": {
            "encoders": {
                "gex": {"name": "mlp", "hidden": [16], "out_dim": 4, "dropout": 0.5},
                "clin": {"name": "mlp", "hidden": [4], "out_dim": 2, "dropout": 0.0},
            },
            "fusion": {"name": "concat"},
        },
        "early_fusion_mlp": {
            "fusion": {
                "name": "early",
                "encoder": {"name": "mlp", "hidden": [16], "out_dim": 4, "dropout": 0.5},
            },
        },
    },
    "training": {
        "optimizer": "adamw",
        "lr": 1e-3,
        "weight_decay": 1e-2,
        "epochs": 300,
        "batch_size": 32,
        "patience": 30,
        "ensemble": 5,
        "seed": 0,
        "split": {"kind": "holdout", "repeats": 5, "test_size": 0.3},
    },
    "baselines": ["linear", "random_forest", "gradient_boosting"],
}


def demo_config() -> RunConfig:
    """The demo: GSE7390 expression + clinical, 5 stratified 70/30 splits, ensembles of 5.

    ``examples/gse7390_demo.yaml`` is the same run as a file.
    """
    return parse_config(DEMO, source="demo config")
