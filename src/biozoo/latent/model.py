"""A latent model: one encoder and one decoder per table modality, joined in one latent space.

Each modality ``m`` is encoded by its configured encoder (any encoder that reads a table) and a
linear layer into a Gaussian posterior ``q(z | x_m)``; the joint posterior is their product
with a standard-normal prior expert (:func:`~biozoo.layers.latent.product_of_experts`), so a
sample lacking a modality (``missing_modality: keep``) still has one. A draw ``z`` (its mean
in evaluation, and always for ``ae``) is decoded back into every modality the sample has,
scored by the modality's likelihood (:mod:`biozoo.latent.likelihoods`), and read by the task's
output layer like any fused embedding.

The model keeps the contract of :class:`~biozoo.model.MultiModalModel` (``forward`` gives
``(outputs [B, 1, n_outputs], view_mask [B, 1])``, plus the unsupervised loss with
``with_aux=True``; ``embed=True`` gives each modality's posterior mean and the joint one as
``fused``), so the ensemble, training loop, saved runs and latent maps need nothing new. It
adds what :mod:`biozoo.latent.protocols` names: the epoch (for the KL warm-up), the posterior
(``posterior=True``: mean and variance) and per-sample reconstruction scores
(``reconstruct=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from biozoo.inputs import InputSpec, TableInput
from biozoo.latent.likelihoods import LIKELIHOODS
from biozoo.latent.objectives import Objective
from biozoo.layers.latent import gaussian_kl, product_of_experts, reparameterize
from biozoo.layers.mlp import MLP

__all__ = ["LatentModel"]


class LatentModel(nn.Module):
    """Encoders, posteriors, decoders and likelihoods per modality; an output layer on ``z``.

    Args:
        encoders: modality -> an encoder of its table (``forward(x, mask) -> [B, d_m]``).
        inputs: modality -> its table input (the decoder's width).
        objective: the objective (variational or not, the KL weight by epoch, options).
        make_output: builds the task's output layer from the latent width.

    Shape:
        - inputs: modality -> ``[B, p_m]``; present: modality -> ``[B]`` bool.
        - outputs ``[B, 1, n_outputs]``, view mask ``[B, 1]``.
    """

    def __init__(
        self,
        encoders: dict[str, nn.Module],
        inputs: Mapping[str, InputSpec],
        objective: Objective,
        make_output: Callable[[int], nn.Module],
    ) -> None:
        super().__init__()
        opts = objective.options
        d = opts.latent_dim
        self.objective = objective
        self.modalities = list(encoders)
        self.latent_dim = d
        self.supervised = opts.supervised
        self.kl_weight = objective.kl_weight(0)
        widths = {m: _width(spec) for m, spec in inputs.items()}
        stats = 2 * d if objective.variational else d
        self.encoders = nn.ModuleDict(encoders)
        self.posteriors = nn.ModuleDict(
            {m: nn.Linear(enc.out_dim, stats) for m, enc in encoders.items()}
        )
        self.decoders = nn.ModuleDict(
            {m: MLP(d, opts.decoder_hidden, widths[m]) for m in self.modalities}
        )
        self.likelihoods = nn.ModuleDict(
            {
                m: LIKELIHOODS.get(opts.likelihood.get(m, "gaussian"))(widths[m])
                for m in self.modalities
            }
        )
        self.output = make_output(d)

    def set_epoch(self, epoch: int) -> None:
        """Set the KL weight of training epoch ``epoch`` (the warm-up of ``beta_vae``)."""
        self.kl_weight = self.objective.kl_weight(epoch)

    def experts(
        self, inputs: dict[str, Tensor], present: dict[str, Tensor]
    ) -> dict[str, tuple[Tensor, Tensor]]:
        """Each modality's posterior mean and log-variance, ``[B, d]`` each."""
        out = {}
        for m in self.modalities:
            x = self.likelihoods[m].encoder_input(inputs[m])
            h = self.posteriors[m](self.encoders[m](x, present[m]))
            if self.objective.variational:
                mu, logvar = h.chunk(2, dim=-1)
                logvar = logvar.clamp(-10.0, 10.0)
            else:
                mu, logvar = h, torch.zeros_like(h)
            out[m] = (mu, logvar)
        return out

    def joint(
        self, experts: dict[str, tuple[Tensor, Tensor]], present: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor]:
        """The product of the experts and the prior: mean and log-variance ``[B, d]``."""
        ms = self.modalities
        return product_of_experts(
            [experts[m][0] for m in ms], [experts[m][1] for m in ms], [present[m] for m in ms]
        )

    def forward(
        self,
        inputs: dict[str, Tensor],
        present: dict[str, Tensor],
        *,
        embed: bool = False,
        with_aux: bool = False,
        posterior: bool = False,
        reconstruct: bool = False,
    ) -> tuple[Tensor, ...] | dict[str, Tensor]:
        """Outputs for the head (see the class); the other views by keyword.

        ``embed``: each modality's posterior mean and the joint one (``fused``).
        ``posterior``: the joint mean and variance. ``reconstruct``: per-sample
        reconstruction scores, ``<metric>`` or ``<metric>_<modality>`` -> ``[B]`` (NaN where
        the sample lacks the modality).
        ``with_aux``: a third element, the unsupervised loss (mean over the batch).
        """
        experts = self.experts(inputs, present)
        mu, logvar = self.joint(experts, present)
        if embed:
            return {**{m: e[0] for m, e in experts.items()}, "fused": mu}
        if posterior:
            return mu, logvar.exp()
        sample = self.objective.variational and self.training
        z = reparameterize(mu, logvar) if sample else mu
        if reconstruct:
            return self._scores(inputs, present, z)
        # unsupervised: the head's loss must not shape the latent (explanations still flow)
        head_in = z.detach() if self.training and not self.supervised else z
        out = self.output(head_in).unsqueeze(1)  # (B, 1, n_outputs)
        view_mask = torch.ones(out.shape[:2], dtype=out.dtype, device=out.device)
        if not with_aux:
            return out, view_mask
        loss = self._reconstruction_loss(inputs, present, z)
        if self.objective.variational:
            loss = loss + self.kl_weight * gaussian_kl(mu, logvar)
        return out, view_mask, loss.mean()

    def _reconstruction_loss(
        self, inputs: dict[str, Tensor], present: dict[str, Tensor], z: Tensor
    ) -> Tensor:
        total = z.new_zeros(z.shape[0])
        for m in self.modalities:
            nll = self.likelihoods[m].loss(inputs[m], self.decoders[m](z))
            total = total + nll * present[m].to(z.dtype)
        return total

    def _scores(
        self, inputs: dict[str, Tensor], present: dict[str, Tensor], z: Tensor
    ) -> dict[str, Tensor]:
        scores = {}
        single = len(self.modalities) == 1
        for m in self.modalities:
            lik = self.likelihoods[m]
            value = lik.score(inputs[m], self.decoders[m](z))
            name = lik.metric if single else f"{lik.metric}_{m}"
            scores[name] = torch.where(present[m], value, torch.full_like(value, float("nan")))
        return scores


def _width(spec: InputSpec) -> int:
    assert isinstance(spec, TableInput)  # checked by the builder
    return spec.n_features
