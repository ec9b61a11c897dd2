"""Tests of robusttag.visibility against scipy.stats and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from robusttag.errors import ResultsError
from robusttag.visibility import (
    TABLE_COLUMNS,
    effective_size,
    ks_distance,
    ks_p_value,
    largest_shift,
    two_sample_table,
    visibility_table,
    wasserstein_1,
)


def _samples(seed: int, n_a: int = 700, n_b: int = 900, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n_a)
    b = rng.normal(loc=0.1, scale=1.2, size=n_b)
    if decimals is not None:  # rounding makes ties within and across the samples
        a, b = np.round(a, decimals), np.round(b, decimals)
    return a, b, rng.exponential(size=n_a), rng.exponential(size=n_b)


def _kolmogorov_series(z: float, terms: int = 100) -> float:
    """P(K > z) = 2 sum_k (-1)^(k-1) exp(-2 k^2 z^2), written out independently of scipy."""
    k = np.arange(1, terms + 1)
    return float(2.0 * np.sum((-1.0) ** (k - 1) * np.exp(-2.0 * k**2 * z**2)))


# --- KS distance ------------------------------------------------------------


def test_ks_of_identical_samples_is_zero():
    a, _, w, _ = _samples(0, decimals=1)
    assert ks_distance(a, a) == 0.0
    assert ks_distance(a, a.copy(), w, w.copy()) == 0.0  # ties with unequal weights cancel exactly


def test_ks_hand_computed():
    # F_a - F_b alternates between 1/3 (just after 0, 1, 2) and 0 (just after 0.5, 1.5, 2.5).
    assert ks_distance([0.0, 1.0, 2.0], [0.5, 1.5, 2.5]) == pytest.approx(1 / 3, abs=1e-15)
    assert ks_distance([0.0], [1.0]) == 1.0


def test_ks_ties_count_as_one_step():
    # Just after 0: F_a = 3/4, F_b = 1/4; a count inside the tie would give 3/4.
    assert ks_distance([0, 0, 0, 1], [0, 1, 1, 1]) == pytest.approx(0.5, abs=1e-15)
    # Equal samples in another order, tied across the samples: 1/2 if read inside a tie.
    assert ks_distance([2, 1], [1, 2]) == 0.0
    assert ks_distance([1, 1, 2], [1, 2, 2]) == pytest.approx(1 / 3, abs=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("decimals", [None, 1])
def test_ks_matches_scipy(seed, decimals):
    a, b, _, _ = _samples(seed, decimals=decimals)
    assert ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_ks_with_integer_weights_repeats_rows(seed):
    a, b, _, _ = _samples(seed, n_a=300, n_b=400, decimals=1)
    rng = np.random.default_rng(seed + 10)
    count_a, count_b = rng.integers(0, 5, a.size), rng.integers(0, 5, b.size)
    expected = ks_distance(np.repeat(a, count_a), np.repeat(b, count_b))
    assert ks_distance(a, b, count_a, count_b) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(stats.ks_2samp(np.repeat(a, count_a), np.repeat(b, count_b)).statistic, abs=1e-12)


def test_ks_is_symmetric_and_scale_free_in_weights():
    a, b, w_a, w_b = _samples(3, decimals=1)
    d = ks_distance(a, b, w_a, w_b)
    assert 0.0 < d < 1.0
    assert ks_distance(b, a, w_b, w_a) == pytest.approx(d, abs=1e-14)
    assert ks_distance(a, b, 7.0 * w_a, 0.25 * w_b) == pytest.approx(d, abs=1e-14)


# --- Wasserstein-1 ------------------------------------------------------------


@pytest.mark.parametrize("shift", [0.25, -3.5, 0.0])
def test_w1_of_a_shift_is_the_shift(shift):
    # Values on a binary grid: the shifted sample and every step are exact, only the final sum rounds.
    a = np.random.default_rng(0).integers(-50, 50, 400) / 8.0
    assert wasserstein_1(a, a + shift) == pytest.approx(abs(shift), rel=1e-14, abs=0.0)


def test_w1_of_a_shift_on_random_values():
    a, _, w, _ = _samples(1)
    assert wasserstein_1(a, a + 0.3) == pytest.approx(0.3, rel=1e-12)
    assert wasserstein_1(a, a - 0.3, w, w) == pytest.approx(0.3, rel=1e-12)


def test_w1_hand_computed():
    assert wasserstein_1([0.0], [1.0]) == 1.0
    assert wasserstein_1([0.0, 1.0], [0.0]) == 0.5
    assert wasserstein_1([0.0, 1.0], [0.0, 1.0], [3.0, 1.0], [1.0, 3.0]) == 0.5
    a, _, w, _ = _samples(2, decimals=1)
    assert wasserstein_1(a, a, w, w) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("decimals", [None, 1])
def test_w1_matches_scipy(seed, decimals):
    a, b, w_a, w_b = _samples(seed, decimals=decimals)
    assert wasserstein_1(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-10)
    assert wasserstein_1(a, b, w_a, w_b) == pytest.approx(stats.wasserstein_distance(a, b, w_a, w_b), rel=1e-10)


# --- bad samples ---------------------------------------------------------------


@pytest.mark.parametrize("function", [ks_distance, wasserstein_1])
@pytest.mark.parametrize(
    ("a", "b", "weights_a", "weights_b", "message"),
    [
        ([], [1.0], None, None, "sample a is empty"),
        ([1.0], [], None, None, "sample b is empty"),
        ([[1.0, 2.0]], [1.0], None, None, "sample a must be 1-d"),
        ([1.0, np.nan], [1.0], None, None, "sample a contains NaN"),
        ([1.0], [np.inf], None, None, "sample b contains NaN or infinity"),
        ([1.0, 2.0], [1.0], [1.0], None, r"weights_a must have shape \(2,\)"),
        ([1.0, 2.0], [1.0], [1.0, -1.0], None, "weights_a must be finite and non-negative"),
        ([1.0, 2.0], [1.0], None, [np.nan], "weights_b must be finite and non-negative"),
        ([1.0, 2.0], [1.0], [0.0, 0.0], None, "weights_a sum to zero"),
    ],
)
def test_bad_samples_raise(function, a, b, weights_a, weights_b, message):
    with pytest.raises(ResultsError, match=message):
        function(a, b, weights_a, weights_b)


# --- effective size -------------------------------------------------------------


def test_effective_size():
    assert effective_size(np.ones(5)) == 5.0
    assert effective_size([2.0, 0.0, 0.0]) == 1.0
    assert effective_size([1.0, 2.0, 3.0]) == pytest.approx(36 / 14, rel=1e-15)
    assert effective_size(None, size=7) == 7.0
    for weights, size, message in [
        (None, None, "needs a positive size"),
        ([], None, "non-empty"),
        ([1.0, -1.0], None, "non-negative"),
        ([0.0, 0.0], None, "sum to zero"),
    ]:
        with pytest.raises(ResultsError, match=message):
            effective_size(weights, size)


# --- p-value ----------------------------------------------------------------------


@pytest.mark.parametrize(("distance", "n_a", "n_b"), [(0.05, 700, 900), (0.02, 30000, 30000), (0.3, 20, 50)])
def test_p_value_is_the_kolmogorov_limit_at_the_effective_size(distance, n_a, n_b):
    n_eff = n_a * n_b / (n_a + n_b)
    expected = _kolmogorov_series(np.sqrt(n_eff) * distance)
    assert ks_p_value(distance, n_a, n_b) == pytest.approx(expected, rel=1e-12)
    assert ks_p_value(distance, n_b, n_a) == ks_p_value(distance, n_a, n_b)


@pytest.mark.parametrize(("seed", "n_a", "n_b", "tolerance"), [(0, 800, 1200, 0.1), (1, 8000, 12000, 0.03)])
def test_p_value_against_scipy_asymptotic(seed, n_a, n_b, tolerance):
    # scipy's asymp two-sample p-value uses the same n_eff but the exact one-sample distribution at round(n_eff)
    # (kstwo), not its n -> infinity limit: the two differ by O(1/sqrt(n_eff)), a few per cent here.
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n_a), rng.normal(loc=0.05, size=n_b)
    result = stats.ks_2samp(a, b, method="asymp")
    n_eff = n_a * n_b / (n_a + n_b)
    distance = ks_distance(a, b)
    assert result.pvalue == pytest.approx(stats.kstwo.sf(distance, np.round(n_eff)), rel=1e-10)
    assert 1e-4 < result.pvalue < 0.5  # a range where the comparison means something
    assert ks_p_value(distance, n_a, n_b) == pytest.approx(result.pvalue, rel=tolerance)


@pytest.mark.parametrize("z", [0.8, 1.2, 1.8])
def test_p_value_converges_to_scipys_finite_sample_value(z):
    differences = []
    for n_eff in (100, 1000, 10000, 100000):
        distance = z / np.sqrt(n_eff)
        ours = ks_p_value(distance, 2 * n_eff, 2 * n_eff)  # two samples of 2 n_eff have n_eff = n_eff
        differences.append(abs(ours / stats.kstwo.sf(distance, n_eff) - 1.0))
    assert all(later < 0.5 * earlier for earlier, later in zip(differences, differences[1:]))
    assert differences[-1] < 0.005


def test_p_value_is_monotone_in_the_distance():
    p = np.array([ks_p_value(d, 5000, 5000) for d in np.linspace(0.0, 0.1, 41)])
    assert p[0] == 1.0
    assert (np.diff(p) <= 0).all()
    # Strictly below the top, where the survival function rounds to 1 (z < 0.2), and above underflow.
    inside = p[(p < 1.0) & (p > 1e-300)]
    assert inside.size > 30 and (np.diff(inside) < 0).all()
    assert p[-1] == pytest.approx(2.0 * np.exp(-50.0), rel=1e-9)  # 0.1 at n_eff = 2500 is z = 5


@pytest.mark.parametrize(
    ("distance", "n_a", "n_b", "message"),
    [
        (-0.1, 10, 10, "must lie in"),
        (1.5, 10, 10, "must lie in"),
        (np.nan, 10, 10, "must lie in"),
        (0.1, 0, 10, "n_a must be positive"),
        (0.1, 10, np.inf, "n_b must be positive"),
    ],
)
def test_bad_p_value_inputs_raise(distance, n_a, n_b, message):
    with pytest.raises(ResultsError, match=message):
        ks_p_value(distance, n_a, n_b)


# --- visibility table -------------------------------------------------------------


def _jets(seed: int, n: int = 3000, n_features: int = 4):
    rng = np.random.default_rng(seed)
    # Values on a 1/64 grid: ties everywhere, and shifts by multiples of 1/64 stay exact.
    raw = np.round(rng.normal(size=(n, n_features)) * 64.0) / 64.0
    labels = rng.integers(0, 3, n)
    weights = rng.exponential(size=n)
    names = [f"x{j}" for j in range(n_features)]
    return raw, labels, weights, names


def _row(table: pd.DataFrame, feature: str, flavour: str) -> pd.Series:
    rows = table[(table["feature"] == feature) & (table["flavour"] == flavour)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_table_layout():
    raw, labels, _, names = _jets(0, n=200, n_features=2)
    table = visibility_table(raw, raw + 1.0, labels, names)
    assert tuple(table.columns) == TABLE_COLUMNS
    assert list(table["feature"]) == ["x0"] * 4 + ["x1"] * 4
    assert list(table["flavour"]) == ["b", "c", "light", "all"] * 2
    counts = np.bincount(labels, minlength=3)
    assert list(table["n_jets"]) == [*counts, 200] * 2


@pytest.mark.parametrize("weighted", [False, True])
def test_table_of_an_attack_that_changes_nothing(weighted):
    raw, labels, weights, names = _jets(1)
    table = visibility_table(raw, raw.copy(), labels, names, weights if weighted else None)
    assert (table["ks"] == 0.0).all()
    assert (table["wasserstein_1"] == 0.0).all()
    assert (table["ks_p_value"] == 1.0).all()


@pytest.mark.parametrize("weighted", [False, True])
def test_table_sees_a_shift_of_one_feature_of_one_flavour(weighted):
    raw, labels, weights, names = _jets(2)
    attacked = raw.copy()
    shift, feature, flavour = 0.375, 2, 1
    attacked[labels == flavour, feature] += shift
    table = visibility_table(raw, attacked, labels, names, weights if weighted else None)
    shifted = _row(table, "x2", "c")
    assert shifted["wasserstein_1"] == pytest.approx(shift, rel=1e-12)
    assert shifted["ks"] > 0.1
    assert shifted["ks_p_value"] < 1e-4
    others = table[(table["feature"] != "x2") | (table["flavour"].isin(["b", "light"]))]
    assert len(others) == len(table) - 2
    assert (others["wasserstein_1"] == 0.0).all()
    assert (others["ks"] == 0.0).all()
    # Pooled, only the c jets move, and F_raw - F_attacked keeps one sign: W1 is their weight fraction times the shift.
    w = weights if weighted else np.ones(labels.size)
    fraction = w[labels == flavour].sum() / w.sum()
    assert _row(table, "x2", "all")["wasserstein_1"] == pytest.approx(fraction * shift, rel=1e-12)


def test_table_matches_the_sample_functions():
    raw, labels, weights, names = _jets(3, n=2000, n_features=2)
    attacked = raw + np.random.default_rng(4).normal(scale=0.2, size=raw.shape)
    table = visibility_table(raw, attacked, labels, names, weights)
    for j, feature in enumerate(names):
        for code, flavour in [(0, "b"), (1, "c"), (2, "light"), (None, "all")]:
            jets = np.ones(labels.size, bool) if code is None else labels == code
            a, b, w = raw[jets, j], attacked[jets, j], weights[jets]
            row = _row(table, feature, flavour)
            assert row["n_jets"] == jets.sum()
            assert row["ks"] == pytest.approx(ks_distance(a, b, w, w), abs=1e-14)
            assert row["ks"] == pytest.approx(stats.ks_2samp(a, b).statistic, abs=0.05)  # weights change it a little
            assert row["wasserstein_1"] == pytest.approx(stats.wasserstein_distance(a, b, w, w), rel=1e-10)
            n_eff = effective_size(w)
            assert row["ks_p_value"] == pytest.approx(ks_p_value(row["ks"], n_eff, n_eff), rel=1e-12)
            assert row["raw_std"] == pytest.approx(np.sqrt(np.cov(a, aweights=w, ddof=0)), rel=1e-10)


def test_table_drops_non_finite_values_pairwise():
    raw, labels, _, names = _jets(5, n=1000, n_features=2)
    attacked = raw + 0.5
    raw[:100, 0] = -np.inf  # a default in raw units
    attacked[50:150, 0] = np.nan
    table = visibility_table(raw, attacked, labels, names)
    kept = np.arange(1000) >= 150
    assert _row(table, "x0", "all")["n_jets"] == 850
    assert _row(table, "x0", "b")["n_jets"] == np.sum(kept & (labels == 0))
    assert _row(table, "x1", "all")["n_jets"] == 1000
    assert table["wasserstein_1"].to_numpy() == pytest.approx(0.5, rel=1e-12)
    assert _row(table, "x0", "all")["raw_std"] == pytest.approx(np.std(raw[kept, 0]), rel=1e-12)
    assert np.isfinite(table[["ks", "ks_p_value", "wasserstein_1", "raw_std"]].to_numpy()).all()


def test_table_rows_of_a_feature_without_finite_values_are_nan():
    raw, labels, _, names = _jets(9, n=300, n_features=2)
    raw[:, 0] = -np.inf
    table = visibility_table(raw, raw + 0.25, labels, names)
    empty = table[table["feature"] == "x0"]
    assert (empty["n_jets"] == 0).all()
    assert np.isnan(empty[["ks", "ks_p_value", "wasserstein_1", "raw_std"]].to_numpy()).all()
    assert table[table["feature"] == "x1"]["wasserstein_1"].to_numpy() == pytest.approx(0.25, rel=1e-12)
    assert largest_shift(table)["feature"] == "x1"


def test_table_row_of_an_absent_flavour_is_nan():
    raw, labels, _, names = _jets(6, n=300, n_features=1)
    table = visibility_table(raw, raw + 1.0, labels, names, label_names=("b", "c", "light", "tau"))
    tau = _row(table, "x0", "tau")
    assert tau["n_jets"] == 0
    assert np.isnan(tau[["ks", "ks_p_value", "wasserstein_1", "raw_std"]].astype(float)).all()
    assert _row(table, "x0", "light")["wasserstein_1"] == pytest.approx(1.0, rel=1e-12)


def test_table_of_many_features_runs():
    # The real test set is ~60 000 x 184; this smaller one keeps the suite fast while using the same code path.
    rng = np.random.default_rng(7)
    raw = rng.normal(size=(5000, 184))
    attacked = raw + rng.normal(scale=0.01, size=raw.shape)
    names = [f"f{j}" for j in range(184)]
    weights = rng.exponential(size=5000)
    table = visibility_table(raw, attacked, rng.integers(0, 3, 5000), names, weights)
    assert len(table) == 184 * 4
    values = table[["ks", "ks_p_value", "wasserstein_1", "raw_std"]].to_numpy()
    assert np.isfinite(values).all()
    assert (table["ks"] > 0).all() and (table["wasserstein_1"] > 0).all()
    expected = stats.wasserstein_distance(raw[:, 183], attacked[:, 183], weights, weights)
    assert _row(table, "f183", "all")["wasserstein_1"] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attacked": np.zeros((10, 3))}, "raw and attacked must be 2-d of equal shape"),
        ({"raw": np.zeros(10), "attacked": np.zeros(10)}, "must be 2-d"),
        ({"raw": np.zeros((0, 2)), "attacked": np.zeros((0, 2)), "labels": np.zeros(0, int)}, "hold no jets"),
        ({"feature_names": ["x0"]}, "1 feature names for 2 feature columns"),
        ({"labels": np.zeros(9, int)}, r"labels must have shape \(10,\)"),
        ({"labels": np.full(10, 3)}, "labels must be codes 0..2"),
        ({"weights": -np.ones(10)}, "weights must be finite and non-negative"),
        ({"weights": np.full(10, np.nan)}, "weights must be finite and non-negative"),
        ({"weights": np.ones(9)}, r"weights must have shape \(10,\)"),
        ({"weights": np.zeros(10)}, "weights sum to zero"),
    ],
)
def test_bad_table_inputs_raise(change, message):
    arguments = {
        "raw": np.zeros((10, 2)),
        "attacked": np.zeros((10, 2)),
        "labels": np.zeros(10, int),
        "feature_names": ["x0", "x1"],
        "weights": None,
    }
    arguments.update(change)
    with pytest.raises(ResultsError, match=message):
        visibility_table(**arguments)


# --- largest shift ------------------------------------------------------------------


def test_largest_shift_reads_the_pooled_rows():
    rng = np.random.default_rng(8)
    n = 3000
    raw = rng.normal(size=(n, 3))
    labels = rng.integers(0, 3, n)
    attacked = raw.copy()
    attacked[labels == 1, 0] += 100.0  # c jets only: KS 1 for c, about 1/3 pooled
    attacked[:, 1] += 1.5  # every jet: KS about 0.55 in every row
    table = visibility_table(raw, attacked, labels, ["x", "y", "z"])
    assert _row(table, "x", "c")["ks"] == 1.0
    shift = largest_shift(table)
    assert list(shift.index) == ["feature", "ks", "ks_p_value"]
    assert shift["feature"] == "y"
    assert shift["ks"] == _row(table, "y", "all")["ks"]
    assert 0.5 < shift["ks"] < 0.6
    assert shift["ks_p_value"] == _row(table, "y", "all")["ks_p_value"]


def test_largest_shift_bad_tables_raise():
    with pytest.raises(ResultsError, match="lacks columns"):
        largest_shift(pd.DataFrame({"feature": ["x"], "ks": [0.1]}))
    flavour_only = pd.DataFrame({"feature": ["x"], "flavour": ["b"], "ks": [0.1], "ks_p_value": [0.5]})
    with pytest.raises(ResultsError, match='no "all" row'):
        largest_shift(flavour_only)


def test_two_sample_table_matches_scipy_per_flavour_on_samples_of_different_jets():
    rng = np.random.default_rng(4)
    reference, other = rng.normal(size=(900, 2)), rng.normal(0.3, 1.2, size=(700, 2))
    other[:50, 1] = -np.inf  # a default: left out of its sample
    ref_labels, other_labels = rng.integers(0, 3, 900), rng.integers(0, 2, 700)  # no light jets in the other
    table = two_sample_table(reference, other, ref_labels, other_labels, ["x", "y"])
    assert list(table.columns) == list(TABLE_COLUMNS) and len(table) == 8
    for j, name in enumerate(["x", "y"]):
        for code, flavour in enumerate(["b", "c"]):
            a, b = reference[ref_labels == code, j], other[other_labels == code, j]
            b = b[np.isfinite(b)]
            row = table[(table["feature"] == name) & (table["flavour"] == flavour)].iloc[0]
            assert row["n_jets"] == b.size
            assert row["ks"] == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
            assert row["wasserstein_1"] == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-10)
            assert row["raw_std"] == pytest.approx(a.std())
        light = table[(table["feature"] == name) & (table["flavour"] == "light")].iloc[0]
        assert light["n_jets"] == 0 and np.isnan(light["ks"])
        pooled = table[(table["feature"] == name) & (table["flavour"] == "all")].iloc[0]
        b = other[:, j][np.isfinite(other[:, j])]
        assert pooled["ks"] == pytest.approx(stats.ks_2samp(reference[:, j], b).statistic, abs=1e-12)


def test_two_sample_table_refuses_mismatched_columns():
    with pytest.raises(ResultsError, match="feature names"):
        two_sample_table(np.zeros((3, 2)), np.zeros((3, 3)), [0, 1, 2], [0, 1, 2], ["x", "y"])
