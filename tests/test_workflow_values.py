"""The numbers of the test pipeline (.test/config/config.yaml through the DAG, the session's `workflow`) recomputed
independently from the files they come from: the strong suite's PGD against FGSM, a per-bin scale factor,
the premise's resampled error, the data drawn in Figs. 4, 5, 6, 9 and 10, and one more DAG run with
`evaluation.weighted: true` and `evaluation.epsilon_scale: quantile` (the weighted AUC against scikit-learn,
the quantile budgets against numpy and the attacked inputs within them)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import correctionlib
import matplotlib.pyplot as plt
import numpy as np
import onnxruntime
import pandas as pd
import pyarrow.parquet as pq
import pytest
import snakemake_process
import torch
import yaml
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer
from matplotlib.patches import StepPatch
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from workflow_copy import merge

from robusttag import config as rt
from robusttag import figures, paths
from robusttag.analysis.mismodelling import PREMISE_RESAMPLES
from robusttag.attacks.constraints import quantile_scale
from robusttag.export.corrections import flavours, working_point_name
from robusttag.figures import inputs as figure_inputs
from robusttag.figures import robustness as figure_robustness
from robusttag.figures import roc as figure_roc
from robusttag.figures.base import FigureLayoutWarning
from robusttag.history import selected_epoch
from robusttag.metrics import DISCRIMINATORS, cut_at_mistag, discriminant
from robusttag.preprocess import deployed_inputs, first_test_jets, read_summary

ROOT = Path(__file__).resolve().parents[1]
PROBABILITIES = ["p_b", "p_c", "p_light"]
EPSILONS = (0.005, 0.01, 0.02, 0.05)  # .test/config/config.yaml: the default evaluation.epsilons
SUMMARY_EPSILON = 0.05


def _selected(workdir: Path, model: str, seed: int = 1) -> int:
    return selected_epoch(workdir / f"results/models/{model}/seed_{seed}/history.csv")


def _scores(workdir: Path, model: str, name: str, seed: int = 1) -> pd.DataFrame:
    frame = pd.read_parquet(workdir / f"results/scores/{model}/seed_{seed}/{name}.parquet")
    return frame.astype({c: str for c in ("model", "attack", "attack_source") if c in frame})


def _curve(frame: pd.DataFrame, disc: str, weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(is signal, discriminant[, weights]) of one discriminator's jets of a scored attack, in file order."""
    signal, background = DISCRIMINATORS[disc]
    chosen = frame["label"].isin([signal, background]).to_numpy()
    p = frame[PROBABILITIES].to_numpy()[chosen]
    out = (frame["label"].to_numpy()[chosen] == signal, discriminant(p[:, signal], p[:, background]))
    return out if weights is None else (*out, weights[chosen])


def _sklearn_auc(frame: pd.DataFrame, disc: str, weights: np.ndarray | None = None) -> float:
    is_signal, scores, *w = _curve(frame, disc, weights)
    return float(roc_auc_score(is_signal, scores, sample_weight=w[0] if w else None))


def _attack(frame: pd.DataFrame, attack: str, eps: float, source: str | None = None) -> pd.DataFrame:
    chosen = (frame["attack"] == attack) & np.isclose(frame["epsilon"], eps)
    if source is not None:
        chosen &= frame["attack_source"] == source
    return frame[chosen]


# --- the strong suite against FGSM -------------------------------------------------------------


def test_the_suites_attacks_against_fgsm_at_the_same_eps_from_the_score_files(workflow):
    """From the score files, on the same 1000 test jets, each model's selected checkpoint (seed 1), every eps and
    discriminator: PGD of the suite (whose candidates include the FGSM corner, the worst kept per jet) reaches an
    AUC at most FGSM's, and the targeted attack on a discriminator a lower one than FGSM's on that discriminator.
    The AUC table's rows of both attacks are these files' AUCs."""
    auc = pd.read_csv(workflow / "results/tables/auc.csv")

    def table(model, epoch, attack, eps, disc):
        chosen = (auc["model"] == model) & (auc["seed"] == 1) & (auc["epoch"] == epoch) & (auc["attack"] == attack)
        return auc.loc[chosen & np.isclose(auc["epsilon"], eps) & (auc["discriminator"] == disc), "auc"].item()

    compared = 0
    for model in ("nominal", "adversarial"):
        best = _selected(workflow, model)
        fgsm = _scores(workflow, model, f"epoch_{best:03d}")
        strong = _scores(workflow, model, f"epoch_{best:03d}_strong_attacks")
        raw = fgsm[fgsm["attack"] == "raw"]
        for eps in EPSILONS:
            pgd, white_box = _attack(strong, "pgd", eps), _attack(fgsm, "fgsm", eps, source=model)
            assert len(pgd) == len(white_box) == len(raw) == 1000
            np.testing.assert_array_equal(pgd["label"].to_numpy(), white_box["label"].to_numpy())  # the same jets
            for disc in DISCRIMINATORS:
                targeted = _attack(strong, f"targeted_{disc}", eps)
                pgd_auc, fgsm_auc, targeted_auc = (_sklearn_auc(f, disc) for f in (pgd, white_box, targeted))
                assert pgd_auc <= fgsm_auc + 1e-3, (model, eps, disc, pgd_auc, fgsm_auc)
                assert targeted_auc < fgsm_auc < _sklearn_auc(raw, disc), (model, eps, disc, targeted_auc, fgsm_auc)
                # the table (6 decimals) holds these files' AUCs
                assert table(model, best, "pgd", eps, disc) == pytest.approx(pgd_auc, abs=5e-7)
                assert table(model, best, f"targeted_{disc}", eps, disc) == pytest.approx(targeted_auc, abs=5e-7)
                compared += 1
    assert compared == 2 * len(EPSILONS) * 3


# --- a per-bin scale factor by hand -------------------------------------------------------------


def test_a_per_bin_scale_factor_recomputed_from_the_scores(workflow):
    """scale_factors.csv, nominal seed 1 at its selected checkpoint, FGSM at the summary's eps, BvsL at 10 %
    light mistag, in the bin pT 30-50 GeV, |eta| 0-1.2: the cut from the raw validation scores, the jets of the
    bin from the test split's raw pT and eta, the efficiencies and mistag rates counted and divided."""
    best = _selected(workflow, "nominal")
    validation = _scores(workflow, "nominal", f"epoch_{best:03d}_validation")
    is_b, validation_scores = _curve(validation, "BvsL")
    cut = cut_at_mistag(validation_scores, is_b, 0.1)  # the raw validation jets' cut at 10 % light mistag
    kinematics = pd.read_parquet(workflow / "results/preprocessed/test.parquet", columns=["raw_jet_pt", "raw_jet_eta"])
    scores = _scores(workflow, "nominal", f"epoch_{best:03d}")
    raw, fgsm = scores[scores["attack"] == "raw"], _attack(scores, "fgsm", SUMMARY_EPSILON, source="nominal")
    pt, abs_eta = kinematics["raw_jet_pt"].to_numpy(), np.abs(kinematics["raw_jet_eta"].to_numpy())
    in_bin = (pt >= 30) & (pt < 50) & (abs_eta < 1.2)
    signal, background = DISCRIMINATORS["BvsL"]

    def fractions(frame):
        labels, p = frame["label"].to_numpy(), frame[PROBABILITIES].to_numpy()
        tagged = discriminant(p[:, signal], p[:, background]) >= cut
        b, light = in_bin & (labels == signal), in_bin & (labels == background)
        return tagged[b].mean(), tagged[light].mean(), b.sum(), light.sum()

    (eff_raw, mistag_raw, n_b, n_light), (eff, mistag, *_) = fractions(raw), fractions(fgsm)
    table = pd.read_csv(workflow / "results/tables/scale_factors.csv")
    row = table[
        (table["model"] == "nominal")
        & (table["seed"] == 1)
        & (table["epoch"] == best)
        & (table["attack"] == "fgsm")
        & (table["attack_source"] == "nominal")
        & np.isclose(table["epsilon"], SUMMARY_EPSILON)
        & (table["discriminator"] == "BvsL")
        & np.isclose(table["mistag_target"], 0.1)
        & (table["pt_low"] == 30)
        & (table["abs_eta_low"] == 0)
    ]
    assert len(row) == 1
    row = row.iloc[0]
    assert (row["pt_high"], row["abs_eta_high"]) == (50, 1.2)
    assert (row["signal_jets"], row["background_jets"]) == (n_b, n_light) and n_b >= 20 and n_light >= 20
    # the table holds 6 significant digits
    assert row["efficiency"] == pytest.approx(eff, rel=1e-5) and row["mistag"] == pytest.approx(mistag, rel=1e-5)
    assert row["sf_efficiency"] == pytest.approx(eff / eff_raw, rel=1e-5)
    assert row["sf_mistag"] == pytest.approx(mistag / mistag_raw, rel=1e-5)
    assert row["sf_efficiency"] < 1  # FGSM tags fewer b jets at the raw cut
    assert np.isfinite(row["sf_efficiency_err"]) and row["sf_efficiency_err"] > 0


# --- the premise's resampled error ---------------------------------------------------------------


def test_the_correction_file_gives_the_tables_scale_factors_through_correctionlib(workflow):
    """Every measured scale factor of FGSM (as its envelope) and of the shifted sample, and every cut, read
    back by correctionlib's own evaluator at the bin's centre, against the tables value by value."""
    evaluator = correctionlib.CorrectionSet.from_file(str(workflow / paths.corrections("results")))
    tables = workflow / "results" / "tables"
    points, bins = pd.read_csv(tables / "working_points.csv"), pd.read_csv(tables / "scale_factors.csv")
    shifted = pd.read_csv(tables / "shifted_scale_factors.csv")
    fgsm = bins[(bins["attack"] == "fgsm") & (bins["attack_source"] == bins["model"])]
    compared = 0
    for systematic, rows, envelope in (
        (None, fgsm, True),
        ("d0_resolution_up_20pct", shifted[shifted["sample"] == "d0_resolution_up_20pct"], False),
    ):
        for row in rows.itertuples():
            tagger, wp = f"{row.model}_seed{row.seed}_{row.discriminator}", working_point_name(row.mistag_target)
            name = systematic or f"fgsm_eps{row.epsilon:g}_up"
            centre = ((row.abs_eta_low + row.abs_eta_high) / 2, (row.pt_low + row.pt_high) / 2)
            for column, flavour in zip(("sf_efficiency", "sf_mistag", "sf_other"), flavours(row.discriminator)):
                value = getattr(row, column)
                if np.isfinite(value):
                    expected = 1 + abs(value - 1) if envelope else value
                    read = evaluator[tagger].evaluate(name, wp, flavour, *centre)
                    assert read == pytest.approx(expected, rel=1e-12), (tagger, name, wp, flavour, centre)
                    compared += 1
    raw = points[
        (points["attack"] == "raw")
        & points.set_index(["model", "seed", "epoch"]).index.isin(
            fgsm.set_index(["model", "seed", "epoch"]).index.unique()
        )
    ]
    for row in raw.itertuples():
        cuts = evaluator[f"{row.model}_seed{row.seed}_{row.discriminator}_wp_values"]
        assert cuts.evaluate(working_point_name(row.mistag_target)) == pytest.approx(row.cut, rel=1e-12)
    # two seeds' selected checkpoints, two models, 3 discriminators, 2 working points, 3 flavours, the bins
    assert compared > 2 * 2 * 3 * 2 * 3 * 4 and len(raw) == 2 * 2 * 3 * 2


@pytest.mark.parametrize("model, seed", [("nominal", 1), ("adversarial", 2)])
def test_the_exported_taggers_give_the_score_files_probabilities_on_the_raw_test_jets(workflow, model, seed):
    """The ONNX export in ONNX Runtime and the TorchScript export, on the raw test jets read from
    results/raw/jets.parquet, against the raw scores of the selected checkpoint, within 1e-5."""
    summary = read_summary(workflow / "results/preprocessed/preprocessing.json")
    scores = _scores(workflow, model, f"epoch_{_selected(workflow, model, seed):03d}", seed)
    expected = scores.loc[scores["attack"] == "raw", PROBABILITIES].to_numpy()
    batch = first_test_jets(workflow / paths.RAW_JETS, summary, len(expected))
    inputs = deployed_inputs(batch, summary)
    session = onnxruntime.InferenceSession(str(workflow / paths.exported_model("onnx", model, seed, "results")))
    np.testing.assert_allclose(session.run(["probabilities"], {"inputs": inputs})[0], expected, rtol=0, atol=1e-5)
    scripted = torch.jit.load(str(workflow / paths.exported_model("torchscript", model, seed, "results")))
    with torch.no_grad():
        np.testing.assert_allclose(scripted(torch.from_numpy(inputs)).numpy(), expected, rtol=0, atol=1e-5)


def test_the_premises_spearman_error_is_the_spread_of_scipys_rho_over_the_same_resamples(workflow):
    """premise.csv against scipy.stats.spearmanr: rho on the points of premise_points.csv (every row), and its error
    the standard deviation of spearmanr over PREMISE_RESAMPLES resamples of the points (numpy's generator, seed 1;
    a resample whose points all tie on one axis ranks nothing and is left out), for FGSM against the AUC change of
    each discriminator."""
    points = pd.read_csv(workflow / "results/tables/premise_points.csv")
    premise = pd.read_csv(workflow / "results/tables/premise.csv")
    assert len(premise) == 3 * 2 * 3  # discriminators x vulnerabilities x sensitivities, one shifted sample
    resampled = 0
    for row in premise.itertuples():
        group = points[(points["sample"] == row.sample) & (points["discriminator"] == row.discriminator)]
        both = group[[row.vulnerability, row.sensitivity]].dropna()
        x, y = both[row.vulnerability].to_numpy(), both[row.sensitivity].to_numpy()
        assert row.points == len(x) == 6  # 2 modes x (2 epochs of seed 1 + the selected one of seed 2)
        assert row.spearman == pytest.approx(spearmanr(x, y).statistic, rel=1e-5)  # 6 significant digits
        if (row.vulnerability, row.sensitivity) != ("fgsm", "auc_change"):
            continue
        chosen = np.random.default_rng(1).integers(0, len(x), (PREMISE_RESAMPLES, len(x)))
        replicas = [spearmanr(x[r], y[r]).statistic for r in chosen if np.ptp(x[r]) > 0 and np.ptp(y[r]) > 0]
        assert len(replicas) > 0.9 * PREMISE_RESAMPLES
        assert row.spearman_err == pytest.approx(np.std(replicas, ddof=1), rel=1e-5)
        resampled += 1
    assert resampled == 3


# --- the data drawn in the figures ---------------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch) -> list:
    """Every figure a figure function makes, kept (and closed) instead of written."""
    kept = []

    def keep(fig, path):
        kept.append(fig)
        plt.close(fig)
        return Path(f"{path}.png"), Path(f"{path}.pdf")

    for module in (figure_inputs, figure_robustness, figure_roc):
        monkeypatch.setattr(module, "save_figure", keep)
    return kept


def _reference(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["seed"] == 1]


def test_fig4_bars_and_grid_are_the_cross_attack_aucs(workflow, drawn):
    auc = _reference(pd.read_csv(workflow / "results/tables/auc.csv"))
    figures.make_figure("fig4_cross_attacks", [str(workflow / "results/tables/auc.csv")], "f4", summary_epsilon=0.05)
    bars_ax, grid_ax = drawn[-1].axes[:2]
    models = ["nominal", "adversarial"]
    selected = {m: _selected(workflow, m) for m in models}

    def value(target, attack, source=None):
        rows = auc[(auc["model"] == target) & (auc["epoch"] == selected[target]) & (auc["discriminator"] == "CvsL")]
        rows = rows[rows["attack"] == attack]
        if source is not None:
            rows = rows[(rows["attack_source"] == source) & np.isclose(rows["epsilon"], 0.05)]
        return rows["auc"].item()

    heights = {
        c.get_label(): [bar.get_height() for bar in c] for c in bars_ax.containers if isinstance(c, BarContainer)
    }
    assert heights == {
        "raw": [value(t, "raw") for t in models],
        **{f"FGSM from {s}": [value(t, "fgsm", s) for t in models] for s in models},
    }
    grid = np.asarray(grid_ax.images[0].get_array())
    expected = [[value(t, "fgsm", s) - value(t, "raw") for s in models] for t in models]
    np.testing.assert_allclose(grid, expected, rtol=0, atol=1e-12)
    assert (np.diag(grid) < 0).all()  # each model loses AUC under its own FGSM


def test_fig5_histograms_are_the_sampled_inputs_raw_and_under_capped_fgsm(workflow, drawn):
    path = workflow / "results/samples/fgsm_inputs.parquet"
    features = ["trk0_d0", "trk0_z0", "track_2_d0_significance", "vertex_mass"]  # the default input_features
    figures.make_figure(
        "fig5_input_shifts",
        [str(path)],
        "f5",
        input_features=features,
        input_epsilons=[0.01, 0.05],
        restrict_impact=0.25,
    )
    samples = pd.read_parquet(path)
    nominal = samples[samples["model"] == "nominal"]
    raw = nominal[nominal["attack"] == "raw"]
    for ax, feature in zip(drawn[-1].axes, features):
        steps = {p.get_label(): p.get_data() for p in ax.patches if isinstance(p, StepPatch)}
        edges = steps["raw"].edges
        assert len(edges) == 51 or feature == "vertex_mass"  # 50 bins, but for an integer-valued feature

        def counts(values, edges=edges):
            return np.histogram(values[np.isfinite(values)], bins=edges)[0]

        np.testing.assert_array_equal(steps["raw"].values, counts(raw[feature].to_numpy()))
        for eps in (0.01, 0.05):
            attacked = nominal[(nominal["attack"] == "fgsm") & nominal["capped"] & np.isclose(nominal["epsilon"], eps)]
            assert len(attacked) == len(raw) == 1000
            drawn_counts = steps[f"FGSM $\\epsilon = {eps:g}$"].values
            np.testing.assert_array_equal(drawn_counts, counts(attacked[feature].to_numpy()))
        if feature == "trk0_d0":  # a continuous input the attack moves: the histogram changes
            assert (steps["raw"].values != drawn_counts).any()


def test_fig6_curves_are_the_roc_tables_rows(workflow, drawn):
    tables = [str(workflow / "results/tables/roc.parquet"), str(workflow / "results/tables/auc.csv")]
    figures.make_figure("fig6_roc_vs_epsilon", tables, "f6", epsilons=list(EPSILONS))
    roc = _reference(pd.read_parquet(workflow / "results/tables/roc.parquet"))
    auc = _reference(pd.read_csv(workflow / "results/tables/auc.csv"))
    best = _selected(workflow, "nominal")
    for ax, disc in zip(drawn[-1].axes, ("BvsL", "CvsL")):
        lines = ax.get_lines()
        assert len(lines) == 1 + len(EPSILONS)
        curves = [("raw", 0.0, "none")] + [("fgsm", eps, "nominal") for eps in EPSILONS]
        for line, (attack, eps, source) in zip(lines, curves):
            rows = roc[
                (roc["model"] == "nominal")
                & (roc["epoch"] == best)
                & (roc["discriminator"] == disc)
                & (roc["attack"] == attack)
                & (roc["attack_source"] == source)
                & np.isclose(roc["epsilon"], eps)
            ].sort_values("efficiency", kind="stable")
            assert len(rows) == 201
            np.testing.assert_array_equal(line.get_xdata(), rows["efficiency"].to_numpy())
            np.testing.assert_array_equal(line.get_ydata(), rows["mistag"].to_numpy())
            value = auc[
                (auc["model"] == "nominal")
                & (auc["epoch"] == best)
                & (auc["discriminator"] == disc)
                & (auc["attack"] == attack)
                & (auc["attack_source"] == source)
                & np.isclose(auc["epsilon"], eps)
            ]["auc"].item()
            assert line.get_label().endswith(f"(AUC {value:.3f})")


def test_fig9_points_are_each_checkpoints_raw_auc_and_its_fgsm_drop(workflow, drawn):
    figures.make_figure("fig9_auc_drop", [str(workflow / "results/tables/auc.csv")], "f9")
    auc = _reference(pd.read_csv(workflow / "results/tables/auc.csv"))
    auc = auc[auc["discriminator"] == "BvsL"]
    raw = auc[auc["attack"] == "raw"].set_index(["model", "epoch"])["auc"]
    own = auc[(auc["attack"] == "fgsm") & (auc["attack_source"] == auc["model"])]
    expected = sorted((raw[r.model, r.epoch], r.auc - raw[r.model, r.epoch]) for r in own.itertuples())
    assert len(expected) == 2 * 2 * len(EPSILONS)  # 2 models x 2 checkpoints x every eps
    ax = drawn[-1].axes[0]
    # the points: one scatter per (model, eps), 45 pt^2; the larger black rings mark the selected checkpoints
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]  # not the error bars' lines
    points = [c.get_offsets() for c in scatters if c.get_sizes().tolist() == [45.0]]
    drawn_points = sorted(tuple(p) for offsets in points for p in np.asarray(offsets))
    np.testing.assert_allclose(drawn_points, expected, rtol=0, atol=1e-12)
    rings = np.concatenate([c.get_offsets() for c in scatters if c.get_sizes().tolist() == [220.0]])
    selected = [raw[model, _selected(workflow, model)] for model in ("nominal", "adversarial")]
    # at the raw AUC of each model's selected checkpoint, once per eps
    assert len(rings) == 2 * len(EPSILONS) and set(rings[:, 0]) == set(selected)


def test_fig10_histograms_are_the_first_tracks_d0_per_flavour_raw_and_under_uncapped_fgsm(workflow, drawn):
    path = workflow / "results/samples/fgsm_inputs.parquet"
    figures.make_figure("fig10_first_track_d0", [str(path)], "f10", uncapped_epsilon=0.1)
    samples = pd.read_parquet(path)
    for ax, model in zip(drawn[-1].axes, ("nominal", "adversarial")):
        steps = {p.get_label(): p.get_data() for p in ax.patches if isinstance(p, StepPatch)}
        jets = samples[samples["model"] == model]
        raw = jets[jets["attack"] == "raw"]
        uncapped = jets[(jets["attack"] == "fgsm") & ~jets["capped"] & np.isclose(jets["epsilon"], 0.1)]
        assert len(uncapped) == len(raw) == 1000
        for flavour, label in (("b", 0), ("c", 1), ("light", 2)):
            for frame, kind in ((raw, "raw"), (uncapped, "FGSM")):
                data = steps[f"{flavour} jets, {kind}"]
                values = frame.loc[frame["label"] == label, "trk0_d0"].to_numpy()
                counts = np.histogram(values, bins=data.edges)[0]
                np.testing.assert_allclose(data.values, counts / counts.sum() / np.diff(data.edges), rtol=1e-12)
        moved = steps["b jets, FGSM"].values != steps["b jets, raw"].values
        assert moved.any()  # eps 0.1 without the cap moves the first track's d0


# --- weighted metrics and the quantile budget, through the DAG ------------------------------------

WEIGHTED_QUANTILE = """\
evaluation:
  weighted: true
  epsilon_scale: quantile
  max_jets: 400
  epochs: [1]
  attacks: [{method: pgd, steps: 1}]
  certified_jets: 100
  exact_domains: 2000
  visibility_jets: 100
  bootstrap: 0
  strong_attacks: {epochs: []}
  shifted_samples: {samples: []}
"""


def _test_config() -> dict:
    """The test pipeline's configuration as Snakemake sees it: the schema's defaults under
    config/config.yaml under .test/config/config.yaml."""
    config = rt.default_config()
    for file in ("config/config.yaml", ".test/config/config.yaml"):
        config = merge(config, yaml.safe_load((ROOT / file).read_text()))
    return config


@pytest.mark.parametrize("name", rt.study_figures(audit=False, shifted=True))
def test_each_figure_of_the_test_run_is_drawn_with_no_text_over_another_or_off_the_canvas(workflow, name, tmp_path):
    """Redrawn from the run's own files and settings (the registry's), as its rule draws it; a text box over
    another text or beyond the canvas is a FigureLayoutWarning, here an error."""
    evaluation = _test_config()["evaluation"]
    trainings = [paths.model_dir(model, 1, paths.RESULTS) for model in ("nominal", "adversarial")]
    inputs = [str(workflow / file) for file in paths.figure_inputs(name, paths.RESULTS, True, trainings)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FigureLayoutWarning)
        png, pdf = figures.make_figure(name, inputs, tmp_path / name, **rt.figure_config(name, evaluation))
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0


@pytest.fixture(scope="module")
def weighted_quantile(workflow, tmp_path_factory) -> Path:
    """The test pipeline again, its trainings kept, with weighted metrics and the quantile budget on the first
    400 test jets (the least besides: one PGD step, the selected checkpoint only for the suite, no shifted sample),
    up to the AUC table and the input samples."""
    workdir = tmp_path_factory.mktemp("weighted_quantile") / "workflow"
    shutil.copytree(workflow, workdir, symlinks=True)  # the outputs keep their times: only the new jobs run
    (workdir / "weighted_quantile.yaml").write_text(WEIGHTED_QUANTILE)
    targets = ("results/tables/auc.csv", "results/samples/fgsm_inputs.parquet")
    configs = (".test/config/config.yaml", "weighted_quantile.yaml")
    result = snakemake_process.run(
        workdir, *targets, "--resources", "gpu=2", "--cores", "2", "--configfile", *configs, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "rule train" not in result.stdout + result.stderr  # the trainings were kept
    return workdir


def test_the_weighted_auc_is_scikit_learns_with_the_test_splits_weights(weighted_quantile):
    workdir = weighted_quantile
    weights = pq.read_table(workdir / "results/preprocessed/test.parquet", columns=["weight"])["weight"].to_numpy()
    weights = weights[:400].astype(np.float64)
    assert np.ptp(weights) > 0  # the flavour weights differ from jet to jet: weighting changes the AUC
    auc = pd.read_csv(workdir / "results/tables/auc.csv")
    best = _selected(workdir, "nominal")
    scores = _scores(workdir, "nominal", f"epoch_{best:03d}")
    checked = 0
    for attack, eps, source in (("raw", 0.0, "none"), ("fgsm", 0.05, "nominal"), ("fgsm", 0.01, "nominal")):
        jets = _attack(scores, attack, eps, source)
        assert len(jets) == 400
        for disc in DISCRIMINATORS:
            row = auc[
                (auc["model"] == "nominal")
                & (auc["seed"] == 1)
                & (auc["epoch"] == best)
                & (auc["attack"] == attack)
                & (auc["attack_source"] == source)
                & np.isclose(auc["epsilon"], eps)
                & (auc["discriminator"] == disc)
            ]
            weighted = _sklearn_auc(jets, disc, weights)
            assert row["auc"].item() == pytest.approx(weighted, abs=5e-7), (attack, eps, disc)  # 6 digits
            assert abs(weighted - _sklearn_auc(jets, disc)) > 1e-6  # not the unweighted AUC
            checked += 1
    assert checked == 9


def _quantile_budgets(workdir: Path, names: list[str]) -> np.ndarray:
    """Half the 1 %-99 % range of each input's genuine training values (its default flag unset), standardised."""
    train = pq.read_table(workdir / "results/preprocessed/train.parquet").to_pandas()
    budgets = []
    for name in names:
        genuine = train.loc[~train[f"default_{name}"].astype(bool), name].to_numpy(np.float64)
        low, high = np.quantile(genuine, [0.01, 0.99])
        budgets.append((high - low) / 2)
    return np.array(budgets)


def test_the_quantile_budget_is_half_the_1_to_99_percent_range_and_bounds_every_attacked_input(weighted_quantile):
    workdir = weighted_quantile
    summary = json.loads((workdir / "results/preprocessed/preprocessing.json").read_text())
    order = summary["feature_order"]
    budgets = _quantile_budgets(workdir, order)
    np.testing.assert_allclose(
        quantile_scale(workdir / "results/preprocessed/train.parquet", summary).numpy(), budgets, rtol=1e-12
    )
    assert np.ptp(budgets[budgets > 0]) > 0.1  # budgets that differ from input to input, unlike the unit scale
    samples = pd.read_parquet(workdir / "results/samples/fgsm_inputs.parquet")
    features = ["trk0_d0", "trk0_z0", "track_2_d0_significance", "vertex_mass"]
    std = {c["name"]: c["std"] for c in summary["features"]}
    checked = 0
    for model in ("nominal", "adversarial"):
        jets = samples[samples["model"] == model]
        raw = jets[jets["attack"] == "raw"]
        assert len(raw) == 400
        for eps, capped in ((0.01, True), (0.05, True), (0.1, False)):
            attacked = jets[(jets["attack"] == "fgsm") & (jets["capped"] == capped) & np.isclose(jets["epsilon"], eps)]
            for feature in features:
                budget = eps * budgets[order.index(feature)]
                shift = np.abs(attacked[feature].to_numpy(np.float64) - raw[feature].to_numpy(np.float64))
                shift = shift / std[feature]  # in standardised units
                assert (shift <= budget * (1 + 1e-5) + 1e-6).all(), (model, eps, feature)
                if not capped and feature in ("trk0_d0", "trk0_z0"):
                    # uncapped FGSM goes to the corner: most genuine values move by the whole budget
                    assert np.mean(np.isclose(shift, budget, rtol=1e-4)) > 0.5, (model, feature)
                    assert not np.isclose(budget, eps, rtol=0.05)  # and that budget is not the unit one
                checked += 1
    assert checked == 2 * 3 * 4
