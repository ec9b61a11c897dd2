"""Adversarial inputs: FGSM in standardised input space (Goodfellow et al., paper Eq. 2),
and the baselines it is compared with (Gaussian noise, a coherent shift).

x_adv = x + eps * sign(grad_x J(x, y)), moving only the inputs that may move:
never the integer features, never a default value (the mask of preprocessing).
At evaluation a cap (paper Eq. 3) limits every step to a fraction of the
input's own raw value, |x_adv - x| <= cap |x| in raw units, so that genuine
zeros stay zero.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .losses import focal_loss


def input_gradient_sign(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    gamma: float = 25.0,
    double_softmax: bool = False,
    into_parameters: bool = False,
) -> torch.Tensor:
    """sign(d J / d x) of the unweighted focal loss, for the model in its current mode.

    With ``into_parameters`` the loss is back-propagated into the parameters'
    ``.grad`` as well (the authors' training code did, see
    ``training.compat.accumulate_attack_grad``); otherwise only the gradient
    with respect to the inputs is computed and the parameters' gradients are
    left untouched.
    """
    x = x.detach().requires_grad_(True)
    if into_parameters:
        focal_loss(model(x), labels, None, gamma, double_softmax).backward()
        return x.grad.sign_()
    with _parameters_frozen(model):  # no weight gradients computed, none accumulated
        (gradient,) = torch.autograd.grad(focal_loss(model(x), labels, None, gamma, double_softmax), x)
    return gradient.sign_()


@contextlib.contextmanager
def _parameters_frozen(model: nn.Module) -> Iterator[None]:
    """The parameters do not require gradients inside the block (restored after)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def fgsm(x: torch.Tensor, sign: torch.Tensor, movable: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The inputs moved by eps * sign where ``movable`` (non-integer, non-default inputs), x elsewhere."""
    return torch.addcmul(x, sign, _as_float(movable, x.dtype), value=epsilon)


def _as_float(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A 0/1 mask as floats: a bool mask through its bytes, whose conversion
    is vectorised (that of bool is not: twice as slow on a CPU).
    """
    return (mask.view(torch.uint8) if mask.dtype == torch.bool else mask).to(dtype)


def raw_step_limit(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, cap: float) -> torch.Tensor:
    """The largest step each input may take under the cap, in standardised units:
    cap * |raw value| / std, with raw = x * std + mean.
    """
    return (x * std + mean).abs_().mul_(cap / std)


def perturb(
    x: torch.Tensor, step: torch.Tensor, movable: torch.Tensor, limit: torch.Tensor | None = None
) -> torch.Tensor:
    """The inputs plus ``step`` where ``movable``, with each step clipped to +-``limit`` when given."""
    if limit is not None:
        step = torch.minimum(torch.maximum(step, -limit), limit)
    return torch.addcmul(x, step, movable.to(x.dtype))


def noise_step(like: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise of width sigma (standardised units), from its own seeded generator."""
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype).mul_(sigma)
