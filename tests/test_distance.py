"""Each jet's distance to its working point (robusttag.attacks.distance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from robusttag.attacks.constraints import Constraints
from robusttag.attacks.distance import DistanceSearch, _crossed_at, distances_to_cuts
from robusttag.metrics import DISCRIMINATORS

INPUTS = 6
SEARCH = DistanceSearch(max_epsilon=0.5, bisections=12, steps=3, step_size=0.5)
RESOLUTION = SEARCH.max_epsilon / 2**SEARCH.bisections


def _constraints(scale: float = 1.0) -> Constraints:
    """A box of eps * scale around every input: no cap, floors far below."""
    zeros = torch.zeros(INPUTS)
    return Constraints(
        zeros, torch.ones(INPUTS), torch.full((INPUTS,), -1e6), torch.full((INPUTS,), scale, dtype=torch.float64), None
    )


def _linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(INPUTS, 3)).eval()


def _jets(n: int = 300, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, INPUTS, generator=generator)
    labels = torch.randint(0, 3, (n,), generator=generator)
    return x, labels, torch.ones(n, INPUTS, dtype=torch.bool)


def _log_odds(model, x, disc) -> np.ndarray:
    signal, background = DISCRIMINATORS[disc]
    with torch.no_grad():
        logits = model(x).double()
    return (logits[:, signal] - logits[:, background]).numpy()


def test_on_a_linear_model_the_distance_is_the_closed_form():
    """Log-odds w.x + b move by at most eps sum|w| in the box: a jet at log-odds L crosses the cut's
    log-odds c at eps = |L - c| / sum|w| (toward the wrong side); the bisection lands within its resolution."""
    model, (x, labels, movable) = _linear(), _jets()
    weight = model[0].weight.detach().double()
    for disc, (signal, background) in DISCRIMINATORS.items():
        cuts = [0.3, 0.6]
        jets, found = distances_to_cuts(model, x, labels, movable, _constraints(), disc, cuts, SEARCH)
        log_odds = _log_odds(model, x[jets], disc)
        slope = (weight[signal] - weight[background]).abs().sum().item()
        is_signal = labels[jets].numpy() == signal
        for k, cut in enumerate(cuts):
            margin = np.where(is_signal, log_odds - np.log(cut / (1 - cut)), np.log(cut / (1 - cut)) - log_odds)
            exact = np.where(margin <= 0, 0.0, margin / slope)
            exact = np.where(exact > SEARCH.max_epsilon, np.inf, exact)
            clear = np.abs(exact - SEARCH.max_epsilon) > 2 * RESOLUTION  # not at the edge of the range
            assert (margin > 0).any() and (margin <= 0).any()
            np.testing.assert_array_equal(found[clear & (exact == 0), k], 0.0)
            np.testing.assert_array_equal(found[clear & np.isinf(exact), k], np.inf)
            finite = clear & np.isfinite(exact) & (exact > 1e-4)
            assert finite.sum() > 20
            assert (found[finite, k] >= exact[finite] - 1e-6).all()
            assert (found[finite, k] <= exact[finite] + RESOLUTION + 1e-6).all()


def test_a_jet_already_across_the_cut_has_distance_zero():
    model, (x, labels, movable) = _linear(), _jets()
    jets, found = distances_to_cuts(model, x, labels, movable, _constraints(), "BvsL", [0.0, 1.0], SEARCH)
    is_signal = labels[jets].numpy() == DISCRIMINATORS["BvsL"][0]
    # every background jet is at or above a cut of 0 (a mistag), every signal jet below a cut of 1
    np.testing.assert_array_equal(found[~is_signal, 0], 0.0)
    np.testing.assert_array_equal(found[is_signal, 1], 0.0)


def test_the_distance_shrinks_with_the_budget_scale():
    """Twice the budget per unit of eps: the same boxes at half the eps, so every distance at most halves
    (to the bisection's resolution), and none grows."""
    model, (x, labels, movable) = _linear(), _jets()
    _, single = distances_to_cuts(model, x, labels, movable, _constraints(1.0), "CvsL", [0.5], SEARCH)
    _, double = distances_to_cuts(model, x, labels, movable, _constraints(2.0), "CvsL", [0.5], SEARCH)
    both = np.isfinite(single) & np.isfinite(double)
    assert both.sum() > 20
    assert (double[both] <= single[both] / 2 + RESOLUTION).all()
    assert (double[both] >= single[both] / 2 - RESOLUTION).all()
    assert (np.isfinite(double) >= np.isfinite(single)).all()  # in reach at scale 1: in reach at scale 2


def test_on_a_relu_network_the_attack_crosses_at_the_distance_and_not_within_reach_beyond():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(INPUTS, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    x, labels, movable = _jets(200, seed=4)
    constraints = _constraints()
    cut = float(np.median(1 / (1 + np.exp(-_log_odds(model, x, "BvsC")))))  # half the jets on each side
    jets, found = distances_to_cuts(model, x, labels, movable, constraints, "BvsC", [cut], SEARCH)
    moved = np.isfinite(found[:, 0]) & (found[:, 0] > 0)
    assert moved.sum() > 10 and np.isinf(found[:, 0]).sum() + (found[:, 0] == 0).sum() > 0
    rows = torch.from_numpy(jets[moved])
    eps = torch.from_numpy(found[moved, 0])
    cuts = torch.full((len(rows),), cut, dtype=torch.float64)
    assert _crossed_at(model, x[rows], labels[rows], movable[rows], constraints, "BvsC", cuts, eps, SEARCH).all()
    never = torch.from_numpy(jets[np.isinf(found[:, 0])])
    at_most = torch.full((len(never),), SEARCH.max_epsilon, dtype=torch.float64)
    cuts = torch.full((len(never),), cut, dtype=torch.float64)
    assert not _crossed_at(
        model, x[never], labels[never], movable[never], constraints, "BvsC", cuts, at_most, SEARCH
    ).any()


def test_the_eps_free_numbers_by_hand():
    """Four tagged b jets at 0.01, 0.02, 0.04, inf; light jets: one mistag already, others at 0.03, 0.05, inf.

    The mistag rate doubles when one more light jet is tagged: at 0.03. The efficiency falls by a tenth
    (0.4 of 4 jets) with the first b jet lost: at 0.01. Within 0.01: 1 of 4 tagged b jets, within 0.05: 3.
    """
    from robusttag.analysis.distances import distance_curves, distance_summary, smallest_eps_reaching

    b, light = 0, 2
    rows = pd.DataFrame(
        {
            "model": "nominal",
            "seed": 1,
            "epoch": 4,
            "discriminator": "BvsL",
            "mistag_target": 0.1,
            "label": [b, b, b, b, b, light, light, light, light],
            "weight": 1.0,
            "distance": [0.01, 0.02, 0.04, np.inf, 0.0, 0.0, 0.03, 0.05, np.inf],
        }
    )
    (row,) = distance_summary(rows, weighted=False).to_dict("records")
    assert row["tagged_signal_jets"] == 4 and row["untagged_background_jets"] == 3
    assert row["eps_mistag_doubles"] == 0.03
    assert row["eps_efficiency_minus_10pct"] == 0.01
    assert row["tagged_signal_within_0.01"] == 0.25 and row["tagged_signal_within_0.05"] == 0.75
    assert row["median_signal_distance"] == 0.03  # of 0.01, 0.02, 0.04, inf
    # weighted: the mistag at 0 weighs 3, so doubling needs the jets at 0.03 (1) and 0.05 (2)
    weighted = rows.assign(weight=[1, 1, 1, 1, 1, 3, 1, 2, 1])
    assert distance_summary(weighted, weighted=True)["eps_mistag_doubles"].item() == 0.05
    no_raw_mistag = rows.assign(distance=[0.01, 0.02, 0.04, np.inf, 0.0, 0.2, 0.03, 0.05, np.inf])
    assert np.isnan(distance_summary(no_raw_mistag, weighted=False)["eps_mistag_doubles"].item())
    assert smallest_eps_reaching(np.array([0.1, np.inf]), np.ones(2), 2.0) == np.inf
    assert smallest_eps_reaching(np.array([0.1]), np.ones(1), 0.0) == 0.0
    curves = distance_curves(rows, weighted=False)
    at = curves.set_index("epsilon")
    assert at["signal_lost"].is_monotonic_increasing and at["mistag_ratio"].is_monotonic_increasing
    np.testing.assert_allclose(at["signal_lost"].iloc[-1], 0.75)  # the b jet at inf is never lost
    np.testing.assert_allclose(at["mistag_ratio"].iloc[-1], 3.0)  # 1 + the light jets at 0.03 and 0.05
