import inspect
from pathlib import Path

import pytest
import yaml

from biozoo.api import load_config, parse_config
from biozoo.config import RunConfig
from biozoo.data.spec import TransformConfig
from biozoo.encoders import ENCODERS
from biozoo.errors import BiozooError
from biozoo.presets import DEMO, demo_config

EXAMPLES = Path(__file__).parents[1] / "examples"

MIN = {
    "data": {
        "modalities": {"gex": {"path": "gex.csv"}},
        "target": {"path": "labels.csv", "column": "y", "task": "binary"},
    }
}


def with_(**changes):
    raw = yaml.safe_load(yaml.safe_dump(MIN))
    for dotted, value in changes.items():
        node = raw
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return raw


def test_minimal_config_gets_defaults():
    cfg = parse_config(with_())
    assert cfg.training.ensemble == 5
    assert list(cfg.models) == ["multimodule"]
    assert cfg.models["multimodule"].fusion.name == "concat"


def test_unknown_key_is_rejected_with_its_location():
    with pytest.raises(BiozooError, match=r"training\.epocs: unknown key"):
        parse_config(with_(training__epocs=3))


def test_unknown_encoder_option_names_its_location():
    raw = with_(models={"m": {"encoders": {"gex": {"name": "mlp", "hiden": [3]}}}})
    with pytest.raises(BiozooError, match=r"models\.m\.encoders\.gex\.hiden: unknown key"):
        parse_config(raw)


def test_typo_in_registered_name_gets_did_you_mean():
    raw = with_(models={"m": {"encoders": {"gex": {"name": "mpl"}}}})
    with pytest.raises(BiozooError, match=r"did you mean 'mlp'"):
        parse_config(raw)
    with pytest.raises(BiozooError, match=r"training\.optimizer.*did you mean 'adamw'"):
        parse_config(with_(training__optimizer="adamww"))
    with pytest.raises(BiozooError, match=r"baselines\[0\].*did you mean 'random_forest'"):
        parse_config(with_(baselines=["random_forst"]))
    raw = with_(models={"m": {"fusion": {"name": "early", "encoder": {"name": "mlpp"}}}})
    with pytest.raises(BiozooError, match=r"models\.m\.fusion\.encoder.*did you mean 'mlp'"):
        parse_config(raw)


def test_negative_learning_rate_is_rejected():
    with pytest.raises(BiozooError, match=r"training\.lr: Input should be greater than 0"):
        parse_config(with_(training__lr=-0.1))


def test_encoder_for_unknown_modality_is_rejected():
    raw = with_(models={"m": {"encoders": {"meth": {"name": "mlp"}}}})
    with pytest.raises(BiozooError, match=r"models\.m\.encoders\.meth names no modality"):
        parse_config(raw)


def test_source_needs_exactly_one_of_path_or_dataset():
    raw = with_(data__modalities={"gex": {"path": "a.csv", "dataset": "gse7390/gex"}})
    with pytest.raises(BiozooError, match="exactly one of 'path' or 'dataset'"):
        parse_config(raw)


def test_load_config_resolves_paths_and_reports_bad_files(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump(MIN))
    cfg = load_config(p)
    assert cfg.data.modalities["gex"].path == tmp_path / "gex.csv"
    with pytest.raises(BiozooError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    p.write_text("data: [unclosed")
    with pytest.raises(BiozooError, match="not valid YAML"):
        load_config(p)


def test_examples_validate_and_demo_yaml_is_the_demo():
    from biozoo.pipelines.life_events import load_life_events_config

    for path in sorted(EXAMPLES.glob("*.yaml")):
        # life_events.yaml configures the life-event protocol, not a run
        (load_life_events_config if path.name == "life_events.yaml" else load_config)(path)
    assert yaml.safe_load((EXAMPLES / "gse7390_demo.yaml").read_text()) == DEMO
    assert isinstance(demo_config(), RunConfig)


def test_transform_config_matches_the_transform_signature():
    from biozoo.data.table.transform import TableTransform

    params = inspect.signature(TableTransform).parameters
    for name, field in TransformConfig.model_fields.items():
        assert name in params, name
        assert params[name].default == field.default, name


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_config_matches_its_signature(name):
    cls = ENCODERS.get(name)
    params = inspect.signature(cls).parameters
    for field, info in cls.Config.model_fields.items():
        assert field in params, field
        default = info.get_default(call_default_factory=True)
        assert (
            list(params[field].default) == default
            if isinstance(default, list)
            else (params[field].default == default)
        ), field

