"""The strong attack suite: the constraint box to the last bit, PGD / targeted / NGM by
hand on linear models, the worst-of-candidates construction, integer steps, the strong
scoring job and its checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robusttag.attacks import Constraints, genuine_floor, project
from robusttag.attacks import constraints as attack_constraints
from robusttag.attacks.iterative import Target, fgsm_vertex, integer_steps, ngm, pgd
from robusttag.attacks.objectives import per_jet_objective, value_at
from robusttag.attacks.suite import Jets, run_attack
from robusttag.config import AttackSettings, EvaluationSettings, ModelSettings, attack_suite
from robusttag.errors import ConfigError
from robusttag.metrics import auc

# --- the box ------------------------------------------------------------------------------


def _random_constraints(n_features: int, cap: float | None, seed: int = 0) -> Constraints:
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(n_features, generator=g) * 3
    std = torch.rand(n_features, generator=g) * 5 + 0.01
    default = mean - std * (1.5 + torch.rand(n_features, generator=g))
    scale = torch.rand(n_features, generator=g, dtype=torch.float64) * 2
    return Constraints(mean, std, genuine_floor(default, mean, std), scale, cap)


@pytest.mark.parametrize("cap", [0.25, None])
def test_every_point_of_the_box_keeps_every_bound_in_float64(cap, monkeypatch):
    constraints = _random_constraints(40, cap)
    g = torch.Generator().manual_seed(1)
    x = torch.maximum(torch.randn(3000, 40, generator=g) * 2, constraints.floor)  # genuine values: above the floor
    x[:50] = constraints.floor  # exactly at the floor: may not go lower
    movable = torch.rand(3000, 40, generator=g) > 0.2
    eps = torch.tensor([0.003, 0.05, 0.7], dtype=torch.float64).repeat_interleave(1000)[:, None]
    lo, hi = constraints.box(x, movable, eps)
    monkeypatch.setattr(attack_constraints, "BOX_JETS", 10**9)  # one pass: the same box as 12 passes of 256 jets
    assert all(torch.equal(a, b) for a, b in zip((lo, hi), constraints.box(x, movable, eps)))
    assert torch.all(lo <= x) and torch.all(x <= hi)
    assert torch.equal(lo[~movable], x[~movable]) and torch.equal(hi[~movable], x[~movable])
    for corner in (lo, hi, project(x + 10 * torch.randn(x.shape, generator=g), lo, hi)):
        assert constraints.violations(x, corner, movable, eps) == dict.fromkeys(
            ("immovable_moved", "budget", "cap", "floor"), 0
        )
    # the box is the largest such: one ulp beyond a bound breaks it (where the bound is not x itself)
    below = torch.nextafter(lo, torch.full_like(lo, -torch.inf))
    outside = movable & (lo < x)
    broken = constraints.violations(x, torch.where(outside, below, x), movable, eps)
    assert sum(broken.values()) == int(outside.sum())


def test_the_floor_is_the_lowest_genuine_float32_above_the_stored_default():
    constraints = _random_constraints(500, 0.25, seed=3)
    mean, std = constraints.mean.double(), constraints.std.double()
    g = torch.Generator().manual_seed(3)
    default = (constraints.mean - constraints.std * (1.5 + torch.rand(500, generator=g))).double()
    floor = genuine_floor(default.float(), constraints.mean, constraints.std)
    stored = (default.float() - constraints.mean) / constraints.std  # what a default becomes
    assert torch.all(floor.double() * std + mean >= default.float().double()) and torch.all(floor > stored)
    lower = torch.nextafter(floor, torch.full_like(floor, -torch.inf))
    assert torch.all((lower.double() * std + mean < default.float().double()) | (lower <= stored))


def test_the_budget_is_eps_times_the_scale_and_the_cap_is_in_raw_units():
    mean, std = torch.tensor([2.0, 0.0]), torch.tensor([4.0, 2.0])
    constraints = Constraints(mean, std, torch.full((2,), -1e30), torch.tensor([1.0, 3.0], dtype=torch.float64), 0.25)
    x = torch.tensor([[1.0, -0.5]])  # raw 6 and -1: caps 0.375 and 0.125 in standardised units
    lo, hi = constraints.box(x, torch.ones(1, 2, dtype=torch.bool), 0.03)
    torch.testing.assert_close(hi - x, torch.tensor([[0.03, 0.09]]))
    lo, hi = constraints.box(x, torch.ones(1, 2, dtype=torch.bool), 0.1)
    torch.testing.assert_close(hi - x, torch.tensor([[0.1, 0.125]]))
    torch.testing.assert_close(x - lo, torch.tensor([[0.1, 0.125]]))


# --- attacks by hand ------------------------------------------------------------------------


def _linear(weight) -> torch.nn.Linear:
    model = torch.nn.Linear(len(weight[0]), 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor(weight))
    return model.eval()


def _open_target(x, eps, labels, movable=None) -> tuple[Target, torch.Tensor]:
    movable = torch.ones_like(x, dtype=torch.bool) if movable is None else movable
    constraints = Constraints(
        torch.zeros(x.shape[1]),
        torch.ones(x.shape[1]),
        torch.full((x.shape[1],), -1e30),
        torch.ones(x.shape[1], dtype=torch.float64),
        None,
    )
    lo, hi = constraints.box(x, movable, eps)
    return Target(x, labels, lo, hi, torch.full_like(x, eps)), movable


def test_targeted_pgd_on_a_linear_discriminator_reaches_the_box_corner():
    """z_b - z_light is linear in x: its worst point over a box is the corner of sign(w_b - w_light)."""
    model = _linear([[1.0, -2.0, 0.5], [0.0, 1.0, -1.0], [-1.0, 0.0, 2.0]])
    x = torch.tensor([[0.2, -0.4, 1.0], [1.0, 0.5, -0.3]])
    labels = torch.tensor([0, 2])  # a b jet (pushed down) and a light jet (pushed up)
    target, _ = _open_target(x, 0.1, labels)
    attacked, value = pgd(model, target, "BvsL", steps=5, step_size=0.25)
    direction = torch.tensor([[2.0, -2.0, -1.5]]).sign()  # w_b - w_light
    expected = torch.stack([x[0] - 0.1 * direction[0], x[1] + 0.1 * direction[0]])
    torch.testing.assert_close(attacked, expected)
    # the log-odds moved by eps * ||w_b - w_light||_1 = 0.1 * 5.5 from the raw value, down for b, up for light
    raw = per_jet_objective(model(x), labels, "BvsL")
    torch.testing.assert_close(value - raw, torch.tensor([0.55, 0.55]))
    # with fewer steps than reach the corner (2 x 0.25 of eps), or none, the FGSM corner is among the candidates
    for steps in (0, 2):
        torch.testing.assert_close(pgd(model, target, "BvsL", steps=steps, step_size=0.25)[0], expected)


def test_ngm_steps_along_the_normed_gradient_and_is_clipped_by_the_box():
    model = _linear([[3.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    x = torch.tensor([[0.0, 0.0, 0.0]])
    movable = torch.tensor([[True, True, False]])
    target, movable = _open_target(x, 0.1, torch.tensor([2]), movable)  # a light jet: z_b - z_l pushed up
    attacked, _ = ngm(model, target, "BvsL", movable, steps=1, step_size=1.0, norm=2.0)
    # gradient over the movable inputs (3, 1): step 0.1 * sqrt(2) * (3, 1) / sqrt(10), then the box clips to 0.1
    step = 0.1 * np.sqrt(2) * np.array([3.0, 1.0]) / np.sqrt(10)
    np.testing.assert_allclose(attacked.numpy()[0], [min(step[0], 0.1), step[1], 0.0], rtol=1e-6)


def test_pgd_is_never_weaker_than_fgsm_fewer_steps_or_fewer_restarts():
    torch.manual_seed(0)
    from robusttag.model import Tagger

    model = Tagger(ModelSettings(n_inputs=6, width=16, depth=3)).eval()
    g = torch.Generator().manual_seed(5)
    x, labels = torch.randn(400, 6, generator=g), torch.randint(0, 3, (400,), generator=g)
    target, _ = _open_target(x, 0.3, labels)
    raw = value_at(model, x, labels, "loss")
    with torch.enable_grad():
        xg = x.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(per_jet_objective(model(xg), labels, "loss").sum(), xg)
    fgsm = value_at(model, fgsm_vertex(x, target.lo, target.hi, gradient), labels, "loss")
    previous = torch.maximum(raw, fgsm)
    for steps in (0, 1, 3, 8):
        attacked, value = pgd(model, target, "loss", steps=steps, step_size=0.25)
        assert torch.all(value >= previous)
        torch.testing.assert_close(value, value_at(model, attacked, labels, "loss"))
        previous = value
    one, _ = pgd(model, target, "loss", steps=4, step_size=0.25, restarts=1, random_start_point=True, seed=2)
    _, v1 = pgd(model, target, "loss", steps=4, step_size=0.25, restarts=1, random_start_point=True, seed=2)
    _, v3 = pgd(model, target, "loss", steps=4, step_size=0.25, restarts=3, random_start_point=True, seed=2)
    assert torch.all(v3 >= v1) and (v3 > v1).any()
    assert torch.all((one >= target.lo) & (one <= target.hi))


def test_targeted_auc_never_rises_with_steps_or_eps():
    torch.manual_seed(1)
    from robusttag.model import Tagger

    model = Tagger(ModelSettings(n_inputs=5, width=12, depth=2)).eval()
    g = torch.Generator().manual_seed(7)
    n = 600
    labels = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 5, generator=g) + labels[:, None].float() * 0.7
    constraints = Constraints(
        torch.zeros(5), torch.ones(5), torch.full((5,), -1e30), torch.ones(5, dtype=torch.float64), None
    )
    jets = Jets(x, labels, torch.ones_like(x, dtype=torch.bool), torch.zeros_like(x, dtype=torch.bool))

    def cvsl_auc(inputs):
        logits = model(inputs).detach()
        both = (labels == 1) | (labels == 2)
        return auc((logits[both, 1] - logits[both, 2]).numpy(), (labels[both] == 1).numpy())

    raw = cvsl_auc(x)
    aucs = {}
    for steps in (1, 4):
        attack = AttackSettings("targeted", steps=steps, step_size=0.25)
        attacked = run_attack(model, attack, jets, constraints, (0.02, 0.1, 0.3))["targeted_CvsL"]
        aucs[steps] = [cvsl_auc(attacked[eps]) for eps in (0.02, 0.1, 0.3)]
        assert raw >= aucs[steps][0] >= aucs[steps][1] >= aucs[steps][2]
    assert all(strong <= weak for strong, weak in zip(aucs[4], aucs[1]))
    assert aucs[4][2] < raw - 0.05  # the attack does something
    # eps = 0 is the identity
    unchanged = run_attack(model, AttackSettings("targeted"), jets, constraints, (0.0,))
    assert all(torch.equal(v[0.0], x) for v in unchanged.values())


def test_integer_steps_move_one_raw_unit_never_below_zero_where_the_objective_rises():
    model = _linear([[0.0, 0.0], [0.0, 0.0], [2.0, 0.0]])  # the light logit rises with the first input
    mean, std = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 1.0])
    raw = torch.tensor([[0.0, 3.0], [2.0, 1.0]])  # track counts
    x = (raw - mean) / std
    labels = torch.tensor([0, 2])  # b jet: loss rises with z_light (count up); light jet: loss rises with count down
    integers = torch.tensor([[True, False], [True, False]])
    value = value_at(model, x, labels, "loss")
    moved, new_value = integer_steps(model, x, labels, "loss", integers, mean, std, value)
    torch.testing.assert_close(moved * std + mean, torch.tensor([[1.0, 3.0], [1.0, 1.0]]))
    assert torch.all(new_value > value)
    zero = (torch.tensor([[0.0, 3.0]]) - mean) / std  # a light jet at 0 tracks cannot go lower
    same, _ = integer_steps(
        model, zero, labels[1:], "loss", integers[:1], mean, std, value_at(model, zero, labels[1:], "loss")
    )
    assert torch.equal(same, zero)


# --- settings ---------------------------------------------------------------------------------


def test_the_suite_names_its_attacks_and_refuses_repeats():
    suite = EvaluationSettings().attacks
    names = [n for a in suite for n in a.attack_names()]
    assert names == ["pgd", "ngm", "ngm_iterated", "targeted_BvsL", "targeted_CvsL", "targeted_BvsC"]
    with pytest.raises(ConfigError, match="used twice"):
        attack_suite([{"method": "pgd"}, {"method": "pgd"}])
    with pytest.raises(ConfigError, match="used twice"):
        attack_suite([{"method": "pgd", "name": "fgsm"}])
    with pytest.raises(ConfigError, match="method must be one of"):
        attack_suite([{"method": "cw"}])
    with pytest.raises(ConfigError, match="unknown key"):
        attack_suite([{"method": "pgd", "stepz": 3}])
    assert AttackSettings("pgd", name="pgd_d", objective="discriminator").attack_names()["pgd_d_CvsL"] == "CvsL"
