import pytest
import torch

from biozoo.config import ModelConfig
from biozoo.data.spec import PartSpec
from biozoo.heads import BinaryHead
from biozoo.inputs import TableInput
from biozoo.model import build_model
from biozoo.tasks import TASKS

DIMS = {"gex": TableInput(10), "clin": TableInput(3)}


def inputs(b=4, absent=None):
    torch.manual_seed(0)
    x = {k: torch.randn(b, d.n_features) for k, d in DIMS.items()}
    present = {k: torch.ones(b, dtype=torch.bool) for k in DIMS}
    if absent:
        present[absent][0] = False
        x[absent][0] = 0.0
    return x, present


@pytest.mark.parametrize("fusion", ["concat", "early", "late"])
@pytest.mark.parametrize("task,n_classes", [("binary", 2), ("multiclass", 3), ("regression", None)])
def test_every_fusion_and_head(fusion, task, n_classes):
    head = TASKS.get(task)().head(n_classes)
    model = build_model(ModelConfig(fusion=PartSpec(name=fusion)), DIMS, head.n_outputs)
    x, present = inputs()
    out, view_mask = model(x, present)
    k = 2 if fusion == "late" else 1
    assert out.shape == (4, k, head.n_outputs) and view_mask.shape == (4, k)
    y = torch.tensor([0, 1, 1, 0]) if task != "regression" else torch.randn(4)
    res = head(out, view_mask, y)
    res.loss.backward()
    if task == "regression":
        assert res.prediction.shape == (4,)
    else:
        assert res.prediction.shape == (4, n_classes)
        assert torch.allclose(res.prediction.sum(-1), torch.ones(4))


def test_early_fusion_uses_one_encoder_over_concatenated_inputs():
    model = build_model(ModelConfig(fusion=PartSpec(name="early")), DIMS, 1)
    assert list(model.encoders) == ["early"]
    assert model.encoders["early"].in_dim == 13
    z = model(*inputs(), embed=True)
    assert set(z) == {"early", "fused"}


def test_embeddings_before_concatenation_are_exposed():
    spec = ModelConfig(
        encoders={"gex": PartSpec(name="mlp", out_dim=5), "clin": PartSpec(name="identity")}
    )
    model = build_model(spec, DIMS, 1).eval()
    z = model(*inputs(), embed=True)
    assert z["gex"].shape == (4, 5) and z["clin"].shape == (4, 3)
    assert torch.equal(z["fused"], torch.cat([z["gex"], z["clin"]], dim=1))


def test_late_fusion_averages_only_present_modalities():
    head = BinaryHead()
    model = build_model(ModelConfig(fusion=PartSpec(name="late")), DIMS, 1).eval()
    x, present = inputs(absent="clin")
    out, view_mask = model(x, present)
    assert view_mask[0].tolist() == [1.0, 0.0]
    p = head(out, view_mask).prediction
    assert torch.allclose(p[0, 1], torch.sigmoid(out[0, 0, 0]))
