"""Tests of robusttag.metrics against scikit-learn and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from robusttag.errors import ResultsError
from robusttag.features import LABELS
from robusttag.metrics import (
    DEFAULT_EFFICIENCIES,
    DISCRIMINATORS,
    auc,
    cut_at_mistag,
    discriminant,
    discriminator_metrics,
    efficiency_at_mistag,
    roc_curve,
    roc_points,
    tagged_fraction,
)

B, C, L = LABELS["b"], LABELS["c"], LABELS["light"]


def _random_sample(seed: int, n: int = 3000, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    is_signal = rng.random(n) < 0.3
    scores = rng.normal(loc=np.where(is_signal, 0.8, 0.0), scale=1.0)
    if decimals is not None:
        scores = np.round(1.0 / (1.0 + np.exp(-scores)), decimals)
    return scores, is_signal, rng.exponential(size=n)


# --- AUC against scikit-learn ---------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_on_random_scores(seed):
    scores, is_signal, _ = _random_sample(seed)
    assert auc(scores, is_signal) == pytest.approx(roc_auc_score(is_signal, scores), abs=1e-12)


@pytest.mark.parametrize("decimals", [0, 1, 2])
def test_auc_matches_sklearn_on_heavily_tied_scores(decimals):
    scores, is_signal, _ = _random_sample(3, decimals=decimals)
    assert np.unique(scores).size <= 10**decimals + 1
    assert auc(scores, is_signal) == pytest.approx(roc_auc_score(is_signal, scores), abs=1e-12)


@pytest.mark.parametrize("decimals", [None, 1])
def test_auc_matches_sklearn_with_weights(decimals):
    scores, is_signal, weights = _random_sample(4, decimals=decimals)
    expected = roc_auc_score(is_signal, scores, sample_weight=weights)
    assert auc(scores, is_signal, weights) == pytest.approx(expected, abs=1e-12)
    assert abs(expected - roc_auc_score(is_signal, scores)) > 1e-4  # the weights do matter here


def test_auc_with_ties_is_pairwise_probability():
    # signal 0.9, 0.5; background 0.5, 0.1: pairs win 1 + 1 + 1/2 + 1 out of 4.
    assert auc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.875)


def test_auc_perfect_inverted_and_uninformative():
    is_signal = np.array([1, 1, 1, 0, 0], dtype=bool)
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    assert auc(scores, is_signal) == 1.0
    assert auc(-scores, is_signal) == 0.0
    assert auc(np.full(5, 0.3), is_signal) == 0.5


# --- ROC curve ---------------------------------------------------------------


def test_roc_curve_end_points_and_monotonicity():
    scores, is_signal, weights = _random_sample(5, decimals=2)
    for w in (None, weights):
        efficiency, mistag = roc_curve(scores, is_signal, w)
        assert efficiency.dtype == mistag.dtype == np.float64
        assert (efficiency[0], mistag[0]) == (0.0, 0.0)
        assert (efficiency[-1], mistag[-1]) == (1.0, 1.0)
        assert (np.diff(efficiency) >= 0).all() and (np.diff(mistag) >= 0).all()
        assert efficiency.size == np.unique(scores).size + 1  # one point per distinct threshold


def test_roc_curve_groups_ties_into_one_point():
    efficiency, mistag = roc_curve([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
    np.testing.assert_allclose(efficiency, [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(mistag, [0.0, 0.0, 0.5, 1.0])


def test_roc_curve_weighted_hand_case():
    # Signal weights 3 (score 0.9) and 1 (0.2); background weight 1 at 0.5 and 0.1.
    efficiency, mistag = roc_curve([0.9, 0.5, 0.2, 0.1], [1, 0, 1, 0], [3.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(efficiency, [0.0, 0.75, 0.75, 1.0, 1.0])
    np.testing.assert_allclose(mistag, [0.0, 0.0, 0.5, 0.5, 1.0])


@pytest.mark.parametrize(
    ("is_signal", "weights"),
    [([1, 1, 1], None), ([0, 0, 0], None), ([1, 0, 0], [0.0, 1.0, 1.0]), ([1, 0, 0], [1.0, 0.0, 0.0]), ([], None)],
)
def test_roc_curve_rejects_missing_class(is_signal, weights):
    scores = np.linspace(0, 1, len(is_signal))
    with pytest.raises(ResultsError, match=r"no (signal|background)"):
        roc_curve(scores, is_signal, weights)
    with pytest.raises(ResultsError, match=r"no (signal|background)"):
        auc(scores, is_signal, weights)


def test_roc_curve_rejects_bad_inputs():
    with pytest.raises(ResultsError, match="weights"):
        roc_curve([0.1, 0.2], [1, 0], [1.0, -1.0])
    with pytest.raises(ResultsError, match="NaN"):
        roc_curve([np.nan, 0.2], [1, 0])
    with pytest.raises(ResultsError, match="0/1"):
        roc_curve([0.1, 0.2], [2, 0])
    with pytest.raises(ResultsError, match="equal length"):
        roc_curve([0.1, 0.2], [1, 0, 1])


# --- efficiency at fixed mistag ---------------------------------------------


def test_efficiency_at_mistag_hand_case():
    efficiency = [0.0, 0.4, 0.6, 0.9, 1.0]
    mistag = [0.0, 0.0, 0.1, 0.1, 1.0]
    assert efficiency_at_mistag(efficiency, mistag, 0.0) == pytest.approx(0.4)  # top of the vertical step
    assert efficiency_at_mistag(efficiency, mistag, 0.05) == pytest.approx(0.5)  # along (0, .4) -> (.1, .6)
    assert efficiency_at_mistag(efficiency, mistag, 0.1) == pytest.approx(0.9)
    assert efficiency_at_mistag(efficiency, mistag, 0.55) == pytest.approx(0.95)
    assert efficiency_at_mistag(efficiency, mistag, 1.0) == pytest.approx(1.0)


def test_efficiency_at_mistag_from_scores():
    # Curve (mistag, eff): (0, 0), (0, .5), (.5, 1), (1, 1); at 10 % mistag: .5 + .5 * (.1 / .5).
    efficiency, mistag = roc_curve([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
    assert efficiency_at_mistag(efficiency, mistag, 0.1) == pytest.approx(0.6)
    assert efficiency_at_mistag(efficiency, mistag, 0.0) == pytest.approx(0.5)


def test_efficiency_at_mistag_rejects_bad_curves():
    with pytest.raises(ResultsError, match="outside"):
        efficiency_at_mistag([0.0, 1.0], [0.0, 1.0], 1.5)
    with pytest.raises(ResultsError, match="non-decreasing"):
        efficiency_at_mistag([0.0, 0.5, 1.0], [0.0, 0.6, 0.5], 0.2)


# --- compact curves ------------------------------------------------------------


def test_roc_points_hand_case():
    scores, is_signal = [0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]
    mistag = roc_points(scores, is_signal, efficiencies=[0.0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(mistag, [0.0, 0.0, 0.25, 0.5])  # lowest mistag where efficiency is flat


def test_roc_points_default_grid_is_consistent_with_curve():
    scores, is_signal, _ = _random_sample(6)
    mistag = roc_points(scores, is_signal)
    assert mistag.shape == DEFAULT_EFFICIENCIES.shape == (201,)
    assert mistag[0] == 0.0 and (np.diff(mistag) >= 0).all()
    efficiency, curve_mistag = roc_curve(scores, is_signal)
    for i in (40, 100, 180):
        assert efficiency_at_mistag(efficiency, curve_mistag, mistag[i]) >= DEFAULT_EFFICIENCIES[i] - 1e-12


# --- discriminant and per-discriminator metrics -----------------------------------


def test_discriminant_handles_zeros():
    result = discriminant([0.0, 1.0, 0.3, 0.0], [0.0, 0.0, 0.1, 2.0])
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, [0.5, 1.0, 0.75, 0.0])
    assert discriminant(np.zeros(3, dtype=int), np.zeros(3, dtype=int)).tolist() == [0.5, 0.5, 0.5]


def test_discriminator_definitions():
    assert DISCRIMINATORS == {"BvsL": (0, 2), "CvsL": (1, 2), "BvsC": (0, 1)}


def test_discriminator_metrics_excludes_third_flavour_hand_case():
    # c jets have a higher BvsL score than b jets: including them as background would spoil a perfect BvsL.
    probabilities = np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.2, 0.79, 0.01], [0.1, 0.3, 0.6], [0.1, 0.3, 0.6]])
    labels = np.array([B, B, C, L, L])
    result = discriminator_metrics(probabilities, labels)
    assert result["BvsL"] == {"auc": 1.0, "eff_at_mistag_0.01": 1.0, "eff_at_mistag_0.1": 1.0}
    assert set(result) == set(DISCRIMINATORS)


@pytest.mark.parametrize("weighted", [False, True])
def test_discriminator_metrics_matches_sklearn_on_each_pair(weighted):
    rng = np.random.default_rng(7)
    n = 6000
    labels = rng.integers(0, 3, size=n)
    alphas = np.array([[4.0, 1.0, 1.0], [1.0, 3.0, 1.0], [1.0, 1.0, 4.0]])
    probabilities = np.stack([rng.dirichlet(alphas[label]) for label in labels])
    weights = rng.exponential(size=n) if weighted else None
    mistags = (0.01, 0.1, 0.3)
    result = discriminator_metrics(probabilities, labels, weights, mistags=mistags)
    for name, (x, y) in DISCRIMINATORS.items():
        scores_all = probabilities[:, x] / (probabilities[:, x] + probabilities[:, y])
        pair = (labels == x) | (labels == y)
        w = None if weights is None else weights[pair]
        expected = roc_auc_score(labels[pair] == x, scores_all[pair], sample_weight=w)
        assert result[name]["auc"] == pytest.approx(expected, abs=1e-12)
        # The third flavour scored as background would visibly change the answer.
        wrong = roc_auc_score(labels == x, scores_all, sample_weight=weights)
        assert abs(wrong - expected) > 0.02
        efficiency, mistag = roc_curve(scores_all[pair], labels[pair] == x, w)
        assert set(result[name]) == {"auc", "eff_at_mistag_0.01", "eff_at_mistag_0.1", "eff_at_mistag_0.3"}
        for m in mistags:
            assert result[name][f"eff_at_mistag_{m:g}"] == pytest.approx(efficiency_at_mistag(efficiency, mistag, m))
        assert 0 < result[name]["eff_at_mistag_0.01"] < result[name]["eff_at_mistag_0.3"] < 1


def test_discriminator_metrics_reports_missing_flavour():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    with pytest.raises(ResultsError, match="CvsL"):
        discriminator_metrics(probabilities, np.array([B, L]))


def test_discriminator_metrics_rejects_bad_shapes():
    with pytest.raises(ResultsError, match="probabilities"):
        discriminator_metrics(np.ones((4, 2)), np.zeros(4, dtype=int))
    with pytest.raises(ResultsError, match="labels"):
        discriminator_metrics(np.ones((4, 3)), np.zeros(3, dtype=int))


def test_a_cut_fixed_at_a_mistag_rate_tags_at_most_that_fraction_of_background():
    background = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    is_signal = np.zeros(10, dtype=bool)
    # 10 %: only the 0.9 jet; 20 %: the tied pair at 0.8 would make 30 %, so still 10 %; 30 %: down to 0.8
    for target, tagged in ((0.05, 0.0), (0.1, 0.1), (0.2, 0.1), (0.3, 0.3), (1.0, 1.0)):
        cut = cut_at_mistag(background, is_signal, target)
        assert tagged_fraction(background, cut) == pytest.approx(tagged), target
    assert cut_at_mistag(background, is_signal, 0.1) > 0.8  # just above the first group left out
    weights = np.array([1.0, 3.0, 0, 0, 0, 0, 0, 0, 0, 6.0])  # the 0.9 jet carries 10 % of the weight
    cut = cut_at_mistag(background, is_signal, 0.1, weights)
    assert cut > 0.8 and tagged_fraction(background, cut, weights) == pytest.approx(0.1)
    with pytest.raises(ResultsError, match="no background"):
        cut_at_mistag([0.5], [True], 0.1)
