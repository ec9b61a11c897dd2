"""Each jet's distance to its working point: the smallest eps at which an attack moves it across the cut.

A working point is a fixed cut on a discriminator's score; a signal jet is
tagged at or above it, a background jet above it is a mistag. A jet's
distance is the smallest eps (in the usual constraint box: the budget eps
times the per-feature scale, the raw-value cap, floors, immovable inputs) at
which the targeted attack on that discriminator (PGD on its log-odds, pushed
down for signal jets and up for background jets, :mod:`.iterative`) puts it on
the wrong side: a tagged signal jet untagged, an untagged background jet
tagged. A jet already there has distance 0; one the attack cannot move across
within ``max_epsilon`` has an infinite distance.

Found by bisection on eps, every jet at once (each jet its own box): first the
attack at ``max_epsilon``, then ``bisections`` halvings of the interval
between the largest eps that failed and the smallest that succeeded. The
distance is that smallest succeeding eps: an upper bound of the attack's true
threshold, within max_epsilon / 2^bisections of it. Chosen over a
minimal-perturbation attack (DeepFool-like steps to the boundary): the
bisection reuses the suite's attack and its box unchanged, so that the
distance means "the eps of the strong suite at which this jet flips", and its
cost is fixed in advance, (bisections + 1) attacks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..metrics import DISCRIMINATORS
from ..model import probabilities
from .constraints import Constraints
from .iterative import Target, pgd


@dataclass(frozen=True)
class DistanceSearch:
    """How the distances are searched: the largest eps tried, the halvings, and the attack's steps."""

    max_epsilon: float = 0.2
    bisections: int = 8
    steps: int = 5
    step_size: float = 0.5


def distances_to_cuts(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    movable: torch.Tensor,
    constraints: Constraints,
    disc: str,
    cuts,
    search: DistanceSearch = DistanceSearch(),
    batch_size: int = 16384,
) -> tuple[np.ndarray, np.ndarray]:
    """The distances of a discriminator's signal and background jets to each cut.

    Parameters
    ----------
    model : the tagger in evaluation mode.
    x, labels, movable : the jets (standardised inputs, flavours, movable inputs).
    constraints : the box's constants (scaling, floors, budget scale, cap).
    disc : the discriminator (:data:`robusttag.metrics.DISCRIMINATORS`).
    cuts : the working points' cuts on its score.
    search : the bisection's settings.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        The indices of the discriminator's jets among ``x``, and their distances, (jets, cuts):
        0 already on the wrong side, inf not moved across within ``search.max_epsilon``.
    """
    signal, background = DISCRIMINATORS[disc]
    jets = ((labels == signal) | (labels == background)).nonzero().squeeze(1)
    cuts = torch.as_tensor(list(cuts), dtype=torch.float64, device=x.device)
    distances = torch.empty(len(jets), len(cuts), dtype=torch.float64, device=x.device)
    per_batch = max(1, batch_size // max(len(cuts), 1))
    for start in range(0, len(jets), per_batch):
        part = jets[start : start + per_batch]
        rows = part.repeat(len(cuts))  # cut-major: every jet once per cut
        row_cuts = cuts.repeat_interleave(len(part))
        found = _bisect(model, x[rows], labels[rows], movable[rows], constraints, disc, row_cuts, search)
        distances[start : start + len(part)] = found.reshape(len(cuts), len(part)).T
    return jets.cpu().numpy(), distances.cpu().numpy()


def _bisect(model, x, labels, movable, constraints: Constraints, disc, cuts, search: DistanceSearch) -> torch.Tensor:
    """Per row the smallest eps found at which the attack puts the jet on the wrong side of its cut."""
    signal, _ = DISCRIMINATORS[disc]
    is_signal = labels == signal
    distance = torch.full(cuts.shape, torch.inf, dtype=torch.float64, device=x.device)
    wrong = _wrong_side(model, x, is_signal, cuts, disc)
    distance[wrong] = 0.0
    moving = (~wrong).nonzero().squeeze(1)
    if len(moving) == 0:
        return distance
    at_most = torch.full((len(moving),), search.max_epsilon, dtype=torch.float64, device=x.device)
    crossed = _crossed_at(
        model, x[moving], labels[moving], movable[moving], constraints, disc, cuts[moving], at_most, search
    )
    moving = moving[crossed]
    high = torch.full((len(moving),), search.max_epsilon, dtype=torch.float64, device=x.device)
    low = torch.zeros_like(high)
    for _ in range(search.bisections):
        middle = (low + high) / 2
        crossed = _crossed_at(
            model, x[moving], labels[moving], movable[moving], constraints, disc, cuts[moving], middle, search
        )
        high = torch.where(crossed, middle, high)
        low = torch.where(crossed, low, middle)
    distance[moving] = high
    return distance


def _crossed_at(model, x, labels, movable, constraints, disc, cuts, eps, search: DistanceSearch) -> torch.Tensor:
    """Whether the targeted attack at each row's eps puts the jet on the wrong side of its cut."""
    column = eps[:, None]
    lo, hi = constraints.box(x, movable, column)
    budget = (constraints.scale * column).to(x.dtype)
    attacked, _ = pgd(model, Target(x, labels, lo, hi, budget), disc, steps=search.steps, step_size=search.step_size)
    signal, _ = DISCRIMINATORS[disc]
    return _wrong_side(model, attacked, labels == signal, cuts, disc)


@torch.no_grad()
def _wrong_side(model, x, is_signal, cuts, disc) -> torch.Tensor:
    """Signal jets below their cut, background jets at or above it.

    The score as the working points compute it (:func:`robusttag.metrics.discriminant` of the
    float32 probabilities, in float64), so that distance 0 means "on the wrong side in the tables".
    """
    signal, background = DISCRIMINATORS[disc]
    p = probabilities(model(x)).double()
    total = p[:, signal] + p[:, background]
    score = torch.where(total > 0, p[:, signal] / torch.where(total > 0, total, 1.0), 0.5)
    tagged = score >= cuts
    return torch.where(is_signal, ~tagged, tagged)
