"""Tests of robusttag.attacks.bounds: soundness against dense sampling, tightness, closed forms, certified AUC."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from robusttag.attacks import bounds as bounds_module
from robusttag.attacks.bounds import _relaxation, certified_auc, logit_difference_bounds
from robusttag.config import ModelSettings
from robusttag.errors import ConfigError, ResultsError
from robusttag.metrics import DISCRIMINATORS, auc
from robusttag.model import Linear, Tagger

METHODS = ("ibp", "crown")
TINY = {"n_inputs": 3, "width": 4, "depth": 2, "dropout": 0.1}
F64 = torch.float64


def _tagger(seed: int, **shape) -> Tagger:
    torch.manual_seed(seed)
    return Tagger(ModelSettings(**shape)).eval()


def _set_weights(model: Tagger, weights: list[list[list[float]]], biases: list[list[float]]) -> Tagger:
    layers = [m for m in model if isinstance(m, Linear)]
    with torch.no_grad():
        for layer, weight, bias in zip(layers, weights, biases, strict=True):
            layer.weight.copy_(torch.tensor(weight))
            layer.bias.copy_(torch.tensor(bias))
    return model


def _differences(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """z_s - z_g of a float64 copy of the model at the points x (..., inputs)."""
    with torch.no_grad():
        logits = copy.deepcopy(model).double()(x.to(F64).reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)
    return {name: logits[..., s] - logits[..., g] for name, (s, g) in DISCRIMINATORS.items()}


def _random_boxes(seed: int, jets: int, inputs: int, scale: float = 1.0, fixed=()):
    generator = torch.Generator().manual_seed(seed)
    centre = torch.randn(jets, inputs, generator=generator, dtype=F64)
    radius = scale * torch.rand(jets, inputs, generator=generator, dtype=F64)
    radius[:, list(fixed)] = 0.0
    return centre - radius, centre + radius


def _points_in(lo: torch.Tensor, hi: torch.Tensor, seed: int, random: int = 2000, grid: int = 0) -> torch.Tensor:
    """Every vertex of each box, a grid of ``grid`` points per side and random points: (jets, points, inputs)."""
    inputs = lo.shape[1]
    parts = [torch.tensor(list(itertools.product((0.0, 1.0), repeat=inputs)), dtype=F64)]
    if grid:
        parts.append(torch.cartesian_prod(*[torch.linspace(0, 1, grid, dtype=F64)] * inputs))
    parts.append(torch.rand(random, inputs, generator=torch.Generator().manual_seed(seed), dtype=F64))
    fractions = torch.cat(parts)
    return lo[:, None, :] + fractions[None] * (hi - lo)[:, None, :]


def _assert_contains(bounds, values, tolerance: float = 1e-9) -> None:
    for name, (lower, upper) in bounds.items():
        assert bool((lower <= values[name].min(1).values + tolerance).all()), name
        assert bool((upper >= values[name].max(1).values - tolerance).all()), name


# --- soundness --------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fixed", [(), (1,)])
def test_bounds_contain_the_differences_at_vertices_grid_and_random_points(method, fixed):
    model = _tagger(0, **TINY)
    lo, hi = _random_boxes(1, jets=6, inputs=3, fixed=fixed)
    bounds = logit_difference_bounds(model, lo, hi, DISCRIMINATORS, method=method)
    assert set(bounds) == set(DISCRIMINATORS)
    assert all(b.dtype == F64 and b.shape == (6,) for pair in bounds.values() for b in pair)
    _assert_contains(bounds, _differences(model, _points_in(lo, hi, seed=2, grid=9)))


@pytest.mark.parametrize("method", METHODS)
def test_bounds_contain_the_differences_on_a_deeper_net(method):
    model = _tagger(3, n_inputs=8, width=20, depth=3, dropout=0.1)
    lo, hi = _random_boxes(4, jets=100, inputs=8, scale=0.3, fixed=(0, 5))
    bounds = logit_difference_bounds(model, lo, hi, DISCRIMINATORS, method=method, batch_size=37)
    _assert_contains(bounds, _differences(model, _points_in(lo, hi, seed=5, random=1000)))


def test_batches_steps_and_plain_torch_layers_give_the_same_bounds(monkeypatch):
    model = _tagger(6, n_inputs=8, width=20, depth=3, dropout=0.1)
    plain = nn.Sequential(*(nn.ReLU() if not isinstance(m, nn.Linear) else m for m in model))
    nested = nn.Sequential(plain[:3], plain[3:])
    lo, hi = (x.float() for x in _random_boxes(7, jets=50, inputs=8, scale=0.3))  # float32 boxes work too
    reference = logit_difference_bounds(model, lo, hi, DISCRIMINATORS)
    for other, batch_size, chunk in ((model, 7, None), (plain, 65536, 3000), (nested, 11, None)):
        if chunk:  # CROWN's steps within a batch: 3000 // (2 x 20 rows x 20 inputs) = 3 jets
            monkeypatch.setattr(bounds_module, "_CHUNK_ELEMENTS", chunk)
        bounds = logit_difference_bounds(other, lo, hi, DISCRIMINATORS, batch_size=batch_size)
        monkeypatch.undo()
        for name, (lower, upper) in bounds.items():
            torch.testing.assert_close(lower, reference[name][0], rtol=0, atol=1e-12)
            torch.testing.assert_close(upper, reference[name][1], rtol=0, atol=1e-12)


# --- tightness ---------------------------------------------------------------------


def test_crown_is_never_looser_than_ibp_and_strictly_tighter_on_a_deeper_net():
    model = _tagger(8, n_inputs=10, width=20, depth=3, dropout=0.1)
    lo, hi = _random_boxes(9, jets=200, inputs=10, scale=0.3)
    ibp = logit_difference_bounds(model, lo, hi, DISCRIMINATORS, method="ibp")
    crown = logit_difference_bounds(model, lo, hi, DISCRIMINATORS, method="crown")
    for name in DISCRIMINATORS:
        (ibp_lower, ibp_upper), (crown_lower, crown_upper) = ibp[name], crown[name]
        assert bool((crown_lower >= ibp_lower).all()) and bool((crown_upper <= ibp_upper).all())
        tighter = (crown_upper - crown_lower) < 0.9 * (ibp_upper - ibp_lower)
        assert tighter.double().mean() > 0.5, name


@pytest.mark.parametrize("shape", [TINY, {"n_inputs": 20, "width": 30, "depth": 4, "dropout": 0.1}])
@pytest.mark.parametrize("method", METHODS)
def test_a_zero_width_box_gives_the_models_own_difference(shape, method):
    model = _tagger(10, **shape)
    x = torch.randn(40, shape["n_inputs"], generator=torch.Generator().manual_seed(11))
    logits = model(x)  # the float32 model itself
    bounds = logit_difference_bounds(model, x, x.clone(), DISCRIMINATORS, method=method)
    for name, (s, g) in DISCRIMINATORS.items():
        lower, upper = bounds[name]
        torch.testing.assert_close(lower, upper, rtol=0, atol=1e-12)
        torch.testing.assert_close(lower, (logits[:, s] - logits[:, g]).double(), rtol=0, atol=1e-5)


def test_crown_is_exact_where_every_relu_is_stable():
    # positive hidden weights, inputs within [-1.5, 1.5] and biases of 10: every hidden
    # pre-activation is positive, the network is affine over the boxes, M x + beta
    model = _tagger(12, **TINY)
    with torch.no_grad():
        for layer in list(model)[:-1:2]:
            layer.weight.abs_()
            layer.bias.fill_(10.0)
    generator = torch.Generator().manual_seed(13)
    centre = 2 * torch.rand(30, 3, generator=generator, dtype=F64) - 1
    radius = 0.5 * torch.rand(30, 3, generator=generator, dtype=F64)
    lo, hi = centre - radius, centre + radius
    w1, w2, w3 = (m.weight.double() for m in list(model)[::2])
    b1, b2, b3 = (m.bias.double() for m in list(model)[::2])
    assert bool((lo.abs().max() * w1.abs().sum(1) < b1).all())  # first layer positive over the boxes
    matrix, offset = w3 @ w2 @ w1, w3 @ (w2 @ b1 + b2) + b3
    crown = logit_difference_bounds(model, lo, hi, DISCRIMINATORS, method="crown")
    ibp = logit_difference_bounds(model, lo, hi, DISCRIMINATORS, method="ibp")
    for name, (s, g) in DISCRIMINATORS.items():
        coefficients = matrix[s] - matrix[g]
        middle = centre @ coefficients + offset[s] - offset[g]
        spread = radius @ coefficients.abs()
        torch.testing.assert_close(crown[name][0], middle - spread, rtol=0, atol=1e-9)
        torch.testing.assert_close(crown[name][1], middle + spread, rtol=0, atol=1e-9)
        # IBP loses the correlations between neurons: the closed form is not its answer
        assert bool(((ibp[name][1] - ibp[name][0]) > 2 * spread + 1e-3).all()), name


def test_ibp_bounds_the_folded_difference_not_two_intervals():
    # z_b = z_c = relu(x), z_light = 0, x in [-1, 1]: z_b - z_c is exactly 0, while
    # separate intervals of z_b and z_c would give [-1, 1]
    model = _set_weights(_tagger(0, n_inputs=1, width=1, depth=1), [[[1.0]], [[1.0], [1.0], [0.0]]], [[0.0], [0.0] * 3])
    lo, hi = torch.tensor([[-1.0]]), torch.tensor([[1.0]])
    for method in METHODS:
        bounds = logit_difference_bounds(model, lo, hi, DISCRIMINATORS, method=method)
        assert [bounds["BvsC"][0].item(), bounds["BvsC"][1].item()] == [0.0, 0.0]
        assert [bounds["BvsL"][0].item(), bounds["BvsL"][1].item()] == [0.0, 1.0]


def test_crown_by_hand_on_the_absolute_value():
    # z_b = relu(x) + relu(-x) = |x| on x in [-1, 3]; truly [0, 3]. IBP: [0, 3] + [0, 1] = [0, 4].
    # CROWN's chords: 3 (x + 1) / 4 + (3 - x) / 4 = (x + 3) / 2 <= 3; its lower bound, x (alpha = 1
    # for the first neuron, 3 > 1) + 0 (alpha = 0 for the second, 1 < 3), is -1: IBP's 0 is kept.
    weights = [[[1.0], [-1.0]], [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]]
    model = _set_weights(_tagger(0, n_inputs=1, width=2, depth=1), weights, [[0.0, 0.0], [0.0] * 3])
    lo, hi = torch.tensor([[-1.0]]), torch.tensor([[3.0]])
    expected = {"ibp": (0.0, 4.0), "crown": (0.0, 3.0)}
    for method, (lower, upper) in expected.items():
        bounds = logit_difference_bounds(model, lo, hi, {"BvsL": (0, 2)}, method=method)["BvsL"]
        assert bounds[0].item() == pytest.approx(lower, abs=1e-12)
        assert bounds[1].item() == pytest.approx(upper, abs=1e-12)


def test_crown_by_hand_with_both_relaxations_in_one_bound():
    # z_b = 2 relu(x) - relu(x) on x in [-1, 3], truly relu(x) in [0, 3]; IBP: 2 [0, 3] - [0, 3] = [-3, 6].
    # CROWN's lower bound: 2 x (alpha = 1, as 3 > 1) - the chord 3 (x + 1) / 4, at least -2 (alpha = 0
    # would give -3); its upper bound: 2 x the chord - x, at most 3.
    weights = [[[1.0], [1.0]], [[2.0, -1.0], [0.0, 0.0], [0.0, 0.0]]]
    model = _set_weights(_tagger(0, n_inputs=1, width=2, depth=1), weights, [[0.0, 0.0], [0.0] * 3])
    lo, hi = torch.tensor([[-1.0]]), torch.tensor([[3.0]])
    expected = {"ibp": (-3.0, 6.0), "crown": (-2.0, 3.0)}
    for method, (lower, upper) in expected.items():
        bounds = logit_difference_bounds(model, lo, hi, {"BvsL": (0, 2)}, method=method)["BvsL"]
        assert bounds[0].item() == pytest.approx(lower, abs=1e-12)
        assert bounds[1].item() == pytest.approx(upper, abs=1e-12)


def test_crown_computes_the_hidden_layers_bounds_itself():
    # z2 = relu(x) + relu(-x) - 1.5 = |x| - 1.5 < 0 on x in [-1, 1], and z_b = relu(z2) = 0. IBP's
    # interval of z2 is [-1.5, 0.5], unstable: with it (as in CROWN-IBP) the upper bound of z_b would
    # be 0.25 (its chord 0.25 z2 + 0.375 = 0.25 (relu(x) + relu(-x)), at most 0.25 by those ReLUs'
    # chords); CROWN's own bound of z2, -0.5 by the same chords, makes the ReLU inactive: exactly 0.
    weights = [[[1.0], [-1.0]], [[1.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]]
    biases = [[0.0, 0.0], [-1.5, -1.0], [0.0] * 3]
    model = _set_weights(_tagger(0, n_inputs=1, width=2, depth=2), weights, biases)
    lo, hi = torch.tensor([[-1.0]]), torch.tensor([[1.0]])
    crown = logit_difference_bounds(model, lo, hi, {"BvsL": (0, 2)})["BvsL"]
    ibp = logit_difference_bounds(model, lo, hi, {"BvsL": (0, 2)}, method="ibp")["BvsL"]
    assert [crown[0].item(), crown[1].item()] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert [ibp[0].item(), ibp[1].item()] == pytest.approx([0.0, 0.5], abs=1e-12)


def test_relaxation_of_an_unstable_relu_is_the_chord_and_the_adaptive_slope():
    lower = torch.tensor([[-1.0, -3.0, -2.0, 0.5, -2.0]], dtype=F64)
    upper = torch.tensor([[3.0, 1.0, 2.0, 1.0, -0.5]], dtype=F64)
    gap, slope, intercept = _relaxation(lower, upper)
    # unstable: chord u (z - l) / (u - l); alpha = 1 only where u > -l; stable: exact
    torch.testing.assert_close(slope, torch.tensor([[0.75, 0.25, 0.5, 1.0, 0.0]], dtype=F64))
    torch.testing.assert_close(intercept, torch.tensor([[0.75, 0.75, 1.0, 0.0, 0.0]], dtype=F64))
    torch.testing.assert_close(gap + slope, torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.0]], dtype=F64))


# --- certified AUC -----------------------------------------------------------------


def test_certified_auc_by_hand():
    # BvsL: signal (b) jets at their lower bounds 0.5 and 2.0, background (light) at their upper
    # bounds 1.0 and -1.0: pairs 0.5 < 1.0 lose, the other three win: 3/4. The c jet is left out.
    labels = np.array([0, 0, 2, 2, 1])
    lower = np.array([0.5, 2.0, -5.0, -5.0, 100.0])
    upper = np.array([10.0, 10.0, 1.0, -1.0, 100.0])
    assert certified_auc(lower, upper, labels, 0, 2) == pytest.approx(0.75, abs=1e-15)
    # weights 1 and 3 on the signal jets: (1 * 1 + 3 * 2) / (4 * 2) = 7/8
    weights = np.array([1.0, 3.0, 1.0, 1.0, 50.0])
    assert certified_auc(lower, upper, labels, 0, 2, weights) == pytest.approx(0.875, abs=1e-15)
    # a tie (signal lower 1.0 = background upper 1.0) counts one half: (0.5 + 3) / 4; torch tensors work too
    tied = torch.tensor([1.0, 2.0, -5.0, -5.0, 100.0])
    assert certified_auc(tied, torch.from_numpy(upper), torch.from_numpy(labels), 0, 2) == pytest.approx(0.875)
    # CvsL: the c jet at 100 beats both light jets
    assert certified_auc(lower, upper, labels, 1, 2) == 1.0


def test_certified_auc_lies_below_the_clean_and_every_vertex_auc():
    model = _tagger(14, n_inputs=3, width=8, depth=2, dropout=0.1)
    generator = torch.Generator().manual_seed(15)
    x = torch.randn(400, 3, generator=generator, dtype=F64)
    predicted = model(x.float()).argmax(1)
    labels = torch.where(
        torch.rand(400, generator=generator) < 0.6, predicted, torch.randint(3, (400,), generator=generator)
    ).numpy()
    lo, hi = x - 0.1, x + 0.1
    lo[:, 2] = hi[:, 2] = x[:, 2]  # one feature that does not move
    bounds = logit_difference_bounds(model, lo, hi, DISCRIMINATORS)
    clean = _differences(model, x)
    pinned = logit_difference_bounds(model, x, x, DISCRIMINATORS)
    vertices = [lo + torch.randint(2, x.shape, generator=generator) * (hi - lo) for _ in range(20)]
    at_vertices = [_differences(model, v) for v in vertices]
    for name, (s, g) in DISCRIMINATORS.items():
        selected = (labels == s) | (labels == g)
        assert (labels == s).sum() > 20 and (labels == g).sum() > 20, name

        def auc_of(scores, selected=selected, s=s):
            return auc(scores.numpy()[selected], labels[selected] == s)

        certified = certified_auc(*bounds[name], labels, s, g)
        assert certified < auc_of(clean[name]) - 0.01, name  # the boxes do cost something
        assert all(certified <= auc_of(v[name]) for v in at_vertices), name
        assert certified_auc(*pinned[name], labels, s, g) == pytest.approx(auc_of(clean[name]), abs=1e-12)


# --- errors ------------------------------------------------------------------------


def test_active_dropout_is_refused_and_inactive_dropout_is_not():
    lo, hi = _random_boxes(16, jets=5, inputs=3, scale=0.1)
    with pytest.raises(ConfigError, match="dropout"):
        logit_difference_bounds(_tagger(0, **TINY).train(), lo, hi, DISCRIMINATORS)
    without = logit_difference_bounds(_tagger(0, **(TINY | {"dropout": 0.0})).train(), lo, hi, DISCRIMINATORS)
    evaluated = logit_difference_bounds(_tagger(0, **(TINY | {"dropout": 0.0})), lo, hi, DISCRIMINATORS)
    assert all(torch.equal(without[n][0], evaluated[n][0]) for n in DISCRIMINATORS)


@pytest.mark.parametrize(
    "layers",
    [
        [nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)],
        [nn.Linear(3, 4), nn.ReLU(), nn.Dropout(0.1), nn.Linear(4, 3)],
        [nn.Linear(3, 4), nn.ReLU(), nn.ReLU(), nn.Linear(4, 3)],
        [nn.Linear(3, 4), nn.ReLU()],
    ],
    ids=["tanh", "dropout", "two_relus", "ends_in_relu"],
)
def test_other_layers_are_refused(layers):
    lo, hi = _random_boxes(17, jets=5, inputs=3, scale=0.1)
    with pytest.raises(ConfigError):
        logit_difference_bounds(nn.Sequential(*layers).eval(), lo, hi, DISCRIMINATORS)


def test_bad_arguments_are_refused():
    model = _tagger(0, **TINY)
    lo, hi = _random_boxes(18, jets=5, inputs=3, scale=0.1)
    with pytest.raises(ConfigError, match="method"):
        logit_difference_bounds(model, lo, hi, DISCRIMINATORS, method="alpha-crown")
    with pytest.raises(ConfigError, match="outside"):
        logit_difference_bounds(model, lo, hi, {"BvsX": (0, 3)})
    with pytest.raises(ResultsError, match="lo > hi"):
        logit_difference_bounds(model, hi, lo, DISCRIMINATORS)
    with pytest.raises(ResultsError, match="shape"):
        logit_difference_bounds(model, lo[:, :2], hi[:, :2], DISCRIMINATORS)
    with pytest.raises(ResultsError, match="swapped"):
        certified_auc(np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([0, 2]), 0, 2)
