"""Contract of the latent model: shapes, gradients, the product of experts with a missing
modality, the KL warm-up, the ensemble, and bad configs."""

from __future__ import annotations

import pytest
import torch

from biozoo.config import ModelConfig
from biozoo.errors import BiozooError
from biozoo.inputs import TableInput, TokensInput
from biozoo.latent import OBJECTIVES, Embeds, Generative, LatentModel
from biozoo.model import build_model
from biozoo.train.ensemble import StackedEnsemble, make_ensemble

INPUTS = {"a": TableInput(6), "b": TableInput(5)}
ENCODER = {"name": "mlp", "hidden": [8], "out_dim": 4, "dropout": 0.0, "norm": "none"}


def latent(name: str = "vae", **options: object) -> LatentModel:
    spec = ModelConfig(
        default_encoder=ENCODER,
        objective={"name": name, "latent_dim": 3, "decoder_hidden": [8], **options},
    )
    torch.manual_seed(0)
    model = build_model(spec, INPUTS, n_outputs=2)
    assert isinstance(model, LatentModel)
    return model


def batch(b: int = 4) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    inputs = {"a": torch.randn(b, 6, generator=g), "b": torch.poisson(torch.full((b, 5), 3.0))}
    return inputs, {"a": torch.ones(b, dtype=torch.bool), "b": torch.ones(b, dtype=torch.bool)}


@pytest.mark.parametrize("name", OBJECTIVES.names())
@pytest.mark.parametrize("likelihood", ["gaussian", "nb"])
def test_shapes_finite_loss_and_every_parameter_learns(name, likelihood):
    model = latent(name, likelihood={"b": likelihood}).train()
    assert isinstance(model, Generative) and isinstance(model, Embeds)
    inputs, present = batch()
    out, view_mask, aux = model(inputs, present, with_aux=True)
    assert out.shape == (4, 1, 2) and view_mask.shape == (4, 1)
    assert aux.dim() == 0 and torch.isfinite(aux)
    (out.sum() + aux).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
    mean, var = model.eval()(inputs, present, posterior=True)
    assert mean.shape == var.shape == (4, 3) and (var > 0).all()
    z = model(inputs, present, embed=True)
    assert set(z) == {"a", "b", "fused"} and torch.equal(z["fused"], mean)


def test_a_missing_modality_adds_nothing_and_no_modality_gives_the_prior():
    model = latent().eval()
    inputs, present = batch(3)
    present["b"] = torch.tensor([True, False, False])
    present["a"] = torch.tensor([True, True, False])
    mean, var = model(inputs, present, posterior=True)
    changed = {**inputs, "b": inputs["b"] + 7.0}  # what a missing modality holds is ignored
    mean2, var2 = model(changed, present, posterior=True)
    assert torch.equal(mean[1:], mean2[1:]) and torch.equal(var[1:], var2[1:])
    assert not torch.equal(mean[0], mean2[0])
    assert torch.allclose(mean[2], torch.zeros(3)) and torch.allclose(var[2], torch.ones(3))
    # only the samples that have a modality are scored on its reconstruction
    scores = model(inputs, present, reconstruct=True)
    assert set(scores) == {"recon_mse_a", "recon_mse_b"}
    assert torch.isnan(scores["recon_mse_b"][1:]).all() and torch.isfinite(scores["recon_mse_b"][0])


def test_beta_vae_warms_the_kl_weight_up_linearly():
    model = latent("beta_vae", beta=2.0, warmup_epochs=4)
    weights = []
    for epoch in (0, 1, 2, 4, 9):
        model.set_epoch(epoch)
        weights.append(model.kl_weight)
    assert weights == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert latent("vae").kl_weight == 1.0 and latent("ae").kl_weight == 0.0


def test_an_unsupervised_latent_gets_no_gradient_from_the_head():
    model = latent(supervised=False).train()
    inputs, present = batch()
    out, _ = model(inputs, present)
    out.sum().backward()
    assert all(p.grad is None for p in model.encoders.parameters())
    assert all(p.grad is not None for p in model.output.parameters())
    # in evaluation the output is a function of the inputs, so attributions can explain it
    x = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    out, _ = model.eval()(x, present)
    out.sum().backward()
    assert x["a"].grad is not None and x["a"].grad.abs().sum() > 0


def test_members_train_stacked_under_vmap_with_their_own_draws():
    spec = ModelConfig(default_encoder=ENCODER, objective={"name": "vae", "latent_dim": 3})
    ens = make_ensemble(lambda: build_model(spec, INPUTS, 2), [1, 2])
    assert isinstance(ens, StackedEnsemble)
    inputs, present = batch()
    rep = {k: v.expand(2, *v.shape) for k, v in inputs.items()}
    pres = {k: v.expand(2, *v.shape) for k, v in present.items()}
    out, view_mask, aux = ens(rep, pres, with_aux=True)
    assert out.shape == (2, 4, 1, 2) and aux.shape == (2,)
    mean, var = ens.eval()(rep, pres, posterior=True)
    assert mean.shape == (2, 4, 3) and not torch.equal(mean[0], mean[1])


def test_bad_configs_are_one_sentence():
    spec = ModelConfig(objective={"name": "vae"})
    with pytest.raises(BiozooError, match="reconstructs tables, but modality 'seq'"):
        build_model(spec, {"seq": TokensInput(vocab=5, max_len=4)}, 1)
    with pytest.raises(ValueError, match="leave out 'fusion'"):
        ModelConfig(objective={"name": "vae"}, fusion={"name": "late"})


def test_training_is_deterministic_given_the_seed():
    from biozoo.data.batch import FoldData
    from biozoo.heads import BinaryHead
    from biozoo.train.plan import fit_ensemble

    spec = ModelConfig(default_encoder=ENCODER, objective={"name": "vae", "latent_dim": 3})
    inputs, present = batch(24)
    y = torch.arange(24) % 2

    def fit() -> dict[str, torch.Tensor]:
        ens = make_ensemble(lambda: build_model(spec, INPUTS, 1), [3, 4])
        data = FoldData(inputs, present, y)
        fit_ensemble(
            ens, BinaryHead(), data.take(torch.arange(16)), data.take(torch.arange(16, 24)),
            epochs=3, batch_size=8, patience=5, optimizer="adamw", lr=1e-2,
            weight_decay=0.0, gradient_clip=1.0, seed=7,
        )  # fmt: skip
        return ens.stacked_state()

    a, b = fit(), fit()
    assert all(torch.equal(a[k], b[k]) for k in a)
