"""The spread over training seeds: means, statistical and training errors, and significance, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from robusttag.analysis.seeds import SIGNIFICANCE, seed_table
from robusttag.analysis.tables import worst_case_table

EPS = 0.05
#: per (model, seed): (selected epoch, raw AUC, AUC under its own FGSM, AUC under PGD)
TRAININGS = {
    ("nominal", 1): (3, 0.90, 0.81, 0.80),
    ("nominal", 2): (4, 0.92, 0.83, 0.81),
    ("nominal", 3): (2, 0.91, 0.82, 0.82),
    ("adversarial", 1): (5, 0.89, 0.85, 0.84),
    ("adversarial", 2): (3, 0.90, 0.855, 0.85),
    ("adversarial", 3): (4, 0.91, 0.865, 0.86),
}
#: the bootstrap: every AUC moves by the same shifts in every resample (fully correlated curves)
SHIFTS = np.array([-0.01, 0.0, 0.01, 0.02])


def _tables():
    rows, replicas = [], {}
    for (model, seed), (epoch, raw, fgsm, pgd) in TRAININGS.items():
        for attack, source, eps, value in (
            ("raw", "none", 0.0, raw),
            ("fgsm", model, EPS, fgsm),
            ("pgd", model, EPS, pgd),
        ):
            key = (model, seed, epoch, attack, source, eps, "BvsL")
            scale = 1.0 if attack == "raw" else 0.5  # attacked AUCs move half as much as raw ones
            replicas[key] = value + scale * SHIFTS
            rows.append(
                dict(zip(("model", "seed", "epoch", "attack", "attack_source", "epsilon", "discriminator"), key))
            )
            rows[-1] |= {"auc": value, "auc_err": np.nan, "relative_drop_err": np.nan, "selected": True}
    auc = pd.DataFrame(rows)
    raw = auc[auc["attack"] == "raw"].set_index(["model", "seed"])["auc"]
    auc["relative_drop"] = (raw.reindex(pd.MultiIndex.from_frame(auc[["model", "seed"]])).to_numpy() - auc["auc"]) / (
        raw.reindex(pd.MultiIndex.from_frame(auc[["model", "seed"]])).to_numpy()
    )
    return auc, worst_case_table(auc), replicas


def _row(table, quantity, model):
    [row] = table[(table["quantity"] == quantity) & (table["model"] == model)].itertuples()
    return row


def test_mean_and_errors_over_seeds_by_hand():
    auc, worst, replicas = _tables()
    table = seed_table(auc, worst, replicas, EPS)
    raw = _row(table, "raw_auc", "nominal")
    assert raw.seeds == 3 and raw.value == pytest.approx(0.91)
    assert raw.seed_spread == pytest.approx(0.01)  # sample standard deviation of 0.90, 0.92, 0.91
    assert raw.training_err == pytest.approx(0.01 / math.sqrt(3))
    assert raw.stat_err == pytest.approx(np.std(SHIFTS, ddof=1))  # the mean over seeds moves by the shifts
    assert raw.total_err == pytest.approx(math.hypot(raw.stat_err, raw.training_err))
    assert np.isnan(raw.z) and not raw.significant  # a value, not a comparison
    drop = _row(table, "fgsm_relative_drop", "nominal")
    drops = [(r - f) / r for _, r, f, _ in (TRAININGS["nominal", s] for s in (1, 2, 3))]
    assert drop.value == pytest.approx(np.mean(drops)) and drop.seed_spread == pytest.approx(np.std(drops, ddof=1))
    resampled = np.mean(
        [
            ((r + SHIFTS) - (f + SHIFTS / 2)) / (r + SHIFTS)
            for _, r, f, _ in (TRAININGS["nominal", s] for s in (1, 2, 3))
        ],
        axis=0,
    )
    assert drop.stat_err == pytest.approx(np.std(resampled, ddof=1))


def test_comparisons_are_seed_by_seed_and_judged_against_their_null():
    auc, worst, replicas = _tables()
    table = seed_table(auc, worst, replicas, EPS)
    difference = _row(table, "raw_auc_difference", "adversarial vs nominal")
    per_seed = [TRAININGS["adversarial", s][1] - TRAININGS["nominal", s][1] for s in (1, 2, 3)]  # -0.01, -0.02, 0
    assert difference.value == pytest.approx(-0.01) and difference.seed_spread == pytest.approx(0.01)
    assert difference.stat_err == pytest.approx(0.0, abs=1e-12)  # the same shifts: they cancel in the difference
    assert difference.z == pytest.approx(np.mean(per_seed) / (0.01 / math.sqrt(3)))  # -1.7: not significant
    assert not difference.significant and abs(difference.z) < SIGNIFICANCE
    ratio = _row(table, "fgsm_drop_ratio", "adversarial vs nominal")
    ratios = [
        ((r_a - f_a) / r_a) / ((r_n - f_n) / r_n)
        for (_, r_a, f_a, _), (_, r_n, f_n, _) in (
            (TRAININGS["adversarial", s], TRAININGS["nominal", s]) for s in (1, 2, 3)
        )
    ]
    assert ratio.value == pytest.approx(np.mean(ratios)) and ratio.null == 1.0
    assert ratio.z == pytest.approx((np.mean(ratios) - 1) / ratio.total_err)
    assert ratio.significant  # adversarial drops are about half the nominal ones, seed after seed
    worst_minus = _row(table, "worst_minus_fgsm_drop", "nominal")
    assert worst_minus.null == 0.0 and worst_minus.value > 0  # PGD is the worst case at every seed


def test_one_seed_has_no_training_error():
    auc, worst, replicas = _tables()
    one = seed_table(auc[auc["seed"] == 1], worst[worst["seed"] == 1], replicas, EPS)
    raw = _row(one, "raw_auc", "nominal")
    assert raw.seeds == 1 and np.isnan(raw.seed_spread) and np.isnan(raw.training_err)
    assert raw.total_err == pytest.approx(raw.stat_err)


def test_fixed_cut_scale_factors_over_seeds_and_the_mistag_shift_ratio():
    auc, worst, replicas = _tables()
    rows, resampled = [], {}
    for (model, seed), (epoch, *_) in TRAININGS.items():
        shift = 0.6 if model == "nominal" else 0.3  # SF_mistag - 1: the adversarial model's half the nominal's
        sf_mistag = 1 + shift * (1 + 0.1 * (seed - 2))
        key = (model, seed, epoch, "fgsm", model, EPS, "BvsL")
        rows.append(dict(zip(("model", "seed", "epoch", "attack", "attack_source", "epsilon", "discriminator"), key)))
        rows[-1] |= {"mistag_target": 0.1, "sf_efficiency": 0.95, "sf_mistag": sf_mistag}
        resampled[(*key, 0.1)] = (0.95 + SHIFTS / 10, sf_mistag + SHIFTS)
    table = seed_table(auc, worst, replicas, EPS, pd.DataFrame(rows), resampled)
    mistag = _row(table, "fgsm_sf_mistag", "nominal")
    assert mistag.value == pytest.approx(1.6) and mistag.seed_spread == pytest.approx(0.06)
    assert mistag.stat_err == pytest.approx(np.std(SHIFTS, ddof=1))
    ratio = _row(table, "sf_mistag_shift_ratio", "adversarial vs nominal")
    assert ratio.value == pytest.approx(0.5) and ratio.seed_spread == pytest.approx(0.0, abs=1e-12)
    assert ratio.null == 1.0 and ratio.significant
