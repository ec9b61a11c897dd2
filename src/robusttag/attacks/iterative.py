"""Iterative attacks inside the constraint box: PGD (L-inf, sign steps) and NGM
(steps along the gradient over its p-norm), and the integer-feature step.

Every attack here works on a stack of jets whose boxes may come from different
epsilons (the caller repeats the jets once per eps, so that all sizes of a job run
as one batched computation), and returns per jet the worst point of all its
candidates: the unattacked jet, every iterate, every restart, and for PGD the
FGSM vertex. Worst means the highest value of the attack's objective
(:mod:`.objectives`). So, by construction, more steps or more restarts never
give a jet a lower objective, and the attack never does better for the model
than no attack.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .constraints import project
from .objectives import value_and_gradient, value_at


@dataclass
class Target:
    """What is attacked: a stack of jets, their labels and boxes."""

    x: torch.Tensor  #: (n, features) standardised inputs
    labels: torch.Tensor  #: (n,)
    lo: torch.Tensor  #: (n, features) the box
    hi: torch.Tensor
    budget: torch.Tensor  #: (n, features) eps * per-feature scale: the size of a full step


class _Worst:
    """Per jet, the candidate with the highest objective so far."""

    def __init__(self, x: torch.Tensor, value: torch.Tensor) -> None:
        self.x, self.value = x.clone(), value.clone()

    def offer(self, x: torch.Tensor, value: torch.Tensor) -> None:
        better = value > self.value
        self.x = torch.where(better[:, None], x, self.x)
        self.value = torch.where(better, value, self.value)


def fgsm_vertex(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """The box's corner the gradient points to (the FGSM point inside the box): hi
    where the gradient is positive, lo where negative, x where it is zero.
    """
    return torch.where(gradient > 0, hi, torch.where(gradient < 0, lo, x))


def random_start(target: Target, generator: torch.Generator) -> torch.Tensor:
    """A point drawn uniformly in the box (immovable inputs stay: their box is a point)."""
    u = torch.rand(target.x.shape, generator=generator, device=target.x.device, dtype=target.x.dtype)
    return project(target.lo + (target.hi - target.lo) * u, target.lo, target.hi)


def pgd(
    model: nn.Module,
    target: Target,
    objective: str,
    *,
    steps: int,
    step_size: float,
    restarts: int = 1,
    random_start_point: bool = False,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Projected gradient ascent with sign steps of ``step_size`` times the budget.

    Parameters
    ----------
    model : the tagger, in evaluation mode.
    target : jets, labels, boxes and budgets.
    objective : ``loss`` or a discriminator name (:mod:`.objectives`).
    steps : iterations per restart (0: the FGSM vertex and the raw jet only).
    step_size : a step's size as a fraction of the budget; it does not depend
        on ``steps``, so a run of k + 1 steps passes through the k-step run's iterates.
    restarts : independent runs; the first starts at the jet itself unless
        ``random_start_point``, the others at random points of the box.
    seed : of the random starts (restart r draws from its own generator seeded
        with seed and r, so a run with more restarts repeats a run with fewer).

    Returns
    -------
    tuple[torch.Tensor, torch.Tensor]
        The worst point of every jet and its objective value.
    """
    value, gradient = value_and_gradient(model, target.x, target.labels, objective)
    worst = _Worst(target.x, value)
    vertex = fgsm_vertex(target.x, target.lo, target.hi, gradient)
    worst.offer(vertex, value_at(model, vertex, target.labels, objective))
    step = target.budget * step_size
    for restart in range(restarts):
        if restart == 0 and not random_start_point:
            x, first = target.x, (value, gradient)
        else:
            generator = torch.Generator(device=target.x.device).manual_seed(seed * 1000 + restart)
            x, first = random_start(target, generator), None
        _ascend(model, target, objective, x, first, steps, worst, lambda g: g.sign().mul_(step))
    return worst.x, worst.value


def ngm(
    model: nn.Module,
    target: Target,
    objective: str,
    movable: torch.Tensor,
    *,
    steps: int = 1,
    step_size: float = 1.0,
    norm: float = 2.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The normed gradient method: steps along grad / ||grad||_p, then projection.

    Over the m movable inputs of a jet the step is budget * m^(1/p) * g / ||g||_p
    (times ``step_size``): the same p-norm as the FGSM step of the same eps,
    spread in proportion to the gradient instead of equally. The box then
    clips every input to its own bound. One step of size 1 is the single NGM,
    several smaller ones the iterated NGM.

    Returns
    -------
    tuple[torch.Tensor, torch.Tensor]
        The worst point of every jet and its objective value.
    """
    direction = normed_step(movable, target.budget, norm, step_size)
    value, gradient = value_and_gradient(model, target.x, target.labels, objective)
    worst = _Worst(target.x, value)
    _ascend(model, target, objective, target.x, (value, gradient), steps, worst, direction)
    return worst.x, worst.value


def normed_step(movable: torch.Tensor, budget: torch.Tensor, norm: float, step_size: float):
    """NGM's step as a function of the input gradient: budget * m^(1/p) * g / ||g||_p over the
    m movable inputs of each jet, times ``step_size`` (0 where the gradient is 0).
    """
    mask = movable.to(budget.dtype)
    spread = mask.sum(1, keepdim=True).pow(1.0 / norm) * step_size

    def step(gradient: torch.Tensor) -> torch.Tensor:
        g = gradient * mask
        size = torch.linalg.vector_norm(g, ord=norm, dim=1, keepdim=True)
        return g.div_(torch.where(size > 0, size, 1.0)).mul_(spread).mul_(budget)

    return step


def _ascend(model, target: Target, objective: str, x, first, steps: int, worst: _Worst, step_of) -> None:
    """``steps`` projected steps from x, each point offered to ``worst``.

    ``first``: the value and gradient at x, when already known.
    """
    x = x.clone()
    for index in range(steps):
        value, gradient = (
            first if index == 0 and first is not None else value_and_gradient(model, x, target.labels, objective)
        )
        worst.offer(x, value)
        x = project(x.add_(step_of(gradient)), target.lo, target.hi)
    worst.offer(x, value_at(model, x, target.labels, objective))


def integer_steps(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    objective: str,
    genuine_integers: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    value: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer features moved by one unit each, up or down as the gradient says, never below 0.

    A jet takes all of its integer moves or none: it keeps them where they raise its objective.

    Parameters
    ----------
    x : (n, features) the attacked jets (their continuous inputs already moved).
    genuine_integers : (n, features) the integer inputs that are not defaults.
    mean, std : the standardisation.
    value : the objective at x.

    Returns
    -------
    tuple[torch.Tensor, torch.Tensor]
        The jets with their integer moves where kept, and the objective there.
    """
    _, gradient = value_and_gradient(model, x, labels, objective)
    direction = torch.sign(gradient)
    moved_raw = (torch.round(x * std + mean) + direction).clamp_(min=0.0)
    moved = torch.where(genuine_integers & (direction != 0), (moved_raw - mean) / std, x)
    moved_value = value_at(model, moved, labels, objective)
    better = moved_value > value
    return torch.where(better[:, None], moved, x), torch.where(better, moved_value, value)
