"""The invisible attack (robusttag.attacks.invisible): its own checks redone from scratch, and its strength."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from robusttag.attacks.constraints import Constraints
from robusttag.attacks.invisible import Invisibility, invisible_attack
from robusttag.attacks.iterative import Target, pgd
from robusttag.errors import ConfigError
from robusttag.metrics import DISCRIMINATORS, auc
from robusttag.visibility import ks_distance, ks_p_value

INPUTS, JETS = 6, 3000
#: the test set the p-values are quoted for: ten times the attacked jets
TEST_FACTOR = 10


@pytest.fixture(scope="module")
def setting():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(INPUTS, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)).eval()
    generator = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 3, (JETS,), generator=generator)
    x = torch.randn(JETS, INPUTS, generator=generator) + 0.5 * labels[:, None].float()
    x[:, 5] = torch.where(torch.rand(JETS, generator=generator) < 0.3, -1.0, x[:, 5])  # a point mass
    movable = torch.ones(JETS, INPUTS, dtype=torch.bool)
    movable[:, 4] = False  # an immovable input
    scale = torch.ones(INPUTS, dtype=torch.float64)
    constraints = Constraints(torch.zeros(INPUTS), torch.ones(INPUTS), torch.full((INPUTS,), -1e6), scale, None)
    sizes = {f: TEST_FACTOR * int((labels == f).sum()) for f in range(3)}
    return model, x, labels, movable, constraints, sizes


def _checks(raw, attacked, labels, sizes):
    """The smallest KS p-value over inputs and groups (all, each flavour) and the correlation change,
    computed with the visibility module and numpy, not the attack's own code."""
    smallest = 1.0
    groups = [(np.ones(len(labels), dtype=bool), sum(sizes.values()))] + [(labels == f, n) for f, n in sizes.items()]
    for group, n in groups:
        for i in range(raw.shape[1]):
            distance = ks_distance(raw[group, i], attacked[group, i])
            smallest = min(smallest, ks_p_value(distance, n, n))
    varying = raw.std(0) > 0
    before, after = np.corrcoef(raw[:, varying].T), np.corrcoef(attacked[:, varying].T)
    return smallest, np.linalg.norm(after - before) / np.linalg.norm(before)


def _auc(model, x, labels, disc) -> float:
    signal, background = DISCRIMINATORS[disc]
    with torch.no_grad():
        logits = model(x).double()
    keep = (labels == signal) | (labels == background)
    return auc((logits[:, signal] - logits[:, background])[keep].numpy(), (labels == signal)[keep].numpy())


@pytest.mark.parametrize("disc", ["BvsL", "CvsL"])
def test_the_attacked_sample_passes_its_checks_redone_and_fails_them_twice_as_tight(setting, disc):
    model, x, labels, movable, constraints, sizes = setting
    limits = Invisibility(p_value=0.05, correlation=0.01, steps=10)
    attacked = invisible_attack(model, x, labels, movable, constraints, 0.3, disc, sizes, limits)
    raw, moved, flavours = x.double().numpy(), attacked.double().numpy(), labels.numpy()
    smallest_p, correlation = _checks(raw, moved, flavours, sizes)
    assert smallest_p >= limits.p_value * (1 - 1e-9)
    assert correlation <= limits.correlation + 1e-12
    assert smallest_p < 2 * limits.p_value or correlation > limits.correlation / 2  # the limits are used
    assert all(v == 0 for v in constraints.violations(x, attacked, movable, 0.3).values())
    assert torch.equal(attacked[:, 4], x[:, 4])  # the immovable input
    third = labels == ({0, 1, 2} - set(DISCRIMINATORS[disc])).pop()
    assert torch.equal(attacked[third], x[third])  # the third flavour is not in the ROC: not moved
    assert _auc(model, attacked, labels, disc) < _auc(model, x, labels, disc) - 1e-3  # it does something


def test_without_limits_it_is_the_targeted_attack(setting):
    model, x, labels, movable, constraints, sizes = setting
    unlimited = Invisibility(p_value=0.0, correlation=float("inf"), steps=5, step_size=0.5)
    attacked = invisible_attack(model, x, labels, movable, constraints, 0.3, "BvsL", sizes, unlimited)
    lo, hi = constraints.box(x, movable, 0.3)
    targeted, _ = pgd(model, Target(x, labels, lo, hi, torch.full_like(x, 0.3)), "BvsL", steps=5, step_size=0.5)
    keep = (labels == 0) | (labels == 2)
    targeted = torch.where(keep[:, None], targeted, x)
    assert _auc(model, attacked, labels, "BvsL") <= _auc(model, targeted, labels, "BvsL") + 1e-12
    limited = invisible_attack(model, x, labels, movable, constraints, 0.3, "BvsL", sizes, Invisibility(steps=5))
    assert _auc(model, limited, labels, "BvsL") > _auc(model, attacked, labels, "BvsL")  # the limits cost it


@pytest.mark.parametrize(
    "keywords, message",
    [
        ({"p_value": 1.5}, "p-value must lie in"),
        ({"p_value": -0.1}, "p-value must lie in"),
        ({"correlation": 0.0}, "correlation limit must be positive"),
        ({"steps": 0}, "steps >= 1"),
    ],
)
def test_limits_out_of_range_are_refused(keywords, message):
    with pytest.raises(ConfigError, match=message):
        Invisibility(**keywords)
