"""The strongest attack on a discriminator that a data/simulation comparison of the inputs would not see.

The usual attacks move each jet on its own; their attacked sample shifts some
input's distribution far beyond what an analysis's control plots resolve. Here
the constraints are set-level, on the whole attacked sample against the raw one:

- every input's marginal, for all jets and for each flavour, keeps a two-sample
  Kolmogorov-Smirnov p-value of at least ``p_value`` at the test set's size
  (the distance measured on the attacked jets, the p-value for a comparison with
  as many jets as the test set has, of that flavour);
- the inputs' Pearson correlation matrix changes by at most ``correlation`` in
  relative Frobenius norm, ||C' - C|| / ||C||;
- every jet stays in its usual box (:mod:`.constraints`).

The algorithm: the targeted attack's projected sign steps on the discriminator's
log-odds (:func:`.iterative.pgd`'s steps, every jet at once), each step accepted
input by input. A marginal depends on its own input only, so each input takes the
largest fraction of its step (1, 1/2, ... 1/32, else none) that keeps all its
marginals inside the limit; then, if the correlations moved too far, the whole
step is halved until they do not. At the end each jet may keep its worst point
of the iterates and the FGSM corner, as the targeted attack does, where the
sample still passes every check; else the last iterate stands. A greedy,
feasible-at-every-step ascent rather than a penalty method: the constraints
hold by construction (no multiplier to tune, no final violation to repair), and
with the limits removed every step is taken whole, so the attack is then the
targeted attack itself. The idea of accepting feature changes against marginal
and correlation limits follows CONSERVAttack (arXiv:2603.13970).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import kolmogi
from torch import nn

from ..errors import ConfigError
from ..visibility import ks_p_value
from .constraints import Constraints, project
from .iterative import fgsm_vertex
from .objectives import value_and_gradient, value_at

#: the fractions of a step an input may take, largest first (none: the input stays)
FRACTIONS = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125)


@dataclass(frozen=True)
class Invisibility:
    """The limits of what a data/simulation comparison may see, and the attack's steps."""

    p_value: float = 0.05  #: each marginal's KS p-value at the test set's size at least this (0: no limit)
    correlation: float = 0.01  #: the correlation matrix's relative Frobenius change at most this (inf: none)
    steps: int = 10
    step_size: float = 0.25

    def __post_init__(self) -> None:
        if not 0 <= self.p_value < 1:
            raise ConfigError(f"the invisible attack's KS p-value must lie in [0, 1), got {self.p_value}")
        if not self.correlation > 0:
            raise ConfigError(f"the invisible attack's correlation limit must be positive, got {self.correlation}")
        if self.steps < 1 or not self.step_size > 0:
            raise ConfigError(f"the invisible attack needs steps >= 1 and step_size > 0, got {self}")


class SampleChecks:
    """The set-level checks of an attacked sample against the raw one (the raw side computed once).

    Parameters
    ----------
    raw : (jets, inputs) the raw sample (standardised inputs: a KS distance does not change under the
        per-input affine map to raw units, and the correlations neither).
    labels : (jets,) the flavours.
    test_sizes : flavour -> jets of that flavour in the whole test set (the p-values' sizes).
    limits : the p-value and correlation limits.
    """

    def __init__(self, raw: torch.Tensor, labels: torch.Tensor, test_sizes: dict[int, int], limits: Invisibility):
        self.raw, self.labels, self.limits = raw, labels, limits
        self.groups = [torch.ones_like(labels, dtype=torch.bool)] + [labels == f for f in sorted(test_sizes)]
        sizes = [sum(test_sizes.values()), *(test_sizes[f] for f in sorted(test_sizes))]
        keep = [bool(group.any()) for group in self.groups]
        self.groups = [g for g, k in zip(self.groups, keep) if k]
        self.sizes = [n for n, k in zip(sizes, keep) if k]
        #: the largest KS distance each group's comparison tolerates (two samples of the test set's size)
        self.critical = [_critical_distance(limits.p_value, n) for n, k in zip(sizes, keep) if k]
        self.raw_sorted = [raw[group].T.contiguous().sort(dim=1).values for group in self.groups]
        self.varying = raw.std(0) > 0  # constant inputs have no correlation
        self.raw_correlation = _correlation(raw[:, self.varying])

    def ks(self, attacked: torch.Tensor) -> list[torch.Tensor]:
        """Per group (all jets, then each flavour) the KS distance of every input, (inputs,)."""
        return [_ks_columns(r, attacked[group].T.contiguous()) for r, group in zip(self.raw_sorted, self.groups)]

    def marginals_pass(self, attacked: torch.Tensor) -> torch.Tensor:
        """(inputs,) bool: every group's marginal of the input within its limit."""
        passed = torch.ones(attacked.shape[1], dtype=torch.bool, device=attacked.device)
        for distance, limit in zip(self.ks(attacked), self.critical):
            passed &= distance <= limit
        return passed

    def smallest_p_value(self, attacked: torch.Tensor) -> float:
        """The smallest KS p-value over inputs and groups, each at its group's test-set size."""
        distances = (float(d.max().clamp(max=1.0)) for d in self.ks(attacked))
        return min(ks_p_value(d, n, n) for d, n in zip(distances, self.sizes))

    def correlation_change(self, attacked: torch.Tensor) -> float:
        """||C' - C||_F / ||C||_F over the inputs that vary in the raw sample."""
        change = _correlation(attacked[:, self.varying]) - self.raw_correlation
        return float(torch.linalg.norm(change) / torch.linalg.norm(self.raw_correlation))

    def passes(self, attacked: torch.Tensor) -> bool:
        return (
            bool(self.marginals_pass(attacked).all()) and self.correlation_change(attacked) <= self.limits.correlation
        )


def invisible_attack(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    movable: torch.Tensor,
    constraints: Constraints,
    eps: float,
    disc: str,
    test_sizes: dict[int, int],
    limits: Invisibility = Invisibility(),
) -> torch.Tensor:
    """The attacked sample (the module's docstring): every jet in its box at ``eps``, the sample passing
    :class:`SampleChecks`. Jets of the discriminator's third flavour are not moved (their gradient is 0).
    """
    checks = SampleChecks(x, labels, test_sizes, limits)
    lo, hi = constraints.box(x, movable, eps)
    step = (constraints.scale * eps * limits.step_size).to(x.dtype)
    current = x.clone()
    value, gradient = value_and_gradient(model, current, labels, disc)
    candidates = [(current.clone(), value)]
    vertex = fgsm_vertex(x, lo, hi, gradient)
    candidates.append((vertex, value_at(model, vertex, labels, disc)))
    for _ in range(limits.steps):
        proposal = project(current + gradient.sign() * step, lo, hi)
        current = _accepted(current, proposal - current, checks)
        value, gradient = value_and_gradient(model, current, labels, disc)
        candidates.append((current.clone(), value))
    worst = _worst_per_jet(candidates)
    return worst if checks.passes(worst) else current


def _accepted(current: torch.Tensor, delta: torch.Tensor, checks: SampleChecks) -> torch.Tensor:
    """The step delta, input by input cut to the largest fraction whose marginals pass, then halved as a
    whole while the correlations do not (none of it if they never do).
    """
    fraction = torch.zeros(delta.shape[1], dtype=delta.dtype, device=delta.device)
    open_inputs = torch.ones(delta.shape[1], dtype=torch.bool, device=delta.device)
    for share in FRACTIONS:
        passed = checks.marginals_pass(current + delta * share) & open_inputs
        fraction = torch.where(passed, torch.full_like(fraction, share), fraction)
        open_inputs &= ~passed
        if not open_inputs.any():
            break
    step = delta * fraction
    for scale in FRACTIONS:
        moved = current + step * scale
        if checks.correlation_change(moved) <= checks.limits.correlation and bool(checks.marginals_pass(moved).all()):
            return moved
    return current


def _worst_per_jet(candidates: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Each jet's candidate with the highest objective (the first of equals)."""
    points = torch.stack([c[0] for c in candidates])
    values = torch.stack([c[1] for c in candidates])
    best = values.argmax(0)
    return points[best, torch.arange(points.shape[1], device=points.device)]


def _critical_distance(p_value: float, n: int) -> float:
    """The KS distance whose asymptotic p-value is ``p_value`` for two samples of ``n`` jets (inf for 0)."""
    if p_value <= 0:
        return float("inf")
    return float(kolmogi(p_value) / np.sqrt(n / 2))


def _ks_columns(raw_sorted: torch.Tensor, attacked: torch.Tensor) -> torch.Tensor:
    """Two-sample KS distance of every row (an input's values) of equal-size samples: the largest
    difference of the empirical CDFs, at every value of either sample (ties handled: right-continuous).
    """
    attacked_sorted = attacked.sort(dim=1).values
    n = raw_sorted.shape[1]
    largest = torch.zeros(raw_sorted.shape[0], dtype=torch.float64, device=raw_sorted.device)
    for points in (raw_sorted, attacked_sorted):
        below_raw = torch.searchsorted(raw_sorted, points, right=True)
        below_attacked = torch.searchsorted(attacked_sorted, points, right=True)
        gap = (below_raw - below_attacked).abs().amax(dim=1).double() / n
        largest = torch.maximum(largest, gap)
    return largest


def _correlation(x: torch.Tensor) -> torch.Tensor:
    return torch.corrcoef(x.double().T)
