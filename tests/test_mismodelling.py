"""Shifted samples: the AUC change and the fixed-cut scale factors against the nominal reference, paired with
the twin or independent of the test split, and the premise's rank correlation, on hand-made scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robusttag.analysis.mismodelling import premise_table, rank_correlation, shifted_tables
from robusttag.config import NOMINAL_TEST, NOMINAL_TWIN, TableSettings
from robusttag.errors import ResultsError
from robusttag.metrics import DISCRIMINATORS, auc, cut_at_mistag, discriminant, tagged_fraction

CHECKPOINT = ("nominal", 1, 3)
SETTINGS = TableSettings(bootstrap=50, scale_factor_pt_bins=(20.0, 100.0, 900.0), scale_factor_abs_eta_bins=(0.0, 2.5))


def _labels(n: int, rng) -> np.ndarray:
    return rng.choice(np.array([0, 1, 2], dtype=np.int8), size=n, p=[0.3, 0.2, 0.5])


def _probabilities(labels: np.ndarray, rng, light_b_boost: float = 0.0, noise=None) -> np.ndarray:
    """Softmax of flavour-dependent logits; ``light_b_boost`` raises the b logit of light jets (more mistags);
    ``noise``: the jets' own logit noise (the same jets seen through another simulation)."""
    logits = (rng.normal(0.0, 1.0, (len(labels), 3)) if noise is None else noise).copy()
    logits[np.arange(len(labels)), labels] += 1.5
    logits[labels == 2, 0] += light_b_boost
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def _scores(attack: str, labels, p, checkpoint=CHECKPOINT) -> pd.DataFrame:
    model, seed, epoch = checkpoint
    return pd.DataFrame(
        {
            "model": model,
            "seed": seed,
            "epoch": epoch,
            "attack": attack,
            "attack_source": "shifted_sample",
            "epsilon": 0.0,
            "label": labels,
            "weight": np.ones(len(labels), dtype=np.float32),
            "p_b": p[:, 0],
            "p_c": p[:, 1],
            "p_light": p[:, 2],
        }
    )


def _combined(*frames) -> pd.DataFrame:
    table = pd.concat(frames, ignore_index=True)
    return table.astype({"model": "category", "attack": "category", "attack_source": "category"})


def _kinematics(n: int, rng) -> pd.DataFrame:
    return pd.DataFrame({"raw_jet_pt": rng.uniform(20, 900, n), "raw_jet_eta": rng.uniform(-2.4, 2.4, n)})


def _bvsl(labels, p):
    signal, background = DISCRIMINATORS["BvsL"]
    both = (labels == signal) | (labels == background)
    return discriminant(p[both, signal], p[both, background]), labels[both] == signal


@pytest.fixture
def paired():
    rng = np.random.default_rng(4)
    labels = _labels(3000, rng)
    noise = rng.normal(0.0, 1.0, (len(labels), 3))
    twin, shifted = (
        _probabilities(labels, rng, noise=noise),
        _probabilities(labels, rng, 0.7, noise + 0.3 * rng.normal(size=noise.shape)),
    )
    val_labels = _labels(2000, rng)
    validation = _combined(_scores("raw", val_labels, _probabilities(val_labels, rng)).assign(attack_source="none"))
    scores = _combined(_scores(NOMINAL_TWIN, labels, twin), _scores("worse_d0", labels, shifted))
    return scores, validation, labels, twin, shifted, val_labels, _kinematics(len(labels), rng)


def test_a_generator_shift_is_measured_against_the_twin_at_the_nominal_cut(paired):
    scores, validation, labels, twin, shifted, val_labels, kinematics = paired
    selected = {CHECKPOINT[:2]: CHECKPOINT[2]}
    aucs, points, bins = shifted_tables(
        scores, validation, {"worse_d0": kinematics}, {"worse_d0"}, {"worse_d0"}, selected, SETTINGS
    )
    row = aucs[aucs["discriminator"] == "BvsL"].iloc[0]
    assert row["sample"] == "worse_d0" and row["reference"] == NOMINAL_TWIN and row["selected"]
    assert row["auc"] == pytest.approx(auc(*_bvsl(labels, shifted)))
    assert row["reference_auc"] == pytest.approx(auc(*_bvsl(labels, twin)))
    assert row["auc_change"] == pytest.approx(row["auc"] - row["reference_auc"]) and row["auc_change"] < 0
    assert 0 < row["auc_change_err"] < row["auc_err"]  # the same jets: the change is known better than either AUC
    cut = cut_at_mistag(*_bvsl(val_labels, validation[["p_b", "p_c", "p_light"]].to_numpy()), 0.1)
    (s, is_b), (t, t_is_b) = _bvsl(labels, shifted), _bvsl(labels, twin)
    point = points[(points["discriminator"] == "BvsL") & np.isclose(points["mistag_target"], 0.1)].iloc[0]
    assert point["cut"] == pytest.approx(cut)
    assert point["mistag"] == pytest.approx(tagged_fraction(s[~is_b], cut))
    assert point["sf_mistag"] == pytest.approx(tagged_fraction(s[~is_b], cut) / tagged_fraction(t[~t_is_b], cut))
    assert point["sf_efficiency"] == pytest.approx(tagged_fraction(s[is_b], cut) / tagged_fraction(t[t_is_b], cut))
    assert point["sf_mistag"] > 1.2 and 0 < point["sf_mistag_err"] < 0.5 * (point["sf_mistag"] - 1)
    per_bin = bins[(bins["discriminator"] == "BvsL") & np.isclose(bins["mistag_target"], 0.1)]
    assert len(per_bin) == 2 and per_bin["background_jets"].sum() == (labels == 2).sum()


def test_a_generator_shift_of_other_jets_than_the_twin_is_refused(paired):
    scores, validation, labels, *_, kinematics = paired
    swapped = scores.copy()
    shifted_rows = np.flatnonzero(swapped["attack"] == "worse_d0")
    swapped.loc[shifted_rows[0], "label"] = (swapped.loc[shifted_rows[0], "label"] + 1) % 3
    with pytest.raises(ResultsError, match="worse_d0.*not the .* jets of nominal_twin"):
        shifted_tables(swapped, validation, {"worse_d0": kinematics}, {"worse_d0"}, {"worse_d0"}, {}, SETTINGS)


@pytest.mark.parametrize("reference", [NOMINAL_TEST, NOMINAL_TWIN])
def test_an_independent_sample_is_compared_with_its_reference_in_quadrature(reference):
    """A user's sample against the nominal test split, a Pythia generator variation (other jets of the same
    size) against the twin: each measured alone, the errors of their changes and ratios added in quadrature."""
    rng = np.random.default_rng(8)
    data_labels, test_labels = _labels(2500, rng), _labels(4000, rng)
    data, test = _probabilities(data_labels, rng, light_b_boost=0.5), _probabilities(test_labels, rng)
    scores = _combined(_scores(reference, test_labels, test), _scores("data_2016", data_labels, data))
    validation = _combined(_scores("raw", test_labels, test).assign(attack_source="none"))
    kinematics = {"data_2016": _kinematics(2500, rng), reference: _kinematics(4000, rng)}
    selected = {CHECKPOINT[:2]: CHECKPOINT[2]}
    generated = {"data_2016"} if reference == NOMINAL_TWIN else set()
    aucs, points, bins = shifted_tables(scores, validation, kinematics, generated, set(), selected, SETTINGS)
    row = aucs[aucs["discriminator"] == "BvsL"].iloc[0]
    assert row["reference"] == reference
    assert row["auc"] == pytest.approx(auc(*_bvsl(data_labels, data)))
    assert row["reference_auc"] == pytest.approx(auc(*_bvsl(test_labels, test)))
    assert row["auc_change_err"] == pytest.approx(np.hypot(row["auc_err"], row["reference_auc_err"]))
    cut = cut_at_mistag(*_bvsl(test_labels, test), 0.1)
    (d, d_is_b), (t, t_is_b) = _bvsl(data_labels, data), _bvsl(test_labels, test)
    point = points[(points["discriminator"] == "BvsL") & np.isclose(points["mistag_target"], 0.1)].iloc[0]
    mistags = tagged_fraction(d[~d_is_b], cut), tagged_fraction(t[~t_is_b], cut)
    assert point["sf_mistag"] == pytest.approx(mistags[0] / mistags[1])
    own_part = point["sf_mistag"] * point["mistag_err"] / point["mistag"]
    assert point["sf_mistag_err"] > own_part > 0  # the test split's own error added in quadrature
    assert len(bins[(bins["discriminator"] == "BvsL") & np.isclose(bins["mistag_target"], 0.1)]) == 2


def test_rank_correlation_with_its_error_and_too_few_points():
    x = np.arange(10.0)
    rho, error, p_value = rank_correlation(x, x**2)
    assert rho == pytest.approx(1.0) and error == pytest.approx(0.0, abs=1e-12) and p_value < 1e-6
    assert rank_correlation(x, -x)[0] == pytest.approx(-1.0)
    rng = np.random.default_rng(1)
    noisy = x + rng.normal(0, 4, 10)
    rho, error, _ = rank_correlation(x, noisy)
    assert 0 < error < 1 and -1 <= rho <= 1
    assert all(np.isnan(rank_correlation([1.0, 2.0], [3.0, 4.0])))
    assert all(np.isnan(rank_correlation([1.0, 1.0, 1.0], [3.0, 4.0, 5.0])))  # no spread: no ranking


def test_the_premise_ranks_vulnerability_against_sensitivity_across_checkpoints():
    checkpoints = [("nominal", 1, e) for e in (1, 2, 3)] + [("adversarial", 1, e) for e in (1, 2)]
    drops = [0.10, 0.05, 0.08, 0.02, 0.03]
    changes = [0.010, 0.004, 0.007, 0.001, 0.002]  # the more vulnerable move more: rho = +1
    auc_rows, shifted_rows, point_rows = [], [], []
    for (model, seed, epoch), drop, change in zip(checkpoints, drops, changes):
        ids = dict(model=model, seed=seed, epoch=epoch, discriminator="BvsL", selected=epoch == 1)
        auc_rows.append(ids | dict(attack="fgsm", attack_source=model, epsilon=0.05, relative_drop=drop))
        shifted_rows.append(ids | dict(sample="worse_d0", auc=0.9 - change * 0.9, reference_auc=0.9))
        point_rows.append(ids | dict(sample="worse_d0", mistag_target=0.1, sf_efficiency=1 - change, sf_mistag=1.0))
    worst = pd.DataFrame(
        [
            dict(model=m, seed=s, epoch=e, discriminator="BvsL", epsilon=0.05, worst_relative_drop=2 * d)
            for (m, s, e), d in zip(checkpoints, drops)
        ]
    )
    premise, points = premise_table(
        pd.DataFrame(shifted_rows), pd.DataFrame(point_rows), pd.DataFrame(auc_rows), worst, 0.05
    )
    table = premise.set_index(["vulnerability", "sensitivity"])
    assert table.loc[("fgsm", "auc_change"), "spearman"] == pytest.approx(1.0)
    assert table.loc[("fgsm", "auc_change"), "points"] == 5
    assert table.loc[("worst_case", "sf_efficiency"), "spearman"] == pytest.approx(1.0)
    assert np.isnan(table.loc[("fgsm", "sf_mistag"), "spearman"])  # SF_mistag = 1 everywhere: nothing to rank
    assert len(points) == 5 and points["selected"].sum() == 2
