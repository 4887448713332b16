"""Objectives of a latent model: ``ae``, ``vae`` and ``beta_vae``, registered in
:data:`OBJECTIVES`.

A model config with an ``objective`` section is a latent model (:mod:`biozoo.latent.model`):
each table modality has an encoder and a decoder, the modalities meet in one latent space,
and the training loss adds the objective's unsupervised term to the task head's loss:

- ``ae``: a deterministic latent; the loss is the reconstruction of every modality.
- ``vae``: a Gaussian posterior per modality, joined by product of experts; the loss is the
  negative ELBO, reconstruction + KL to the standard-normal prior (Kingma & Welling 2014,
  https://arxiv.org/abs/1312.6114).
- ``beta_vae``: the KL term weighted by ``beta`` (Higgins et al. 2017,
  https://openreview.net/forum?id=Sy2fzU9gl), raised linearly from 0 over the first
  ``warmup_epochs`` epochs (Bowman et al. 2016, https://arxiv.org/abs/1511.06349).

Options shared by all (:class:`ObjectiveConfig`): ``latent_dim``, ``decoder_hidden``,
``likelihood`` (modality -> ``gaussian`` or ``nb``; default ``gaussian``) and ``supervised``
(False: the head reads a detached latent, so the labels never shape it and the head is a probe
of what the unsupervised latent holds).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, field_validator

from biozoo.latent.likelihoods import LIKELIHOODS
from biozoo.registry import Registry

__all__ = ["OBJECTIVES", "AE", "VAE", "BetaVAE", "Objective", "ObjectiveConfig"]


class ObjectiveConfig(BaseModel):
    """What every objective reads."""

    model_config = ConfigDict(extra="forbid")
    latent_dim: PositiveInt = 10
    decoder_hidden: list[PositiveInt] = Field(default_factory=lambda: [64])
    likelihood: dict[str, str] = Field(default_factory=dict)
    supervised: bool = True

    @field_validator("likelihood")
    @classmethod
    def _known(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value.values():
            if name not in LIKELIHOODS:
                raise ValueError(LIKELIHOODS.unknown_message(name))
        return value


class Objective:
    """Base of the objectives: whether the latent is variational and the KL weight by epoch.

    Args:
        options: the objective's validated options.
    """

    Config: ClassVar[type[ObjectiveConfig]] = ObjectiveConfig
    variational: ClassVar[bool] = True

    def __init__(self, **options: object) -> None:
        self.options = self.Config(**options)

    def kl_weight(self, epoch: int) -> float:
        """The weight of the KL term in epoch ``epoch`` (0-based)."""
        return 1.0 if self.variational else 0.0


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


@OBJECTIVES.register("ae")
class AE(Objective):
    """Autoencoder: reconstruction only, the latent is the encoders' joined mean."""

    variational = False


@OBJECTIVES.register("vae")
class VAE(Objective):
    """Variational autoencoder: reconstruction + KL (weight 1)."""


class BetaConfig(ObjectiveConfig):
    beta: NonNegativeFloat = 4.0
    warmup_epochs: int = Field(10, ge=0)


@OBJECTIVES.register("beta_vae")
class BetaVAE(Objective):
    """beta-VAE: reconstruction + beta * KL, beta raised linearly over ``warmup_epochs``."""

    Config = BetaConfig

    def kl_weight(self, epoch: int) -> float:
        opts = self.options
        assert isinstance(opts, BetaConfig)
        if opts.warmup_epochs == 0:
            return opts.beta
        return opts.beta * min(1.0, epoch / opts.warmup_epochs)
