r"""Feature attributions of table modalities through the whole multi-module model (Captum).

Every table modality's input features are attributed at once (Captum takes a tuple of
inputs), through encoders, fusion and head, to one scalar per sample, the head's
``explained`` output:

- ``binary``: the log-odds of the positive class (``classes[1]``),
  :math:`\log p_1 - \log p_0`, where :math:`p` is the head's probability (the view-weighted
  mean of the views' sigmoids). With one view (``concat``, ``early``) this is exactly the
  output layer's logit. The log-odds, unlike the probability, does not saturate, so a feature
  that moves a confident prediction further still gets credit.
- ``multiclass``: the log-odds :math:`\log p_c - \log(1 - p_c)` of each sample's *true* class
  ``c`` (test samples have labels): "what made the model support the right answer".
- ``regression``: the prediction, in the target's units (``output_scale`` = the target sd).
- ``survival``: the risk score (log-hazard ratio) of the Cox head.

Methods: integrated gradients (`Sundararajan et al. 2017 <https://arxiv.org/abs/1703.01365>`_,
the default), gradient SHAP (`Lundberg & Lee 2017 <https://arxiv.org/abs/1705.07874>`_) and
DeepLIFT (`Shrikumar et al. 2017 <https://arxiv.org/abs/1704.02685>`_). The baseline is zero
for every feature: after the fold's standardisation that is the training mean. Gradient SHAP
takes a baseline *distribution*: the caller may give rows (e.g. training samples), else zeros.

Integrated gradients and DeepLIFT are complete: a sample's attributions summed over every
feature of every table equal ``output(x) - output(baseline)``; Captum's convergence delta is
the difference (small for IG with enough steps, ~0 for DeepLIFT).

Non-table modalities (tokens, series, graphs) are held fixed: their embeddings are computed
once and passed through unchanged, so they get no attribution (a logged note says so).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from biozoo.data.batch import to_device
from biozoo.errors import BiozooError
from biozoo.model import MultiModalModel
from biozoo.train.device import module_device

__all__ = [
    "METHODS",
    "TableAttributions",
    "attribute_tables",
    "precision_at_k",
    "rank_features",
    "resolve_method",
]

log = logging.getLogger(__name__)

METHODS = ("integrated_gradients", "gradient_shap", "deeplift")
_ALIASES = {"ig": "integrated_gradients", "shap": "gradient_shap", "gradshap": "gradient_shap"}


def resolve_method(name: str) -> str:
    """The full method name for ``name`` (``ig`` -> ``integrated_gradients``...)."""
    full = _ALIASES.get(name.lower().replace("-", "_"), name.lower().replace("-", "_"))
    if full not in METHODS:
        raise BiozooError(
            f"unknown attribution method {name!r}; use one of {', '.join(METHODS)} (or ig)."
        )
    return full


class _Explained(nn.Module):
    """``model`` as a function of the table inputs alone: Captum's forward function.

    Positional arguments: the tables (in ``tables`` order), then the fixed embeddings of the
    other modalities (``others`` order), then every modality's presence mask
    (``model.modalities`` order); Captum repeats the last two alongside the inputs.
    """

    def __init__(
        self,
        model: MultiModalModel,
        head: nn.Module,
        tables: list[str],
        others: list[str],
        scale: float,
    ) -> None:
        super().__init__()
        self.model, self.head, self.scale = model, head, scale
        self.tables, self.others = tables, others

    def forward(self, *args: Tensor) -> Tensor:
        nt, no = len(self.tables), len(self.others)
        inputs = dict(zip(self.tables, args[:nt], strict=True))
        present = dict(zip(self.model.modalities, args[nt + no :], strict=True))
        if not self.others:  # every modality attributed: the model's own forward pass
            outputs, view_mask = self.model(inputs, present)
            return self.head.explained(outputs, view_mask) * self.scale
        if self.model.early:
            z = self.model.embed(inputs, present)
        else:
            z = {m: self.model.encoders[m](inputs[m], present[m]) for m in self.tables}
            z.update(zip(self.others, args[nt : nt + no], strict=True))
        outputs, view_mask = self.model.fusion(z, self.model.view_presence(present))
        return self.head.explained(outputs, view_mask) * self.scale


@dataclass
class TableAttributions:
    """Attributions of one model on some samples.

    Attributes:
        values: table modality -> ``[n, p_m]`` attributions (same units as the output).
        delta: ``[n]`` completeness gap (sum of attributions - (output(x) - output(baseline)))
            for integrated gradients and DeepLIFT; None for gradient SHAP.
        skipped: modality -> why it got no attribution (not a table).
    """

    values: dict[str, Tensor]
    delta: Tensor | None = None
    skipped: dict[str, str] = field(default_factory=dict)


def attribute_tables(
    model: MultiModalModel,
    inputs: dict[str, object],
    present: dict[str, Tensor],
    *,
    head: nn.Module,
    target: Tensor | None = None,
    tables: list[str] | None = None,
    method: str = "integrated_gradients",
    baselines: dict[str, Tensor] | None = None,
    n_steps: int = 50,
    n_samples: int = 20,
    output_scale: float = 1.0,
    batch_size: int = 64,
    seed: int = 0,
) -> TableAttributions:
    """Attribute ``model``'s explained output to every feature of every table modality.

    Args:
        model: one trained model (not an ensemble); put in evaluation mode here.
        inputs: modality -> the encoder's input for ``n`` samples (tables ``Float[n, p]``).
        present: modality -> ``Bool[n]``.
        head: the task's head, whose ``explained`` output is attributed.
        target: ``Long[n]`` class per sample; required when the head explains each class
            (``head.per_class``, multiclass).
        tables: the modalities to attribute (default: those whose input is a float matrix);
            every other modality is held fixed.
        method: ``integrated_gradients``, ``gradient_shap`` or ``deeplift`` (or ``ig``).
        baselines: table -> ``[1, p]`` (or ``[r, p]`` rows for gradient SHAP); default zeros.
        n_steps: integration steps (integrated gradients).
        n_samples: random points per sample (gradient SHAP).
        output_scale: multiplies the output (the target sd for regression).
        batch_size: samples per Captum call.
        seed: seed of gradient SHAP's random draws.

    Returns:
        The :class:`TableAttributions`, on the CPU (the inputs are moved to the model's
        device to be attributed there).

    Shape:
        - ``values[m]``: ``[n, p_m]``, the shape of ``inputs[m]``.
    """
    method = resolve_method(method)
    if head.per_class and target is None:
        raise BiozooError("per-class attributions need each sample's class (target).")
    model.eval()
    device = module_device(model)
    inputs, present = to_device(inputs, device), to_device(present, device)
    target, baselines = to_device(target, device), to_device(baselines, device)
    if tables is None:
        tables = [m for m in model.modalities if _is_table(inputs[m])]
    tables = [m for m in model.modalities if m in tables]
    others = [m for m in model.modalities if m not in tables]
    skipped = {m: f"not fed to its encoder as a table ({_kind(inputs[m])})" for m in others}
    for m, why in skipped.items():
        log.info("attributions: modality %r skipped: %s", m, why)
    if not tables:
        return TableAttributions({}, None, skipped)
    if others and model.early:
        raise BiozooError("attributions need every modality to be a table with early fusion.")
    fixed = _fixed_embeddings(model, inputs, present, others)
    wrapped = _Explained(model, head, tables, others, output_scale).eval()
    base = baselines or {}
    b = tuple(
        base.get(m, torch.zeros(1, inputs[m].shape[1], device=device)).float() for m in tables
    )
    masks = [present[m] for m in model.modalities]
    n = len(masks[0])
    parts: dict[str, list[Tensor]] = {m: [] for m in tables}
    deltas: list[Tensor] = []
    for a in range(0, n, batch_size):
        rows = slice(a, min(a + batch_size, n))
        x = tuple(inputs[m][rows].float() for m in tables)
        extra = (*(fixed[m][rows] for m in others), *(mk[rows] for mk in masks))
        tgt = None if target is None or not head.per_class else target[rows].long()
        attr, delta = _run(wrapped, method, x, b, tgt, extra, n_steps, n_samples, seed + a)
        for m, t in zip(tables, attr, strict=True):
            parts[m].append(t.detach().cpu())
        if delta is not None:
            deltas.append(delta.detach().reshape(-1).cpu())
    values = {m: torch.cat(v) for m, v in parts.items()}
    return TableAttributions(values, torch.cat(deltas) if deltas else None, skipped)


def _is_table(x: object) -> bool:
    return isinstance(x, Tensor) and x.dim() == 2 and x.is_floating_point()


def _kind(x: object) -> str:
    if isinstance(x, dict):
        return "a dict of " + ", ".join(map(str, x))
    return type(x).__name__


@torch.no_grad()
def _fixed_embeddings(model, inputs, present, others) -> dict[str, Tensor]:
    out = {}
    for m in others:
        x = inputs[m]
        if not isinstance(x, Tensor | dict) and hasattr(x, "repeat"):
            x = to_device(x.repeat(1)[0], module_device(model))  # a graph source: one batch
        out[m] = model.encoders[m](x, present[m])
    return out


def _run(wrapped, method, x, b, target, extra, n_steps, n_samples, seed):
    with warnings.catch_warnings():
        # Captum's notes on setting requires_grad and hooking the activations: expected here
        warnings.filterwarnings("ignore", ".*required_grads has been set.*")
        warnings.filterwarnings("ignore", ".*hooks and attributes on non-linear.*")
        return _attribute(wrapped, method, x, b, target, extra, n_steps, n_samples, seed)


def _attribute(wrapped, method, x, b, target, extra, n_steps, n_samples, seed):
    from captum.attr import DeepLift, GradientShap, IntegratedGradients

    if method == "integrated_gradients":
        b = tuple(t.expand_as(xi) for t, xi in zip(b, x, strict=True))
        return IntegratedGradients(wrapped).attribute(
            x,
            baselines=b,
            target=target,
            additional_forward_args=extra,
            n_steps=n_steps,
            return_convergence_delta=True,
        )
    if method == "deeplift":
        b = tuple(t.expand_as(xi) for t, xi in zip(b, x, strict=True))
        return DeepLift(wrapped).attribute(
            x,
            baselines=b,
            target=target,
            additional_forward_args=extra,
            return_convergence_delta=True,
        )
    # Captum draws baselines with torch and path points with numpy's global generator: seed
    # both for repeatable results, and give both their state back afterwards.
    np_state = np.random.get_state()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            np.random.seed(seed)
            attr = GradientShap(wrapped).attribute(
                x, baselines=b, n_samples=n_samples, target=target, additional_forward_args=extra
            )
    finally:
        np.random.set_state(np_state)
    return attr, None


def rank_features(
    abs_by_split: dict[str, pd.Series], signed_by_split: dict[str, pd.Series], *, top: int = 10
) -> tuple[pd.DataFrame, float | None]:
    """One modality's ranked table from its per-split attributions.

    A feature a split's selection dropped has no attribution in that split and counts as 0.

    Args:
        abs_by_split: split -> mean |attribution| per feature (index: the split's features),
            already averaged over the split's test samples and ensemble members.
        signed_by_split: split -> mean signed attribution, likewise.
        top: ``k`` of the stability score.

    Returns:
        The table, sorted by rank (1 = largest mean |attribution|): ``feature``, ``rank``,
        ``mean_abs_attribution``, ``sd_abs_attribution`` (sd across splits),
        ``mean_attribution``, ``top{k}_frequency`` (the fraction of splits in which the
        feature is among that split's ``k`` largest), ``n_splits_selected``; and the rank
        agreement: the mean pairwise Spearman correlation of the splits' mean |attribution|
        over every feature some split selected (None with one split).
    """
    A = pd.DataFrame(abs_by_split).fillna(0.0)  # (features, splits)
    S = pd.DataFrame(signed_by_split).reindex(A.index).fillna(0.0)
    selected = pd.DataFrame(abs_by_split).notna().sum(axis=1)
    k = min(top, len(A))
    in_top = A.rank(axis=0, ascending=False, method="first") <= k
    table = pd.DataFrame(
        {
            "feature": A.index.astype(str),
            "mean_abs_attribution": A.mean(axis=1).to_numpy(),
            "sd_abs_attribution": A.std(axis=1, ddof=1).fillna(0.0).to_numpy(),
            "mean_attribution": S.mean(axis=1).to_numpy(),
            f"top{top}_frequency": in_top.mean(axis=1).to_numpy(),
            "n_splits_selected": selected.to_numpy(),
        }
    )
    table = table.sort_values("mean_abs_attribution", ascending=False, kind="stable")
    table.insert(1, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True), _rank_agreement(A)


def _rank_agreement(A: pd.DataFrame) -> float | None:
    if A.shape[1] < 2 or A.shape[0] < 2:
        return None
    rho = A.rank(axis=0).corr().to_numpy()  # Spearman = Pearson on ranks
    upper = rho[np.triu_indices_from(rho, k=1)]
    upper = upper[np.isfinite(upper)]
    return float(upper.mean()) if len(upper) else None


def precision_at_k(ranked_features: list[str], informative: set[str] | list[str], k: int) -> float:
    """Fraction of the first ``k`` ranked features that are informative.

    Args:
        ranked_features: feature names, most important first.
        informative: the truly informative features (e.g. a simulator's).
        k: how many of the top to look at; fewer ranked features count as misses.

    Returns:
        ``|top k ∩ informative| / k``.
    """
    if k < 1:
        raise BiozooError(f"precision at k needs k >= 1, got {k}.")
    truth = set(informative)
    return sum(f in truth for f in list(ranked_features)[:k]) / k
