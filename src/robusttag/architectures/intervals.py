"""Interval arithmetic for the bounds of the set-based taggers (IBP, Gowal et al. 2018).

An interval is a pair (lower, upper) of float64 tensors of the same shape,
lower <= upper elementwise. Every function returns an interval that holds
every value the exact operation can take for inputs in the given intervals
(sound), not necessarily the smallest one. Linear maps go through the centre
and radius, which is exact for a single linear map; products of two
intervals (attention) through the centre-radius product, sound and within a
factor of the exact range.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

Interval = tuple[torch.Tensor, torch.Tensor]


def affine(interval: Interval, weight: torch.Tensor, bias: torch.Tensor | None) -> Interval:
    """The affine map x W^T + b over the last dimension: exact (the image of a box under one linear map)."""
    lo, hi = interval
    centre, radius = (hi + lo) / 2, (hi - lo) / 2
    centre = centre @ weight.t()
    if bias is not None:
        centre = centre + bias
    radius = radius @ weight.abs().t()
    return centre - radius, centre + radius


def linear(interval: Interval, layer: nn.Linear) -> Interval:
    """A torch Linear layer, in float64."""
    bias = None if layer.bias is None else layer.bias.double()
    return affine(interval, layer.weight.double(), bias)


def relu(interval: Interval) -> Interval:
    lo, hi = interval
    return lo.clamp_min(0), hi.clamp_min(0)


def add(a: Interval, b: Interval) -> Interval:
    return a[0] + b[0], a[1] + b[1]


def scale(interval: Interval, factor: torch.Tensor) -> Interval:
    """Multiplication by exact non-negative factors (a padding mask, a positive constant)."""
    return interval[0] * factor, interval[1] * factor


def matmul(a: Interval, b: Interval) -> Interval:
    """A @ B for A and B anywhere in their intervals (batched over leading dimensions).

    With A = Ac +- Ar and B = Bc +- Br: A B lies in Ac Bc +- (|Ac| Br + Ar |Bc| + Ar Br).
    """
    a_centre, a_radius = (a[1] + a[0]) / 2, (a[1] - a[0]) / 2
    b_centre, b_radius = (b[1] + b[0]) / 2, (b[1] - b[0]) / 2
    centre = a_centre @ b_centre
    radius = a_centre.abs() @ b_radius + a_radius @ (b_centre.abs() + b_radius)
    return centre - radius, centre + radius


def masked_softmax(interval: Interval, keep: torch.Tensor) -> Interval:
    """Softmax over the last dimension where ``keep`` (broadcast to the logits; every row keeps at
    least one entry), 0 exactly elsewhere.

    For logits l <= z <= u: softmax_i lies between exp(l_i) / (exp(l_i) + sum_{j != i} exp(u_j))
    and exp(u_i) / (exp(u_i) + sum_{j != i} exp(l_j)), each the value at a corner of the box.
    """
    lo, hi = interval
    shift = hi.masked_fill(~keep, -torch.inf).amax(-1, keepdim=True)
    low, high = (torch.exp(x - shift).masked_fill(~keep, 0.0) for x in (lo, hi))
    others_high = high.sum(-1, keepdim=True) - high
    others_low = low.sum(-1, keepdim=True) - low
    lower = low / (low + others_high.clamp_min(0))  # the row's largest upper end is 1: never 0 / 0
    denominator = high + others_low.clamp_min(0)
    upper = torch.where(denominator > 0, high / denominator.clamp_min(torch.finfo(lo.dtype).tiny), 1.0)
    lower = torch.nan_to_num(lower, nan=0.0)
    return lower.clamp(0, 1).masked_fill(~keep, 0.0), upper.clamp(0, 1).masked_fill(~keep, 0.0)


def layer_norm(interval: Interval, norm: nn.LayerNorm) -> Interval:
    """A LayerNorm over the last dimension: (x - mean) / sqrt(var + eps) * gamma + beta.

    x - mean is one linear map (exact); the variance (the mean of the squares of those
    deviations) lies between the means of the smallest and largest squares; the ratio of
    an interval to a positive interval takes its extremes at the corners.
    """
    lo, hi = interval
    n = lo.shape[-1]
    centre, radius = (hi + lo) / 2, (hi - lo) / 2
    centre = centre - centre.mean(-1, keepdim=True)
    radius = radius * (1 - 2 / n) + radius.sum(-1, keepdim=True) / n  # |I - 1 1^T / n| applied to the radius
    d_lo, d_hi = centre - radius, centre + radius
    straddles = (d_lo < 0) & (d_hi > 0)
    square_lo = torch.where(straddles, 0.0, torch.minimum(d_lo.square(), d_hi.square()))
    square_hi = torch.maximum(d_lo.square(), d_hi.square())
    root_lo = (square_lo.mean(-1, keepdim=True) + norm.eps).sqrt()
    root_hi = (square_hi.mean(-1, keepdim=True) + norm.eps).sqrt()
    y_lo = torch.where(d_lo < 0, d_lo / root_lo, d_lo / root_hi)
    y_hi = torch.where(d_hi > 0, d_hi / root_lo, d_hi / root_hi)
    if norm.weight is None:
        return y_lo, y_hi
    gamma = norm.weight.double()
    low, high = torch.where(gamma >= 0, y_lo, y_hi) * gamma, torch.where(gamma >= 0, y_hi, y_lo) * gamma
    if norm.bias is not None:
        low, high = low + norm.bias.double(), high + norm.bias.double()
    return low, high


def sequential(interval: Interval, layers: nn.Sequential, specification: torch.Tensor | None = None) -> Interval:
    """Through Linear, ReLU and (evaluation-mode) Dropout layers in turn.

    With a ``specification`` S (pairs, outputs), the last Linear layer is replaced by its rows
    combined as S W, S b: the interval of S z itself (tighter than combining the intervals of z).

    Raises
    ------
    ConfigError
        On a layer without an interval rule, or active dropout.
    """
    modules = list(layers)
    for index, layer in enumerate(modules):
        if isinstance(layer, nn.Linear):
            if specification is not None and index == len(modules) - 1:
                weight = specification @ layer.weight.double()
                bias = None if layer.bias is None else specification @ layer.bias.double()
                interval = affine(interval, weight, bias)
            else:
                interval = linear(interval, layer)
        elif isinstance(layer, nn.ReLU):
            interval = relu(interval)
        elif isinstance(layer, nn.Dropout):
            if layer.training and layer.p > 0:
                raise ConfigError("bounds of a network with active dropout: put it in evaluation mode")
        else:
            raise ConfigError(f"no interval rule for a {type(layer).__name__} layer")
    return interval
