"""Working points at a cut fixed on raw validation jets: the cut, the scale factors and their errors by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robusttag.analysis.tables import score_groups
from robusttag.analysis.uncertainties import Bootstrap, resampled_efficiencies, standard_error
from robusttag.analysis.working_points import fixed_cut_tables
from robusttag.features import LABELS
from robusttag.metrics import cut_at_mistag, discriminant, tagged_fraction

B, C, L = LABELS["b"], LABELS["c"], LABELS["light"]


def _scores(model, attack, eps, labels, p_b, source="none"):
    n = len(labels)
    p_light = 1.0 - p_b
    return pd.DataFrame(
        {
            "model": model,
            "seed": 1,
            "epoch": 3,
            "attack": attack,
            "attack_source": source,
            "epsilon": eps,
            "label": labels,
            "weight": np.ones(n),
            "p_b": p_b * 0.99,
            "p_c": p_b * 0.01,
            "p_light": p_light,
        }
    )


@pytest.fixture()
def samples():
    rng = np.random.default_rng(5)
    n = 4000
    labels = rng.choice([B, L], size=n, p=[0.4, 0.6])
    raw = np.clip(rng.normal(0.35 + 0.3 * (labels == B), 0.15), 0.001, 0.999)
    attacked = np.clip(raw + 0.05 * np.where(labels == B, -1, 1), 0.001, 0.999)  # b jets down, light jets up
    validation_labels = rng.choice([B, L], size=3000, p=[0.4, 0.6])
    validation = np.clip(rng.normal(0.35 + 0.3 * (validation_labels == B), 0.15), 0.001, 0.999)
    scores = pd.concat(
        [_scores("nominal", "raw", 0.0, labels, raw), _scores("nominal", "fgsm", 0.05, labels, attacked, "nominal")],
        ignore_index=True,
    )
    kinematics = pd.DataFrame({"raw_jet_pt": rng.uniform(20, 200, n), "raw_jet_eta": rng.uniform(-2.5, 2.5, n)})
    return scores, _scores("nominal", "raw", 0.0, validation_labels, validation), kinematics


def test_the_cut_comes_from_validation_and_the_scale_factors_from_the_test_jets(samples):
    scores, validation, kinematics = samples
    bootstrap = Bootstrap(4000, 60, seed=2)
    table, bins = fixed_cut_tables(
        scores,
        score_groups(scores),
        validation,
        (0.01, 0.1),
        False,
        bootstrap,
        kinematics,
        (20, 100, 200),
        (0, 1.2, 2.5),
    )
    row = table[(table["attack"] == "fgsm") & (table["discriminator"] == "BvsL") & (table["mistag_target"] == 0.1)]
    row = row.iloc[0]
    # by hand: the discriminant of the validation jets fixes the cut at 10 % light mistag
    vp = validation[["p_b", "p_light"]].to_numpy()
    v_scores, v_signal = discriminant(vp[:, 0], vp[:, 1]), validation["label"].to_numpy() == B
    cut = cut_at_mistag(v_scores, v_signal, 0.1)  # b against light: the samples have no c jets
    assert row["cut"] == cut
    labels = scores["label"].to_numpy()[:4000]
    raw_p, fgsm_p = scores.iloc[:4000], scores.iloc[4000:]
    raw_s, fgsm_s = (discriminant(f["p_b"].to_numpy(), f["p_light"].to_numpy()) for f in (raw_p, fgsm_p))
    b, light = labels == B, labels == L
    assert row["efficiency"] == pytest.approx(tagged_fraction(fgsm_s[b], cut))
    assert row["mistag"] == pytest.approx(tagged_fraction(fgsm_s[light], cut))
    assert row["sf_efficiency"] == pytest.approx(tagged_fraction(fgsm_s[b], cut) / tagged_fraction(raw_s[b], cut))
    assert row["sf_efficiency"] < 1 < row["sf_mistag"]  # the attack moved b jets down and light jets up
    # the scale factor's error from the same resamples of raw and attacked jets
    jets = np.flatnonzero(b)
    paired = resampled_efficiencies(bootstrap, jets, fgsm_s[b] >= cut) / resampled_efficiencies(
        bootstrap, jets, raw_s[b] >= cut
    )
    assert row["sf_efficiency_err"] == pytest.approx(standard_error(paired))
    raw_rows = table[table["attack"] == "raw"]
    assert (raw_rows["sf_efficiency"] == 1).all() and (raw_rows["sf_efficiency_err"] == 0).all()
    # the bins: 2 x 2 of them per (attack, discriminator, target); their jets add up to all
    per_row = bins[(bins["attack"] == "fgsm") & (bins["discriminator"] == "BvsL") & (bins["mistag_target"] == 0.1)]
    assert len(per_row) == 4 and per_row["signal_jets"].sum() == b.sum()
    assert per_row["background_jets"].sum() == light.sum()
    assert (per_row["sf_efficiency_err"] > 0).all()


def test_without_validation_scores_of_a_checkpoint_it_has_no_working_points(samples):
    scores, validation, _ = samples
    validation = validation.assign(epoch=7)
    table, bins = fixed_cut_tables(scores, score_groups(scores), validation, (0.01,), False, None)
    assert table.empty and bins.empty


def test_a_jet_on_the_top_edge_of_the_binning_is_in_the_last_bin_and_one_beyond_in_none(samples):
    """Bins are [low, high) but the last of each axis is [low, high]: a jet at |eta| = 2.5 and pT = 200 GeV
    (the top edges) is counted in the last bin, a jet on an inner edge in the bin above it, one beyond in none."""
    scores, validation, kinematics = samples
    pt, eta = kinematics["raw_jet_pt"].to_numpy().copy(), kinematics["raw_jet_eta"].to_numpy().copy()
    pt[:4], eta[:4] = (200.0, 200.0, 100.0, 60.0), (2.5, -2.5, 1.2, 0.3)  # top edges (either sign), inner edges
    pt[4:6], eta[4:6] = (200.01, 50.0), (1.0, 2.5001)  # beyond the top pT edge, beyond the top |eta| edge
    kinematics = pd.DataFrame({"raw_jet_pt": pt, "raw_jet_eta": eta})
    _, bins = fixed_cut_tables(
        scores, score_groups(scores), validation, (0.1,), False, None, kinematics, (20, 100, 200), (0, 1.2, 2.5)
    )
    raw = bins[(bins["attack"] == "raw") & (bins["discriminator"] == "BvsL")]
    counted = raw.set_index(["pt_low", "abs_eta_low"])[["signal_jets", "background_jets"]].sum(axis=1)
    labels = scores["label"].to_numpy()[:4000]
    both = (labels == B) | (labels == L)
    abs_eta = np.abs(eta)
    expected = {}
    for pt_low, pt_high, last_pt in ((20, 100, False), (100, 200, True)):
        for eta_low, eta_high, last_eta in ((0, 1.2, False), (1.2, 2.5, True)):
            in_pt = (pt >= pt_low) & ((pt <= pt_high) if last_pt else (pt < pt_high))
            in_eta = (abs_eta >= eta_low) & ((abs_eta <= eta_high) if last_eta else (abs_eta < eta_high))
            expected[pt_low, eta_low] = int((both & in_pt & in_eta).sum())
    assert counted.to_dict() == expected
    assert sum(expected.values()) == both.sum() - 2  # every jet but the two beyond the top edges
    # the two on the top corner are in the (100-200, 1.2-2.5) bin: removing them takes exactly 2 from it
    moved = kinematics.assign(raw_jet_pt=np.where(np.arange(4000) < 2, 250.0, pt))
    _, fewer = fixed_cut_tables(
        scores, score_groups(scores), validation, (0.1,), False, None, moved, (20, 100, 200), (0, 1.2, 2.5)
    )
    fewer = fewer[(fewer["attack"] == "raw") & (fewer["discriminator"] == "BvsL")]
    corner = (raw["pt_low"] == 100) & (raw["abs_eta_low"] == 1.2)
    total = raw.loc[corner, ["signal_jets", "background_jets"]].to_numpy().sum()
    assert fewer.loc[corner.to_numpy(), ["signal_jets", "background_jets"]].to_numpy().sum() == total - 2


def test_the_third_flavour_is_tagged_at_the_same_cut():
    """BvsL's cut tags c jets too: their tagged fraction and its scale factor, by hand, beside b and light."""
    rng = np.random.default_rng(8)
    labels = rng.choice([B, C, L], size=3000, p=[0.3, 0.3, 0.4])
    frames, p = [], rng.dirichlet(np.ones(3), size=len(labels))
    for attack, eps, source, shift in (("raw", 0.0, "none", 0.0), ("fgsm", 0.05, "nominal", 0.4)):
        moved = p.copy()
        moved[labels == C, 0] *= np.exp(shift)  # c jets towards b
        moved /= moved.sum(1, keepdims=True)
        frame = _scores("nominal", attack, eps, labels, moved[:, 0], source)
        frames.append(frame.assign(p_c=moved[:, 1], p_light=moved[:, 2]))
    scores = pd.concat(frames, ignore_index=True)
    validation = frames[0]
    kinematics = pd.DataFrame({"raw_jet_pt": rng.uniform(20, 200, 3000), "raw_jet_eta": rng.uniform(-2.5, 2.5, 3000)})
    table, bins = fixed_cut_tables(
        scores, score_groups(scores), validation, (0.1,), False, None, kinematics, (20, 200), (0, 2.5)
    )
    v = validation[["p_b", "p_light"]].to_numpy()
    cut = cut_at_mistag(discriminant(v[:, 0], v[:, 1])[labels != C], labels[labels != C] == B, 0.1)
    c_jets = labels == C
    tagged = [tagged_fraction(discriminant(f["p_b"].to_numpy(), f["p_light"].to_numpy())[c_jets], cut) for f in frames]
    row = table[(table["attack"] == "fgsm") & (table["discriminator"] == "BvsL")].iloc[0]
    assert row["cut"] == cut
    assert row["other_efficiency"] == pytest.approx(tagged[1]) and tagged[1] > tagged[0] > 0
    assert row["sf_other"] == pytest.approx(tagged[1] / tagged[0])
    one_bin = bins[(bins["attack"] == "fgsm") & (bins["discriminator"] == "BvsL")].iloc[0]
    assert one_bin["other_jets"] == c_jets.sum() and one_bin["sf_other"] == pytest.approx(row["sf_other"])
    bvsc = table[(table["attack"] == "raw") & (table["discriminator"] == "BvsC")].iloc[0]
    assert bvsc["sf_other"] == 1  # light jets at BvsC's cut: raw against itself
