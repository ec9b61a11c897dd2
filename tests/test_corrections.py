"""The correctionlib export, read back by correctionlib's own evaluator and compared with the tables value by value."""

from __future__ import annotations

import correctionlib
import numpy as np
import pandas as pd
import pytest

from robusttag.analysis.tables import score_groups
from robusttag.analysis.working_points import fixed_cut_tables
from robusttag.errors import ResultsError
from robusttag.export.corrections import correction_set, flavours, working_point_name, write_corrections
from robusttag.features import LABELS

PT_BINS, ETA_BINS = (20, 100, 200), (0, 1.2, 2.5)


def _scores(attack, source, eps, labels, p, model="nominal"):
    return pd.DataFrame(
        {"model": model, "seed": 1, "epoch": 3, "attack": attack, "attack_source": source, "epsilon": eps}
        | {"label": labels, "weight": 1.0, "p_b": p[:, 0], "p_c": p[:, 1], "p_light": p[:, 2]}
    )


@pytest.fixture(scope="module")
def tables():
    """Working points and per-bin SFs of one checkpoint: raw, FGSM and PGD (white box), a cross attack, noise."""
    rng = np.random.default_rng(3)
    n = 6000
    labels = rng.choice([LABELS["b"], LABELS["c"], LABELS["light"]], size=n, p=[0.3, 0.2, 0.5])
    p = rng.dirichlet(np.ones(3), size=n)
    p[np.arange(n), labels] += 1.0
    p /= p.sum(1, keepdims=True)

    def moved(strength):  # every jet's probabilities moved, the more in the forward region
        noise = rng.normal(0, strength, size=(n, 3))
        q = p * np.exp(noise)
        return q / q.sum(1, keepdims=True)

    frames = [
        _scores("raw", "none", 0.0, labels, p),
        _scores("fgsm", "nominal", 0.05, labels, moved(0.3)),
        _scores("pgd", "nominal", 0.05, labels, moved(0.6)),
        _scores("fgsm", "adversarial", 0.05, labels, moved(1.5)),  # a cross attack: not this model's shift
        _scores("noise", "none", 0.05, labels, moved(1.5)),
    ]
    scores = pd.concat(frames, ignore_index=True)
    kinematics = pd.DataFrame({"raw_jet_pt": rng.uniform(20, 200, n), "raw_jet_eta": rng.uniform(-2.5, 2.5, n)})
    points, bins = fixed_cut_tables(
        scores, score_groups(scores), frames[0], (0.01, 0.1), False, None, kinematics, PT_BINS, ETA_BINS
    )
    # a shifted sample's tables: the PGD rows under a sample's name
    shifted_points = points[points["attack"] == "pgd"].assign(sample="fsr_up", reference="nominal_twin", selected=True)
    shifted_bins = bins[bins["attack"] == "pgd"].assign(sample="fsr_up", reference="nominal_twin")
    return points, bins, shifted_points, shifted_bins


def _centres(edges):
    return [(low + high) / 2 for low, high in zip(edges[:-1], edges[1:])]


def _evaluator(tmp_path, tables):
    """The tables as CSV files, exported, and read back by correctionlib."""
    files = [tmp_path / f"{name}.csv" for name in ("points", "bins", "shifted_points", "shifted_bins")]
    for file, table in zip(files, tables):
        table.to_csv(file, index=False)
    write_corrections(files[0], files[1], tmp_path / "sf.json.gz", files[2], files[3])
    return correctionlib.CorrectionSet.from_file(str(tmp_path / "sf.json.gz"))


def _in_bin(table, disc, mistag, eta, pt, **keys):
    """The per-bin table's row of a curve at (|eta|, pT)."""
    chosen = (table["discriminator"] == disc) & np.isclose(table["mistag_target"], mistag)
    chosen &= (
        (table["abs_eta_low"] < eta) & (table["abs_eta_high"] > eta) & (table["pt_low"] < pt) & (table["pt_high"] > pt)
    )
    for column, value in keys.items():
        chosen &= table[column] == value
    (row,) = table[chosen].itertuples()
    return row


def test_every_scale_factor_reads_back_through_correctionlib(tmp_path, tables):
    points, bins, _, shifted_bins = tables
    evaluator = _evaluator(tmp_path, tables)
    taggers = [f"nominal_seed1_{disc}" for disc in ("BvsL", "CvsL", "BvsC")]
    assert sorted(evaluator) == sorted([*taggers, *(f"{t}_wp_values" for t in taggers)])
    checked = 0
    for disc in ("BvsL", "CvsL", "BvsC"):
        sf, cuts = evaluator[f"nominal_seed1_{disc}"], evaluator[f"nominal_seed1_{disc}_wp_values"]
        for mistag in (0.01, 0.1):
            wp = working_point_name(mistag)
            raw = points[(points["attack"] == "raw") & (points["discriminator"] == disc)]
            cut = raw.loc[np.isclose(raw["mistag_target"], mistag), "cut"].iloc[0]
            assert cuts.evaluate(wp) == pytest.approx(cut, rel=1e-15)  # correctionlib's JSON parser: to 1 ulp
            for column, flavour in zip(("sf_efficiency", "sf_mistag", "sf_other"), flavours(disc)):
                for eta in _centres(ETA_BINS):
                    for pt in _centres(PT_BINS):
                        fgsm, pgd = (
                            getattr(_in_bin(bins, disc, mistag, eta, pt, attack=a, attack_source="nominal"), column)
                            for a in ("fgsm", "pgd")
                        )
                        shifted = getattr(_in_bin(shifted_bins, disc, mistag, eta, pt, sample="fsr_up"), column)
                        assert np.isfinite([fgsm, pgd, shifted]).all()  # every bin measured (another test: not)
                        assert sf.evaluate("central", wp, flavour, eta, pt) == 1.0
                        assert sf.evaluate("fgsm_eps0.05_up", wp, flavour, eta, pt) == pytest.approx(1 + abs(fgsm - 1))
                        assert sf.evaluate("fgsm_eps0.05_down", wp, flavour, eta, pt) == pytest.approx(
                            1 - abs(fgsm - 1)
                        )
                        worst = max(abs(fgsm - 1), abs(pgd - 1))  # the white-box attacks: not the cross, not noise
                        assert sf.evaluate("worst_attack_eps0.05_up", wp, flavour, eta, pt) == pytest.approx(1 + worst)
                        assert sf.evaluate("fsr_up", wp, flavour, eta, pt) == pytest.approx(shifted)
                        checked += 1
    assert checked == 3 * 2 * 3 * 4  # discriminators, working points, flavours, bins


def test_flavours_and_working_points_as_the_cms_files_name_them():
    assert flavours("BvsL") == (5, 0, 4) and flavours("CvsL") == (4, 0, 5) and flavours("BvsC") == (5, 4, 0)
    assert [working_point_name(m) for m in (0.1, 0.01, 0.001, 0.05)] == ["L", "M", "T", "mistag_0.05"]


def test_outside_the_bins_the_edge_bin_holds_and_an_unknown_key_is_refused(tmp_path, tables):
    sf = _evaluator(tmp_path, tables)["nominal_seed1_BvsL"]
    edge = sf.evaluate("fgsm_eps0.05_up", "L", 5, 2.0, 150.0)
    assert sf.evaluate("fgsm_eps0.05_up", "L", 5, 4.0, 900.0) == edge  # clamped to the last (|eta|, pT) bin
    with pytest.raises(IndexError):
        sf.evaluate("fgsm_eps0.05_up", "L", 21, 2.0, 150.0)  # a gluon is no hadron flavour


def test_a_bin_without_a_scale_factor_takes_the_working_points_one(tmp_path, tables):
    points, bins, shifted_points, shifted_bins = tables
    row = _in_bin(bins, "BvsL", 0.1, 0.6, 60, attack="fgsm", attack_source="nominal")
    bins = bins.copy()
    bins.loc[row.Index, "sf_mistag"] = np.nan  # as where the raw simulation tags no light jet of the bin
    whole = points[(points["attack"] == "fgsm") & (points["attack_source"] == "nominal")]
    whole = whole[(whole["discriminator"] == "BvsL") & np.isclose(whole["mistag_target"], 0.1)]["sf_mistag"].iloc[0]
    sf = _evaluator(tmp_path, (points, bins, shifted_points, shifted_bins))["nominal_seed1_BvsL"]
    assert sf.evaluate("fgsm_eps0.05_up", "L", 0, 0.6, 60.0) == pytest.approx(1 + abs(whole - 1))
    assert sf.evaluate("fgsm_eps0.05_up", "L", 0, 0.6, 150.0) != pytest.approx(1 + abs(whole - 1))


def test_without_raw_rows_nothing_is_written(tmp_path, tables):
    points, bins, *_ = tables
    with pytest.raises(ResultsError, match="no raw rows"):
        correction_set(points, bins[bins["attack"] != "raw"])
    points.to_csv(tmp_path / "points.csv", index=False)
    bins[bins["attack"] != "raw"].to_csv(tmp_path / "bins.csv", index=False)
    with pytest.raises(ResultsError, match="no raw rows"):
        write_corrections(tmp_path / "points.csv", tmp_path / "bins.csv", tmp_path / "out" / "sf.json.gz")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())  # no half-written file
