"""The paper's tagger: a fully connected network on the model inputs.

184 (6 track slots; in general as many as ``preprocessing.json`` lists)
-> 5 x 100 (ReLU, dropout 0.1 after every hidden layer but the last) -> 3.
The network returns logits; class probabilities (b, c, light) are their
softmax (:func:`probabilities`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .errors import ConfigError
from .settings import ModelSettings


class _ReLUDropoutFunction(torch.autograd.Function):
    """relu(x) * keep / (1 - p), computed in place on x (a linear layer's
    output, which its own backward pass does not need).

    The backward pass needs no saved mask: an output is positive exactly where
    the input was positive and kept, and there the derivative is 1 / (1 - p).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float, own_gradient: bool) -> torch.Tensor:
        ctx.mark_dirty(x)
        x.relu_()
        if p > 0:
            x.mul_(_kept(x, p)).mul_(1.0 / (1.0 - p))
        ctx.scale = 1.0 / (1.0 - p)
        ctx.own_gradient = own_gradient
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (output,) = ctx.saved_tensors
        if ctx.own_gradient:  # a fresh tensor nobody else holds: overwrite it
            torch.ops.aten.threshold_backward.grad_input(grad, output, 0, grad_input=grad)
        else:
            grad = torch.ops.aten.threshold_backward(grad, output, 0)
        return (grad.mul_(ctx.scale) if ctx.scale != 1.0 else grad), None, None


_LANE_BITS = 16


def _kept(x: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout's draws, shaped like x: 1 with probability 1 - p, else 0.

    Each draw is one 16-bit lane of a 64-bit random word (four draws per
    word), compared with a threshold in exact small integers: several times
    cheaper on a CPU than ``bernoulli_``, which draws a float per element. The
    drop probability is p rounded to a multiple of 2^-16 (0.1000061 for 0.1),
    well below a batch's own fluctuation.
    """
    n = x.numel()
    lanes = _random_words((n + 3) // 4, x.device).view(torch.int16)[:n]  # uniform in [-2^15, 2^15)
    threshold = -(1 << (_LANE_BITS - 1)) + round(p * (1 << _LANE_BITS))  # kept: lane >= threshold
    return lanes.clamp_(threshold - 1, threshold).sub_(threshold - 1).to(x.dtype).view(x.shape)


def _random_words(n: int, device: torch.device) -> torch.Tensor:
    """N uniform random 64-bit integers, determined by the default generator's state.

    On a CPU they come from numpy's SFC64, seeded by one draw of the default
    generator: twice as fast as the default generator's Mersenne Twister, and
    still reproduced by ``torch.manual_seed`` and restored with its state.
    """
    if device.type != "cpu":
        return torch.empty(n, dtype=torch.int64, device=device).random_(-(1 << 63), None)
    seed = int(torch.randint(1 << 62, ()))
    return torch.from_numpy(np.random.SFC64(seed).random_raw(n).view(np.int64))


class ReLUDropout(nn.Module):
    """ReLU followed by dropout, fused: the same mathematics as ``nn.ReLU`` then
    ``nn.Dropout(p)``, at a fraction of the cost; in place, like ``nn.ReLU(inplace=True)``.
    """

    def __init__(self, p: float = 0.0, *, feeds_linear: bool = False) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ConfigError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        #: the output goes only into a linear layer, whose backward pass hands
        #: over a fresh gradient that may be overwritten
        self.feeds_linear = feeds_linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReLUDropoutFunction.apply(x, self.p if self.training else 0.0, self.feeds_linear)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _LinearFunction(torch.autograd.Function):
    """x W^T + b with the bias gradient summed in blocks (below)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return torch.addmm(bias, x, weight.t())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad @ weight if ctx.needs_input_grad[0] else None
        grad_weight = grad.t() @ x if ctx.needs_input_grad[1] else None
        grad_bias = _sum_over_batch(grad) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


def _sum_over_batch(grad: torch.Tensor, block: int = 256) -> torch.Tensor:
    """Column sums of a (batch, n) matrix: partial sums over row blocks first,
    which runs about twice as fast on a CPU as a single sum over dimension 0.
    """
    rows = grad.shape[0] - grad.shape[0] % block
    total = grad[:rows].view(-1, block, grad.shape[1]).sum(1).sum(0) if rows else grad.new_zeros(grad.shape[1])
    return total + grad[rows:].sum(0) if rows < grad.shape[0] else total


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same mathematics) with a faster backward pass."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bias is None:
            return super().forward(x)
        return _LinearFunction.apply(x, self.weight, self.bias)


class Tagger(nn.Sequential):
    """Linear + ReLU (+ dropout but after the last hidden layer) blocks, as the
    authors' code builds them, then a linear output.
    """

    def __init__(self, settings: ModelSettings | None = None) -> None:
        settings = settings or ModelSettings()
        layers: list[nn.Module] = []
        width_in = settings.n_inputs
        for layer in range(settings.depth):
            dropout = settings.dropout if layer < settings.depth - 1 else 0.0
            layers += [Linear(width_in, settings.width), ReLUDropout(dropout, feeds_linear=True)]
            width_in = settings.width
        layers.append(Linear(width_in, settings.n_classes))
        super().__init__(*layers)
        self.settings = settings


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities (b, c, light) from the network's logits."""
    return torch.softmax(logits, dim=-1)
