"""The paper's tagger: a fully connected network on the 184 inputs.

184 -> 5 x 100 (ReLU, dropout 0.1 after every hidden layer but the last) -> 3.
The network returns logits; class probabilities (b, c, light) are their
softmax (:func:`probabilities`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .features import N_INPUTS


@dataclass(frozen=True)
class ModelSettings:
    n_inputs: int = N_INPUTS
    width: int = 100
    depth: int = 5  #: hidden layers
    dropout: float = 0.1
    n_classes: int = 3


class _ReLUDropoutFunction(torch.autograd.Function):
    """relu(x) * keep / (1 - p) with a single saved mask for the backward pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        mask = x > 0
        if p > 0:
            mask &= _keep_mask(x.shape, p, x.device)
            scaled = mask.to(x.dtype).mul_(1.0 / (1.0 - p))
        else:
            scaled = mask.to(x.dtype)
        ctx.save_for_backward(scaled)
        return x * scaled

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (scaled,) = ctx.saved_tensors
        return grad * scaled, None


_RANDOM_BITS = 31
_TWO_TO_BITS = 1 << _RANDOM_BITS


def _keep_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """Bernoulli(1 - p) draws from 31 random bits each.

    Two draws come from one 64-bit word of the default generator, which is
    about ten times cheaper on a CPU than ``bernoulli_`` (p is exact to 5e-10).
    """
    n = shape.numel()
    words = torch.empty((n + 1) // 2, dtype=torch.int64, device=device).random_()
    lanes = words.view(torch.int32)[:n].bitwise_and_(_TWO_TO_BITS - 1)
    return (lanes >= round(p * _TWO_TO_BITS)).view(shape)


class ReLUDropout(nn.Module):
    """ReLU followed by dropout, fused: the same mathematics as ``nn.ReLU`` then
    ``nn.Dropout(p)``, at a fraction of the cost (one mask, one multiply)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReLUDropoutFunction.apply(x, self.p if self.training else 0.0)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Tagger(nn.Sequential):
    """Linear + ReLU (+ dropout but after the last hidden layer) blocks, as the
    authors' code builds them, then a linear output."""

    def __init__(self, settings: ModelSettings = ModelSettings()) -> None:
        if settings.depth < 1 or settings.width < 1:
            raise ValueError(f"depth and width must be at least 1, got {settings.depth} and {settings.width}")
        layers: list[nn.Module] = []
        width_in = settings.n_inputs
        for layer in range(settings.depth):
            dropout = settings.dropout if layer < settings.depth - 1 else 0.0
            layers += [nn.Linear(width_in, settings.width), ReLUDropout(dropout)]
            width_in = settings.width
        layers.append(nn.Linear(width_in, settings.n_classes))
        super().__init__(*layers)
        self.settings = settings


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities (b, c, light) from the network's logits."""
    return torch.softmax(logits, dim=-1)
