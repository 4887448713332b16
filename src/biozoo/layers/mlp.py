"""A plain multilayer perceptron block: (Linear -> norm -> activation -> dropout) x n."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from torch import Tensor, nn

from biozoo.layers.activations import width_factor

__all__ = ["MLP"]

Norm = Literal["batch", "layer", "none"]


class MLP(nn.Module):
    """Hidden layers followed by an optional linear output layer.

    Args:
        in_dim: input features.
        hidden: sizes of the hidden layers, each Linear -> norm -> activation -> dropout.
        out_dim: size of a final Linear layer with no activation; ``None`` for none, in which
            case the output is the last hidden layer (or the input when ``hidden`` is empty).
        activation: a zero-argument factory of the activation module. A gated activation
            (``width_factor`` above 1, such as SwiGLU) gets a Linear that many times wider
            before it, so each hidden layer still outputs its stated size.
        dropout: dropout probability after each hidden activation.
        norm: ``batch`` (BatchNorm1d), ``layer`` (LayerNorm) or ``none``.

    Shape:
        - input ``[B, in_dim]``, output ``[B, out_dim]``.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: Sequence[int],
        out_dim: int | None,
        *,
        activation: Callable[[], nn.Module] = nn.ReLU,
        dropout: float = 0.0,
        norm: Norm = "none",
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        factor = width_factor(activation)
        for h in hidden:
            layers.append(nn.Linear(width, h * factor))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(h * factor))
            elif norm == "layer":
                layers.append(nn.LayerNorm(h * factor))
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        if out_dim is not None:
            layers.append(nn.Linear(width, out_dim))
            width = out_dim
        self.net = nn.Sequential(*layers)
        self.in_dim = in_dim
        self.out_dim = width

    def reset_parameters(self) -> None:
        for m in self.net:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
