"""What an iterative attack maximises, per jet, and its gradient with respect to the inputs.

- ``loss``: the cross-entropy -log p_t of the jet's own label, unweighted. The
  focal loss the tagger is trained with is l = -(1 - p_t)^gamma log p_t, a
  decreasing function of log p_t alone, so for one jet it rises exactly where
  the cross-entropy rises and its input gradient points the same way; but in
  float32 (1 - p_t)^(gamma - 1) underflows to 0 for confident jets (p_t above
  about 0.98 at gamma = 25), whose gradient then vanishes. Each jet's
  perturbation acts on its own loss only, so the cross-entropy gives the same
  attack without the underflow.
- a discriminator (signal s, background g): its log-odds
  log(p_s / p_g) = z_s - z_g, pushed down for signal jets and up for background
  jets; jets of the third flavour are not in that discriminator's ROC and are
  not moved (value and gradient 0).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ..metrics import DISCRIMINATORS

LOSS = "loss"


def per_jet_objective(logits: torch.Tensor, labels: torch.Tensor, objective: str) -> torch.Tensor:
    """The value (n,) each jet's attack maximises.

    Raises
    ------
    KeyError
        For an objective that is neither ``loss`` nor a discriminator.
    """
    if objective == LOSS:
        return -torch.log_softmax(logits, dim=-1).gather(1, labels[:, None]).squeeze(1)
    signal, background = DISCRIMINATORS[objective]
    log_odds = logits[:, signal] - logits[:, background]
    direction = (labels == background).to(logits.dtype) - (labels == signal).to(logits.dtype)
    return log_odds * direction


def value_and_gradient(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor, objective: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-jet objective at x and its gradient with respect to x (no parameter gradients).

    Returns
    -------
    tuple[torch.Tensor, torch.Tensor]
        (n,) values and (n, features) gradients, both detached.
    """
    x = x.detach().requires_grad_(True)
    with parameters_frozen(model), torch.enable_grad():
        value = per_jet_objective(model(x), labels, objective)
        (gradient,) = torch.autograd.grad(value.sum(), x)  # separable: the sum's gradient is each jet's
    return value.detach(), gradient


@torch.no_grad()
def value_at(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, objective: str) -> torch.Tensor:
    """Per-jet objective at x, without gradients."""
    return per_jet_objective(model(x), labels, objective)


@contextlib.contextmanager
def parameters_frozen(model: nn.Module) -> Iterator[None]:
    """The parameters do not require gradients inside the block (restored after)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
