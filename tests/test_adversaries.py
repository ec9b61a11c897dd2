"""The adversaries of PGD and NGM training against hand-computed points."""

from __future__ import annotations

import math

import pytest
import torch

from robusttag.attacks.adversaries import default_step_size, ngm_batch, pgd_batch
from robusttag.model import ModelSettings, Tagger


def _linear_two_class(w_gap: torch.Tensor) -> torch.nn.Linear:
    """logits z_1 - z_0 = w_gap . x: the cross-entropy's input gradient of a jet of label t
    is (1 - p_t) (w_other - w_t), so its sign is sign(w_gap) for label 0 everywhere."""
    layer = torch.nn.Linear(len(w_gap), 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.stack([torch.zeros_like(w_gap), w_gap]))
    return layer


def _box(x: torch.Tensor, movable: torch.Tensor, eps: float):
    return torch.where(movable, x - eps, x), torch.where(movable, x + eps, x)


def test_pgd_steps_that_overshoot_end_on_the_vertex_the_gradient_points_to():
    w_gap = torch.tensor([0.5, -2.0, 1.0, 3.0])
    x = torch.tensor([[0.1, 0.2, -0.3, 0.4], [1.0, -1.0, 0.5, 0.0]])
    movable = torch.tensor([[True, True, False, True], [True, False, True, True]])
    lo, hi = _box(x, movable, 0.05)
    point = pgd_batch(
        _linear_two_class(w_gap),
        x,
        torch.zeros(2, dtype=torch.long),
        lo,
        hi,
        torch.tensor(0.05),
        steps=3,
        step_size=0.4,
        random_start=False,
    )
    # 3 x 0.4 of the budget in a constant direction: clamped at the face the gradient's sign points to
    expected = torch.where(movable, torch.where(w_gap > 0, hi, lo), x)
    assert torch.equal(point, expected)


def test_one_pgd_step_of_the_whole_budget_is_fgsm_of_the_cross_entropy():
    torch.manual_seed(3)
    model = Tagger(ModelSettings(n_inputs=6, width=8, depth=2)).eval()
    x, labels = torch.randn(50, 6), torch.randint(0, 3, (50,))
    movable = torch.rand(50, 6) > 0.3
    leaf = x.clone().requires_grad_()
    torch.nn.functional.cross_entropy(model(leaf), labels, reduction="sum").backward()
    eps = 0.1
    expected = torch.where(movable, x + eps * leaf.grad.sign(), x)
    lo, hi = torch.minimum(expected, x), torch.maximum(expected, x)  # a box whose corner is the FGSM point
    point = pgd_batch(model, x, labels, lo, hi, torch.tensor(eps), steps=1, step_size=1.0, random_start=False)
    assert torch.equal(point, expected)


def test_pgd_from_a_random_start_stays_in_the_box_and_is_seeded():
    torch.manual_seed(0)
    model = Tagger(ModelSettings(n_inputs=6, width=8, depth=2)).eval()  # no dropout: the seed moves the start only
    x, labels = torch.randn(300, 6), torch.randint(0, 3, (300,))
    movable = torch.rand(300, 6) > 0.3
    lo, hi = _box(x, movable, 0.2)

    def attack(seed):
        torch.manual_seed(seed)
        return pgd_batch(model, x, labels, lo, hi, torch.tensor(0.2), steps=5, step_size=0.5, random_start=True)

    first = attack(1)
    assert bool(((first >= lo) & (first <= hi)).all()) and torch.equal(first[~movable], x[~movable])
    assert torch.equal(attack(1), first) and not torch.equal(attack(2), first)
    assert default_step_size(5) == 0.5


def test_pgd_raises_the_cross_entropy_above_fgsm_on_average():
    torch.manual_seed(4)
    model = Tagger(ModelSettings(n_inputs=10, width=32, depth=3)).eval()
    x, labels = torch.randn(2000, 10), torch.randint(0, 3, (2000,))
    movable = torch.ones(2000, 10, dtype=torch.bool)
    lo, hi = _box(x, movable, 0.3)
    budget = torch.tensor(0.3)

    def loss(point):
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(model(point), labels).item()

    fgsm = pgd_batch(model, x, labels, lo, hi, budget, steps=1, step_size=1.0, random_start=False)
    pgd = pgd_batch(model, x, labels, lo, hi, budget, steps=10, step_size=0.25, random_start=False)
    assert loss(x) < loss(fgsm) < loss(pgd)


@pytest.mark.parametrize("norm", [2.0, 1.0])
def test_one_ngm_step_follows_the_normed_gradient(norm):
    torch.manual_seed(5)
    model = Tagger(ModelSettings(n_inputs=6, width=8, depth=2)).eval()
    x, labels = torch.randn(40, 6), torch.randint(0, 3, (40,))
    movable = torch.rand(40, 6) > 0.3
    movable[0] = False  # a jet that cannot move
    leaf = x.clone().requires_grad_()
    torch.nn.functional.cross_entropy(model(leaf), labels, reduction="sum").backward()
    eps, g = 0.1, torch.where(movable, leaf.grad, 0.0)
    size = torch.linalg.vector_norm(g, ord=norm, dim=1, keepdim=True)
    m = movable.sum(1, keepdim=True).double()
    expected = x.double() + eps * m ** (1 / norm) * g.double() / torch.where(size > 0, size, 1.0).double()
    wide = torch.full_like(x, math.inf)
    point = ngm_batch(model, x, labels, movable, -wide, wide, torch.tensor(eps), steps=1, step_size=1.0, norm=norm)
    torch.testing.assert_close(point.double(), expected, rtol=0, atol=1e-6)
    assert torch.equal(point[0], x[0])
    # the step's p-norm is that of FGSM's eps * sign over the movable inputs: eps * m^(1/p)
    moved = torch.linalg.vector_norm((point - x).double(), ord=norm, dim=1)
    torch.testing.assert_close(moved[1:], (eps * m[1:, 0] ** (1 / norm)), rtol=1e-5, atol=0)
    # projected into a box: every input inside it
    lo, hi = _box(x, movable, 0.02)
    boxed = ngm_batch(model, x, labels, movable, lo, hi, torch.tensor(eps), steps=3, step_size=0.5, norm=norm)
    assert bool(((boxed >= lo) & (boxed <= hi)).all())
