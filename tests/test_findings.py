"""The paper's findings, in direction, on a reduced configuration run through the DAG.

60,000 synthetic jets, 12 epochs per mode: (a) the nominal tagger separates b
from light far better than c from light; (b) FGSM at eps = 0.05 (capped) lowers
both AUCs clearly, more with a larger eps, and far more than noise of the same
size; (c) the adversarial model's raw AUCs stay close to the nominal's and its
relative AUC drop under its own FGSM is smaller; (d) over the checkpoints, the
nominal model loses more AUC under FGSM the better it separates b from light.
"""

from __future__ import annotations

import pandas as pd
import pytest

from robusttag.report.summary import checkpoint_trend


@pytest.fixture(scope="module")
def auc(findings) -> pd.DataFrame:
    """The AUC table of the reduced configuration (tests/dag_runs.py, run with the session: tests/conftest.py)."""
    return pd.read_csv(findings / "results/tables/auc.csv")


def value(auc, model, discriminator, attack="raw", epsilon=0.0, source=None):
    rows = auc[
        auc["selected"]
        & (auc["model"] == model)
        & (auc["discriminator"] == discriminator)
        & (auc["attack"] == attack)
        & ((auc["epsilon"] - epsilon).abs() < 1e-9)
    ]
    if attack == "fgsm":
        rows = rows[rows["attack_source"] == (source or model)]
    assert len(rows) == 1, (model, discriminator, attack, epsilon)
    return float(rows["auc"].iloc[0])


def drop(auc, model, discriminator, attack="fgsm", epsilon=0.05):
    raw = value(auc, model, discriminator)
    return (raw - value(auc, model, discriminator, attack, epsilon)) / raw


def test_a_nominal_performance(auc):
    assert value(auc, "nominal", "BvsL") > 0.93
    assert 0.65 < value(auc, "nominal", "CvsL") < value(auc, "nominal", "BvsL") - 0.1


def test_b_fgsm_hurts_grows_with_eps_and_beats_noise(auc):
    for disc in ("BvsL", "CvsL"):
        assert drop(auc, "nominal", disc) > 0.01
        assert value(auc, "nominal", disc, "fgsm", 0.05) < value(auc, "nominal", disc, "fgsm", 0.01)
        assert value(auc, "nominal", disc, "fgsm", 0.01) < value(auc, "nominal", disc)
        assert drop(auc, "nominal", disc, "noise") < 0.2 * drop(auc, "nominal", disc)


def test_c_adversarial_training_keeps_performance_and_is_more_robust(auc):
    assert abs(value(auc, "adversarial", "BvsL") - value(auc, "nominal", "BvsL")) < 0.01
    assert abs(value(auc, "adversarial", "CvsL") - value(auc, "nominal", "CvsL")) < 0.02
    for disc in ("BvsL", "CvsL"):
        assert drop(auc, "adversarial", disc) < 0.85 * drop(auc, "nominal", disc)


def test_d_better_nominal_checkpoints_are_more_vulnerable(auc):
    trend = checkpoint_trend(auc, "nominal", "BvsL", 0.05)
    print(trend)
    assert trend["checkpoints"] >= 5
    assert trend["raw"][1] - trend["raw"][0] > 0.01  # the scan spans the tagger's rise
    assert trend["spearman"] > 0.5
