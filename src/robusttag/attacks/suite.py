"""The strong attack suite on a batch of test jets: every attack of
``evaluation.attacks`` at every eps, as one batched computation per attack.

The jets are stacked once per eps (eps along the batch), each copy with its
own box, so that one pass of the network serves every size. Afterwards each
jet's attacked point at an eps is replaced by the worst of its points at that
eps and every smaller one: the boxes are nested (a larger eps allows every
point a smaller one does), so this is allowed, and it makes each jet's
objective non-decreasing in eps by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import AttackSettings
from ..metrics import DISCRIMINATORS
from .constraints import Constraints
from .iterative import Target, integer_steps, ngm, pgd
from .objectives import LOSS


@dataclass
class Jets:
    """A batch of test jets as the attacks need them."""

    x: torch.Tensor  #: (n, features) standardised inputs
    labels: torch.Tensor  #: (n,)
    movable: torch.Tensor  #: (n, features) bool: neither integer nor default
    genuine_integers: torch.Tensor  #: (n, features) bool: integer features that are not defaults


def stacked_target(jets: Jets, constraints: Constraints, epsilons: tuple[float, ...]) -> tuple[Target, torch.Tensor]:
    """The jets repeated once per eps (eps-major), with each copy's box and budget, and the stacked movable mask."""
    k = len(epsilons)
    x = jets.x.repeat(k, 1)
    movable = jets.movable.repeat(k, 1)
    eps = torch.tensor(epsilons, dtype=torch.float64, device=x.device).repeat_interleave(len(jets.x))[:, None]
    lo, hi = constraints.box(x, movable, eps)
    budget = (constraints.scale * eps).to(x.dtype)
    return Target(x, jets.labels.repeat(k), lo, hi, budget), movable


def run_attack(
    model: nn.Module, attack: AttackSettings, jets: Jets, constraints: Constraints, epsilons: tuple[float, ...]
) -> dict[str, dict[float, torch.Tensor]]:
    """{attack name: {eps: attacked inputs (n, features)}} of one entry of the suite.

    A targeted entry gives one attack per discriminator, run on that
    discriminator's two flavours only (the others are returned unchanged).
    ``integer_steps`` adds the integer moves after the continuous attack, jet
    by jet where they raise the objective.
    """
    order = sorted(epsilons)
    target, movable = stacked_target(jets, constraints, tuple(order))
    integers = jets.genuine_integers.repeat(len(order), 1) if attack.integer_steps else None
    results = {}
    for name, objective in attack.attack_names().items():
        rows = attacked_rows(target.labels, objective)
        x, value = target.x.clone(), torch.zeros(len(target.x), dtype=target.x.dtype, device=target.x.device)
        part = _rows(target, rows)
        x[rows], value[rows] = _attack_part(model, attack, objective, part, movable[rows], integers, rows, constraints)
        results[name] = dict(zip(order, _worst_so_far(x, value, len(order))))
    return results


def attacked_rows(labels: torch.Tensor, objective: str) -> torch.Tensor:
    """The jets an objective moves: all for the loss; a discriminator's signal and
    background jets for its log-odds (the third flavour is not in its ROC).
    """
    if objective == LOSS:
        return torch.ones_like(labels, dtype=torch.bool)
    signal, background = DISCRIMINATORS[objective]
    return (labels == signal) | (labels == background)


def _rows(target: Target, rows: torch.Tensor) -> Target:
    return Target(target.x[rows], target.labels[rows], target.lo[rows], target.hi[rows], target.budget[rows])


def _attack_part(model, attack: AttackSettings, objective, target: Target, movable, integers, rows, constraints):
    """(attacked jets, objective there) of one objective on the jets it moves."""
    if attack.method == "ngm":
        x, value = ngm(
            model, target, objective, movable, steps=attack.steps, step_size=attack.step_size, norm=attack.norm
        )
    else:
        x, value = pgd(
            model,
            target,
            objective,
            steps=attack.steps,
            step_size=attack.step_size,
            restarts=attack.restarts,
            random_start_point=attack.random_start,
            seed=attack.seed,
        )
    if integers is not None:
        x, value = integer_steps(
            model, x, target.labels, objective, integers[rows], constraints.mean, constraints.std, value
        )
    return x, value


def _worst_so_far(x: torch.Tensor, value: torch.Tensor, k: int) -> list[torch.Tensor]:
    """Per eps (ascending), each jet's worst point over that eps and every smaller one."""
    xs, values = list(x.chunk(k)), list(value.chunk(k))
    for i in range(1, k):
        better = values[i - 1] > values[i]
        xs[i] = torch.where(better[:, None], xs[i - 1], xs[i])
        values[i] = torch.where(better, values[i - 1], values[i])
    return xs
