"""The exact verification (robusttag.attacks.exact, .worst_case): against enumeration, CROWN and attacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from relu_minima import enumerated_minimum, searched
from torch import nn

from robusttag.attacks.bounds import affine_layers, logit_difference_bounds, preactivation_bounds
from robusttag.attacks.exact import TOLERANCE, BranchAndBound, Problems
from robusttag.attacks.iterative import Target, pgd
from robusttag.attacks.worst_case import check_budget, exact_worst_case
from robusttag.config import ModelSettings, StrongAttackSettings
from robusttag.errors import ConfigError
from robusttag.metrics import DISCRIMINATORS, auc
from robusttag.model import Tagger

F64 = torch.float64
#: one row per problem: minimise spec . logits (a signal jet of BvsL, a background one of CvsL, ...)
SPECS = torch.tensor([[1.0, 0, -1], [0, -1, 1], [-1, 1, 0], [1, -1, 0]], dtype=F64)


def _network(seed: int, inputs: int, widths: tuple[int, ...]) -> nn.Sequential:
    torch.manual_seed(seed)
    layers, width_in = [], inputs
    for width in widths:
        layers += [nn.Linear(width_in, width), nn.ReLU()]
        width_in = width
    return nn.Sequential(*layers, nn.Linear(width_in, 3)).eval()


def _boxes(seed: int, jets: int, inputs: int, radius: float):
    centre = torch.randn(jets, inputs, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return centre - radius, centre + radius


@pytest.mark.parametrize("leaf_binaries", [0, 6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_search_finds_theenumerated_minimum(seed, leaf_binaries):
    """On a 3-5-4-3 network every problem is solved, its bound and its point at the minimum found by
    enumerating the activation patterns; with leaf_binaries 0 by branching alone, with 6 through HiGHS."""
    layers = affine_layers(_network(seed, 3, (5, 4)))
    lo, hi = _boxes(seed, 4, 3, 0.6)
    search = searched(layers, lo, hi, SPECS, leaf_binaries=leaf_binaries)
    exact = np.array([enumerated_minimum(layers, lo[i].numpy(), hi[i].numpy(), SPECS[i].numpy()) for i in range(4)])
    assert search.solved.all()
    lower, upper = search.lower.numpy(), search.upper.numpy()
    assert (lower <= exact + 1e-9).all() and (exact <= upper + 1e-9).all()
    assert (upper - exact <= TOLERANCE).all()
    # the point is in its box and the network's value there is the minimum
    assert ((search.point >= lo) & (search.point <= hi)).all()
    assert torch.allclose(search.value(search.point, torch.arange(4)), search.upper, atol=0, rtol=0)
    # the incomplete bound (alpha-CROWN, before any branching) was below it somewhere: the search did work
    assert (search.root_lower.numpy() < exact - 1e-4).any()


def test_on_a_wider_network_the_bound_lies_between_crown_and_every_attack():
    """32-32-32: never below CROWN's bound, never above the value at any attack point (PGD, 20 steps,
    3 restarts, from the jets and random starts), and the branching raises the bound."""
    model = _network(3, 8, (32, 32, 32))
    layers = affine_layers(model)
    lo, hi = _boxes(4, 12, 8, 0.3)
    x = ((lo + hi) / 2).float()
    labels = torch.tensor([0, 2] * 6)
    spec = torch.zeros(12, 3, dtype=F64)
    spec[labels == 0, 0], spec[labels == 0, 2] = 1.0, -1.0  # BvsL: b jets' log-odds down, light jets' up
    spec[labels == 2, 0], spec[labels == 2, 2] = -1.0, 1.0
    crown = logit_difference_bounds(model, lo.float(), hi.float(), {"BvsL": (0, 2)})["BvsL"]
    crown_lower = torch.where(labels == 0, crown[0], -crown[1])
    attacked, _ = pgd(
        model,
        Target(x, labels, lo.float(), hi.float(), (hi - lo).float()),
        "BvsL",
        steps=20,
        step_size=0.1,
        restarts=3,
        random_start_point=True,
    )
    search = BranchAndBound(layers, Problems(lo, hi, spec, preactivation_bounds(layers, lo, hi)))
    attack_values = search.value(attacked.double(), torch.arange(12))
    search.search(torch.arange(12), domains=3000)
    assert (search.lower >= crown_lower - 1e-9).all()
    assert (search.lower <= attack_values + 1e-9).all()
    assert (search.lower <= search.upper).all()
    assert (search.lower > crown_lower + 1e-6).any()


def _worst_case(domains: int):
    model = Tagger(ModelSettings(n_inputs=6, width=16, depth=3, dropout=0.0)).eval()
    torch.manual_seed(5)
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.5)
    lo, hi = _boxes(6, 60, 6, 0.15)
    labels = np.tile([0, 1, 2], 20)
    networks = [(affine_layers(model), np.arange(len(lo)))]
    return model, labels, exact_worst_case(networks, lo, hi, labels, DISCRIMINATORS, domains)


def test_the_worst_case_auc_bracket_closes_with_the_budget_and_is_reproducible():
    """The certified AUC never exceeds the attack's; a larger budget never widens the bracket
    (the search of the smaller budget is its beginning); the same budget gives the same numbers."""
    _, labels, small = _worst_case(200)
    _, _, again = _worst_case(200)
    _, _, large = _worst_case(20_000)
    for name, (signal, background) in DISCRIMINATORS.items():
        brackets = []
        for result in (small, large):
            case = result[name]
            assert set(labels[case.jets]) == {signal, background}
            sign = np.where(case.is_signal, 1.0, -1.0)
            assert (sign * case.certified <= sign * case.attained + 1e-9).all()
            certified, attained = auc(case.certified, case.is_signal), auc(case.attained, case.is_signal)
            assert certified <= attained
            brackets.append(attained - certified)
        assert brackets[1] <= brackets[0] + 1e-12
        np.testing.assert_array_equal(small[name].certified, again[name].certified)
        np.testing.assert_array_equal(small[name].attained, again[name].attained)
    assert sum(large[name].solved.sum() for name in large) > sum(small[name].solved.sum() for name in small)


def test_budgets_that_are_not_positive_are_refused():
    for budget in (0, -5):
        with pytest.raises(ConfigError, match="positive number of domains"):
            check_budget(budget)
        with pytest.raises(ConfigError, match="exact_domains must be a positive number or null"):
            StrongAttackSettings(exact_domains=budget)
    assert StrongAttackSettings(exact_domains=None).exact_domains is None


def test_with_the_open_domains_capped_the_bounds_stay_sound_and_the_search_ends(monkeypatch):
    """Beyond MAX_OPEN_NEURONS the highest-bound domains are closed where they stand: fewer jets solved, but every
    certified value still at or below the attack's, and the budget loop ends though problems stay unsolved."""
    import robusttag.attacks.exact as exact

    _, _, free = _worst_case(6000)
    monkeypatch.setattr(exact, "MAX_OPEN_NEURONS", 8 * 3 * 16)  # 8 domains of the 3 x 16 network
    _, _, capped = _worst_case(6000)
    for name in DISCRIMINATORS:
        case = capped[name]
        sign = np.where(case.is_signal, 1.0, -1.0)
        assert (sign * case.certified <= sign * case.attained + 1e-9).all()
    assert sum(capped[n].solved.sum() for n in capped) < sum(free[n].solved.sum() for n in free)
