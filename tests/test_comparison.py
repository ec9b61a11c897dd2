"""The architectures compared: hand-made seed tables side by side, the differences against the first
architecture with errors in quadrature, the shifted samples' scale factors, the summary and the figure."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from robusttag.analysis.comparison import COMPARISON_COLUMNS, architecture_table, training_cost
from robusttag.analysis.seeds import SEED_COLUMNS
from robusttag.errors import ResultsError
from robusttag.figures import plot_architectures
from robusttag.report.architectures import summary_markdown


def _seeds(raw: float, fgsm: float, ratio: float, error: float) -> pd.DataFrame:
    """A seeds.csv of two modes and one discriminator: value ± error (statistical = training = error / sqrt 2)."""
    part = error / math.sqrt(2)
    rows = []
    for quantity, model, value, null in (
        ("raw_auc", "nominal", raw, np.nan),
        ("raw_auc", "adversarial", raw - 0.002, np.nan),
        ("fgsm_relative_drop", "nominal", fgsm, np.nan),
        ("fgsm_relative_drop", "adversarial", fgsm * ratio, np.nan),
        ("fgsm_drop_ratio", "adversarial vs nominal", ratio, 1.0),
        ("worst_minus_fgsm_drop", "nominal", 0.01, 0.0),  # not carried over
    ):
        z = (value - null) / error if np.isfinite(null) else np.nan
        rows.append(
            dict(
                zip(
                    SEED_COLUMNS,
                    (quantity, model, "BvsL", 3, value, part, part * 1.7, part, error, null, z, abs(z) > 3),
                )
            )
        )
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


def test_the_architectures_side_by_side_and_each_against_the_first():
    table = architecture_table({"dnn": _seeds(0.90, 0.05, 0.5, 0.003), "transformer": _seeds(0.93, 0.03, 0.9, 0.004)})
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    own = table[table["architecture"].isin(["dnn", "transformer"])]
    assert len(own) == 2 * 5 and "worst_minus_fgsm_drop" not in set(own["quantity"])
    difference = table[table["architecture"] == "transformer - dnn"].set_index(["quantity", "model"])
    raw = difference.loc[("raw_auc_difference", "nominal")]
    assert raw["value"] == pytest.approx(0.03)
    assert raw["total_err"] == pytest.approx(0.005)  # 0.003 and 0.004 in quadrature
    assert raw["z"] == pytest.approx(6.0) and raw["significant"]
    fgsm = difference.loc[("fgsm_relative_drop_difference", "adversarial")]
    assert fgsm["value"] == pytest.approx(0.03 * 0.9 - 0.05 * 0.5)
    assert fgsm["z"] == pytest.approx(0.002 / 0.005) and not fgsm["significant"]
    assert fgsm["stat_err"] == pytest.approx(math.hypot(0.003, 0.004) / math.sqrt(2))
    assert ("fgsm_drop_ratio_difference", "adversarial vs nominal") not in difference.index  # ratios: per architecture


def _shifted(auc_change: float, sf_mistag: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    base = {"sample": "d0_up", "model": "nominal", "discriminator": "BvsL", "selected": True}
    auc = pd.DataFrame(
        [
            base | {"seed": 1, "epoch": 4, "reference_auc": 0.9, "auc_change": auc_change, "auc_change_err": 0.0009},
            base | {"seed": 2, "epoch": 3, "reference_auc": 0.9, "auc_change": 1.0, "auc_change_err": 0.1},
        ]
    )
    wp = pd.DataFrame(
        [
            base
            | {
                "seed": 1,
                "epoch": 4,
                "mistag_target": t,
                "sf_efficiency": 0.99,
                "sf_efficiency_err": 0.001,
                "sf_mistag": sf_mistag if t == 0.1 else 7.0,
                "sf_mistag_err": 0.005,
            }
            for t in (0.01, 0.1)
        ]
    )
    return auc, wp


def test_the_shifted_samples_scale_factors_per_architecture_at_the_reference_seed():
    seeds = {"dnn": _seeds(0.90, 0.05, 0.5, 0.003), "deepsets": _seeds(0.92, 0.04, 0.6, 0.003)}
    table = architecture_table(seeds, {"dnn": _shifted(-0.0045, 1.05), "deepsets": _shifted(-0.0009, 1.01)}, 1)
    shifted = table[table["quantity"].str.startswith("shifted_")].set_index(["architecture", "quantity"])
    change = shifted.loc[("dnn", "shifted_relative_auc_change")]
    assert change["value"] == pytest.approx(-0.005) and change["total_err"] == pytest.approx(0.001)
    assert change["z"] == pytest.approx(-5.0) and change["significant"] and change["sample"] == "d0_up"
    mistag = shifted.loc[("deepsets", "shifted_sf_mistag")]
    assert mistag["value"] == pytest.approx(1.01) and mistag["z"] == pytest.approx(2.0) and not mistag["significant"]
    assert len(shifted) == 2 * 3  # one seed, the 10 % mistag point only


def test_the_summary_quotes_every_architecture_and_the_significant_differences(tmp_path):
    seeds = {"dnn": _seeds(0.90, 0.05, 0.5, 0.003), "transformer": _seeds(0.93, 0.03, 0.9, 0.004)}
    table = architecture_table(seeds, {"dnn": _shifted(-0.0045, 1.05), "transformer": _shifted(-0.0009, 1.01)}, 1)
    for architecture in ("dnn", "transformer"):
        for mode in ("nominal", "adversarial"):
            folder = tmp_path / architecture / "models" / mode / "seed_1"
            folder.mkdir(parents=True)
            (folder / "history.csv").write_text(
                "epoch,train_loss,val_loss,val_auc_bvsl,val_auc_cvsl,selection_score,lr,seconds,jets_per_s\n"
                f"1,1,1,0.9,0.6,0.2,0.001,{10 if architecture == 'dnn' else 100},1000\n"
            )
    cost = training_cost({a: sorted((tmp_path / a / "models").glob("*/seed_1")) for a in ("dnn", "transformer")})
    assert cost["seconds_per_epoch"].tolist() == [10.0, 10.0, 100.0, 100.0]
    text = summary_markdown(
        table, cost, 0.05, ["dnn", "transformer"], {"dnn": "tables/summary.md", "transformer": "t.md"}
    )
    assert "| transformer | nominal | 0.9300 ± 0.0040 | 3.00 ± 0.40 % |" in text
    assert "| transformer - dnn | nominal | 0.0300 ± 0.0050 ** |" in text  # z = 6
    assert "| d0_up | transformer | nominal | -0.10 ± 0.10 % | 1.0100 ± 0.0050 |" in text
    assert "| transformer | nominal | 1 | 100.0 | 1000 |" in text
    assert "[transformer](t.md)" in text
    assert "beyond 3 errors" in text


def test_the_comparison_figure_draws_and_refuses_an_empty_table(tmp_path):
    table = architecture_table({"dnn": _seeds(0.90, 0.05, 0.5, 0.003), "deepsets": _seeds(0.92, 0.04, 0.6, 0.003)})
    png, pdf = plot_architectures(table, tmp_path / "architectures")
    assert png.stat().st_size > 10_000 and pdf.exists()
    with pytest.raises(ResultsError, match="no raw AUC"):
        plot_architectures(table.iloc[0:0], tmp_path / "empty")
