"""Latent models: autoencoders and VAEs over table modalities (``objective`` of a model).

See :mod:`biozoo.latent.objectives` for the objectives and their options,
:mod:`biozoo.latent.likelihoods` for the reconstruction likelihoods and
:mod:`biozoo.latent.model` for the model.
"""

from biozoo.latent.likelihoods import LIKELIHOODS
from biozoo.latent.model import LatentModel
from biozoo.latent.objectives import OBJECTIVES, Objective
from biozoo.latent.protocols import Embeds, Generative

__all__ = ["LIKELIHOODS", "OBJECTIVES", "Embeds", "Generative", "LatentModel", "Objective"]
