"""Training against attacks: a batch replaced by its attacked version, crafted on the current model (FGSM in
mode ``adversarial``, the paper's; PGD and NGM in the evaluation attacks' box).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..attacks import Constraints, fgsm, input_gradient_sign
from ..attacks.adversaries import default_step_size, ngm_batch, pgd_batch
from ..config import TrainingSettings
from ..data import Split
from ..errors import ConfigError
from ..losses import focal_loss


def backpropagate(
    model: torch.nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    movable: torch.Tensor | None,
    settings: TrainingSettings,
    box: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Loss of one batch of nominal or attack training, its gradients accumulated into the parameters.

    An attacking mode replaces the batch by its attacked version first
    (:func:`adversarial_batch`); with ``clean_fraction`` f the loss is
    (1 - f) times the attacked batch's plus f times the clean batch's, else
    the network never sees the clean batch.
    """
    clean = x
    if settings.attacks:
        x = adversarial_batch(model, x, labels, movable, settings, box)
    loss = focal_loss(model(x), labels, weights, settings.focal_gamma, settings.double_softmax)
    if settings.attacks and settings.clean_fraction > 0:
        clean_loss = focal_loss(model(clean), labels, weights, settings.focal_gamma, settings.double_softmax)
        loss = (1 - settings.clean_fraction) * loss + settings.clean_fraction * clean_loss
    loss.backward()
    return loss


def adversarial_batch(
    model: torch.nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    movable: torch.Tensor,
    settings: TrainingSettings,
    box: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The attacked version of a batch, crafted on the current model: FGSM (Eq. 2, no cap) in mode
    ``adversarial``; PGD or NGM (:mod:`.attacks.adversaries`) in ``box``, the batch's (lo, hi) at
    ``epsilon`` (:func:`attack_box`), with steps in units of ``epsilon``.

    Raises
    ------
    ConfigError
        For PGD or NGM without a box.
    """
    if not settings.attack_dropout:
        model.eval()
    try:
        if settings.mode == "adversarial":
            sign = input_gradient_sign(
                model,
                x,
                labels,
                gamma=settings.focal_gamma,
                double_softmax=settings.double_softmax,
                into_parameters=settings.accumulate_attack_grad,
            )
            return fgsm(x, sign, movable, settings.epsilon)
        if box is None:
            raise ConfigError(f"training mode {settings.mode} needs the constraint box of its inputs")
        lo, hi = box
        budget = x.new_full((), settings.epsilon)  # made on the device: no host copy per batch
        if settings.mode == "pgd":
            step_size = settings.pgd_step_size or default_step_size(settings.pgd_steps)
            return pgd_batch(
                model,
                x,
                labels,
                lo,
                hi,
                budget,
                steps=settings.pgd_steps,
                step_size=step_size,
                random_start=settings.pgd_random_start,
            )
        return ngm_batch(
            model,
            x,
            labels,
            movable,
            lo,
            hi,
            budget,
            steps=settings.ngm_steps,
            step_size=settings.ngm_step_size,
            norm=settings.ngm_norm,
        )
    finally:
        model.train()


@torch.no_grad()
def attack_box(data: Split, summary: dict, settings: TrainingSettings) -> Split:
    """The split with the attack box of every jet at the training epsilon: the evaluation attacks' box
    (:class:`.attacks.Constraints`: integers and defaults fixed, eps per input, the mode's raw-value cap,
    the default floor, exact to the last bit), computed once, since it depends on the jet alone, and
    gathered with each batch. It holds twice the split's inputs in memory.
    """
    constraints = Constraints.from_summary(summary, data.x.device, cap=settings.attack_cap)
    lo, hi = constraints.box(data.x, data.movable, settings.epsilon)
    return replace(data, lo=lo, hi=hi)
