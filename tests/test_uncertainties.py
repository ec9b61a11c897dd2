"""The paired bootstrap: exact resampled AUCs, coverage on a known AUC, paired errors smaller than unpaired."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from robusttag.analysis import uncertainties
from robusttag.analysis.uncertainties import (
    Bootstrap,
    binomial_error,
    effective_jets,
    resampled_aucs,
    resampled_efficiencies,
    standard_error,
)
from robusttag.errors import ResultsError
from robusttag.metrics import auc


def _two_gaussians(n: int, separation: float, rng: np.random.Generator):
    is_signal = rng.random(n) < 0.5
    scores = rng.normal(size=n) + separation * is_signal
    return scores, is_signal


def test_each_resampled_auc_is_the_weighted_auc_with_its_counts():
    rng = np.random.default_rng(3)
    scores, is_signal = _two_gaussians(500, 1.0, rng)
    scores = np.round(scores, 1)  # many ties: each counts 1/2
    weights = rng.uniform(0.5, 2.0, 500)
    jets = np.arange(1000, 1500)  # positions in a larger test set
    bootstrap = Bootstrap(2000, 5, seed=11)
    values = resampled_aucs(bootstrap, jets, scores, is_signal, weights)
    counts = np.hstack(list(bootstrap.blocks()))[jets].T
    for b in range(5):
        assert values[b] == pytest.approx(auc(scores, is_signal, counts[b] * weights), abs=1e-12)


def test_the_same_seed_gives_the_same_resamples_whether_kept_or_drawn_block_by_block(monkeypatch):
    kept = np.hstack(list(Bootstrap(300, 70, seed=5).blocks()))
    monkeypatch.setattr(uncertainties, "KEPT_COUNTS", 0)
    monkeypatch.setattr(uncertainties, "BLOCK_COUNTS", 300 * 32)  # blocks of 32, 32 and 6 resamples
    drawn = [*Bootstrap(300, 70, seed=5).blocks()]
    assert [block.shape[1] for block in drawn] == [32, 32, 6]
    assert np.array_equal(kept, np.hstack(drawn)) and kept.shape == (300, 70)
    assert not np.array_equal(kept, np.hstack(list(Bootstrap(300, 70, seed=6).blocks())))
    assert kept.mean() == pytest.approx(1.0, abs=0.02)  # Poisson(1) counts


def test_the_interval_covers_a_known_auc_at_its_nominal_rate():
    # AUC of N(d, 1) against N(0, 1) is Phi(d / sqrt 2); +-1 standard error should cover it 68 % of the time
    separation, repeats = 1.0, 200
    truth = norm.cdf(separation / np.sqrt(2))
    rng = np.random.default_rng(2024)
    covered = 0
    for repeat in range(repeats):
        scores, is_signal = _two_gaussians(1000, separation, rng)
        error = standard_error(resampled_aucs(Bootstrap(1000, 200, seed=repeat), np.arange(1000), scores, is_signal))
        covered += abs(auc(scores, is_signal) - truth) <= error
    # binomial spread of the coverage over 200 repeats: +-3.3 %
    assert 0.60 <= covered / repeats <= 0.76, covered / repeats


def test_paired_errors_of_a_difference_are_smaller_than_unpaired_ones():
    rng = np.random.default_rng(7)
    scores, is_signal = _two_gaussians(4000, 1.0, rng)
    attacked = scores - 0.3 * rng.random(4000) * is_signal  # strongly correlated with the raw scores
    jets = np.arange(4000)
    paired = Bootstrap(4000, 200, seed=1)
    difference = resampled_aucs(paired, jets, scores, is_signal) - resampled_aucs(paired, jets, attacked, is_signal)
    unpaired = resampled_aucs(Bootstrap(4000, 200, seed=1), jets, scores, is_signal) - resampled_aucs(
        Bootstrap(4000, 200, seed=2), jets, attacked, is_signal
    )
    assert standard_error(difference) < 0.3 * standard_error(unpaired)


def test_a_fixed_cut_efficiency_error_agrees_with_the_binomial_one():
    rng = np.random.default_rng(9)
    passes = rng.random(20000) < 0.3
    resampled = resampled_efficiencies(Bootstrap(20000, 400, seed=3), np.arange(20000), passes)
    assert standard_error(resampled) == pytest.approx(binomial_error(passes.mean(), 20000), rel=0.12)


def test_effective_jets_of_weighted_samples():
    assert effective_jets(np.ones(50)) == pytest.approx(50)
    assert effective_jets([1.0, 1.0, 2.0]) == pytest.approx(16 / 6)
    assert effective_jets(np.zeros(3)) == 0.0
    assert np.isnan(binomial_error(0.5, 0.0))


def test_a_bootstrap_with_too_few_jets_says_so():
    with pytest.raises(ResultsError, match="at least 2 resamples"):
        Bootstrap(10, 1, seed=0)
    with pytest.raises(ResultsError, match="no signal or no background"):
        resampled_aucs(Bootstrap(2, 50, seed=0), np.arange(2), [0.1, 0.9], [True, False])
    with pytest.raises(ResultsError, match="equal length"):
        resampled_aucs(Bootstrap(3, 5, seed=0), np.arange(3), [0.1, 0.9], [True, False])
