"""The adversaries of adversarial training beyond FGSM: the batch a PGD or an NGM
training step learns from, crafted on the current model.

Both stay in the evaluation attacks' constraint box (:mod:`.constraints`:
integers and defaults fixed, eps per input, the raw-value cap where one is
set, the default floor) and climb the per-jet cross-entropy of
:mod:`.objectives` (the focal loss's direction without its underflow). Unlike
the evaluation attacks they return the last iterate, not the worst candidate
seen: the training recipe of Madry et al. (PGD) and of the normed gradient
method, which needs no extra forward pass per step. Random starts draw from
torch's default generator of the batch's device, whose state a checkpoint
saves: a resumed training repeats them.
"""

from __future__ import annotations

import torch
from torch import nn

from .constraints import project
from .iterative import normed_step
from .objectives import LOSS, value_and_gradient


def default_step_size(steps: int) -> float:
    """PGD's step as a fraction of the budget when none is given: 2.5 / steps (Madry et al.),
    so that the steps can cross the box and back within the iterations.
    """
    return 2.5 / steps


def pgd_batch(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    budget: torch.Tensor,
    *,
    steps: int,
    step_size: float,
    random_start: bool,
) -> torch.Tensor:
    """Projected sign-gradient ascent of the cross-entropy in the box [lo, hi].

    Parameters
    ----------
    model : the tagger, in the mode the attack is crafted in (dropout on or off).
    x : (n, features) the batch.
    labels : (n,) its labels.
    lo, hi : (n, features) the box (lo = hi = x where an input may not move).
    budget : eps per input (broadcastable to x): a step is ``step_size`` times it.
    steps : iterations, at least 1.
    step_size : fraction of the budget per step.
    random_start : start at a uniform point of the box instead of at x.

    Returns
    -------
    torch.Tensor
        The last iterate, inside the box.
    """
    step = budget * step_size
    point = x.clone()
    if random_start:
        point = project(lo + (hi - lo) * torch.rand(x.shape, device=x.device, dtype=x.dtype), lo, hi)
    for _ in range(steps):
        _, gradient = value_and_gradient(model, point, labels, LOSS)
        point = project(point.add_(gradient.sign_().mul_(step)), lo, hi)
    return point


def ngm_batch(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    movable: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    budget: torch.Tensor,
    *,
    steps: int,
    step_size: float,
    norm: float,
) -> torch.Tensor:
    """Steps along the cross-entropy's gradient over its p-norm (:func:`.iterative.normed_step`), projected
    into the box after each: one step of size 1 moves a jet as far in p-norm as FGSM of the same eps.

    Returns
    -------
    torch.Tensor
        The last iterate, inside the box.
    """
    direction = normed_step(movable, budget.expand_as(x), norm, step_size)
    point = x.clone()
    for _ in range(steps):
        _, gradient = value_and_gradient(model, point, labels, LOSS)
        point = project(point.add_(direction(gradient)), lo, hi)
    return point
