"""Exact minima of small ReLU networks for the exact verification's tests (tests/test_exact.py,
tests/test_architectures.py): by enumerating activation patterns, and by the branch and bound itself."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.optimize import linprog

from robusttag.attacks.bounds import preactivation_bounds
from robusttag.attacks.exact import BranchAndBound, Problems


def enumerated_minimum(layers, lo: np.ndarray, hi: np.ndarray, spec: np.ndarray, bounds=None) -> float:
    """min spec . logits over the box: on each activation pattern the network is affine on a
    polytope, where a linear programme finds the minimum; the lowest over all patterns. With
    ``bounds`` (the pre-activation bounds of this box), a neuron they show stable keeps its side."""
    weights = [w.numpy() for w, _ in layers]
    biases = [b.numpy() for _, b in layers]
    widths = [w.shape[0] for w in weights[:-1]]
    if bounds is None:
        free = np.ones(sum(widths), dtype=bool)
        fixed = np.zeros(sum(widths))
    else:
        lower, upper = (np.concatenate([b[i].numpy() for b in bounds]) for i in (0, 1))
        free, fixed = (lower < 0) & (upper > 0), (lower >= 0).astype(float)
    best = np.inf
    for choice in itertools.product((0.0, 1.0), repeat=int(free.sum())):
        pattern = fixed.copy()
        pattern[free] = choice
        matrix, offset, rows, limits, start = np.eye(len(lo)), np.zeros(len(lo)), [], [], 0
        for weight, bias, width in zip(weights, biases, widths):
            z_matrix, z_offset = weight @ matrix, weight @ offset + bias
            on = pattern[start : start + width]
            start += width
            sign = np.where(on > 0, -1.0, 1.0)  # active: -z <= 0; inactive: z <= 0
            rows.append(sign[:, None] * z_matrix)
            limits.append(-sign * z_offset)
            matrix, offset = z_matrix * on[:, None], z_offset * on
        objective = spec @ weights[-1] @ matrix
        result = linprog(objective, A_ub=np.vstack(rows), b_ub=np.concatenate(limits), bounds=list(zip(lo, hi)))
        if result.status == 0:
            best = min(best, result.fun + spec @ (weights[-1] @ offset + biases[-1]))
    return best


def searched(layers, lo, hi, spec, **keywords) -> BranchAndBound:
    """The branch and bound of min spec . logits over each box, 20,000 domains on all problems."""
    search = BranchAndBound(layers, Problems(lo, hi, spec, preactivation_bounds(layers, lo, hi)), **keywords)
    search.search(torch.arange(len(lo)), domains=20_000)
    return search
