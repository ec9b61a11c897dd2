"""The plotting functions write PNG + PDF from small synthetic tables and refuse absent selections."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from matplotlib.legend import Legend

from robusttag import figures
from robusttag.analysis.comparison import architecture_table
from robusttag.analysis.seeds import SEED_COLUMNS
from robusttag.analysis.tables import worst_case_table
from robusttag.config import FIGURE_KEYS
from robusttag.errors import ConfigError, ResultsError
from robusttag.features import feature_label
from robusttag.figures import base as figure_base
from robusttag.figures import calibration as figure_calibration
from robusttag.figures import comparison as figure_comparison
from robusttag.figures import distances as figure_distances
from robusttag.figures import history as figure_history
from robusttag.figures import inputs as figure_inputs
from robusttag.figures import mismodelling as figure_mismodelling
from robusttag.figures import robustness as figure_robustness
from robusttag.figures import roc as figure_roc
from robusttag.figures import suite as figure_suite
from robusttag.figures.base import FigureLayoutWarning

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MODELS = ("nominal", "adversarial")
EPOCHS = (1, 2, 3)
EPSILONS = (0.01, 0.05, 0.1)
DISCS = ("BvsL", "CvsL", "BvsC")
GRID = np.linspace(0.0, 1.0, 11)


def _strength(model: str, epoch: int, disc: str, source: str | None, eps: float) -> float:
    """Exponent k of mistag = eff**k: larger k = better tagger."""
    k = 2.0 + epoch + (1.0 if disc == "BvsL" else 0.0)
    if source is not None:
        k /= 1.0 + eps * (30.0 if model == "nominal" else 8.0) * (1.0 if source == model else 0.5)
    return k


@pytest.fixture(scope="module")
def roc() -> pd.DataFrame:
    rows = []
    for model in MODELS:
        for epoch in EPOCHS:
            for disc in DISCS:
                curves = [("raw", model, 0.0, None)]
                curves += [("fgsm", src, eps, src) for src in MODELS for eps in EPSILONS]
                for attack, source, eps, src in curves:
                    k = _strength(model, epoch, disc, src, eps)
                    for eff in GRID:
                        rows.append((model, epoch, attack, source, eps, disc, eff, max(eff**k, 1e-4)))
    return pd.DataFrame(
        rows, columns=["model", "epoch", "attack", "attack_source", "epsilon", "discriminator", "efficiency", "mistag"]
    )


@pytest.fixture(scope="module")
def auc() -> pd.DataFrame:
    return _auc_table(MODELS)


def _auc_table(models: Sequence[str]) -> pd.DataFrame:
    """The AUC table of ``models``, each under every model's FGSM."""
    rows = []
    for model in models:
        selected_epoch = 3 if model == "nominal" else 2
        for epoch in EPOCHS:
            for disc in DISCS:
                curves = [("raw", model, 0.0, None)]
                curves += [("fgsm", src, eps, src) for src in models for eps in EPSILONS]
                for attack, source, eps, src in curves:
                    k = _strength(model, epoch, disc, src, eps)
                    area = k / (k + 1.0)  # AUC of mistag = eff**k
                    rows.append((model, epoch, attack, source, eps, disc, area, 0.3, 0.6, 0.9, epoch == selected_epoch))
    return pd.DataFrame(
        rows,
        columns=[
            "model",
            "epoch",
            "attack",
            "attack_source",
            "epsilon",
            "discriminator",
            "auc",
            "eff_at_mistag_0.01",
            "eff_at_mistag_0.1",
            "scale_factor_at_mistag_0.01",
            "selected",
        ],
    ).assign(seed=1)  # one training seed: the reference


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 150
    frames = []
    for model in MODELS:
        label = rng.integers(0, 3, n).astype(np.int8)
        base = pd.DataFrame(
            {
                "label": label,
                "jet_pt": rng.exponential(60.0, n) + 20.0,
                "jet_eta": rng.uniform(-2.5, 2.5, n),
                "trk0_d0": rng.normal(0.0, 0.05, n) + 0.05 * (label == 0),
                "track_2_d0_significance": rng.normal(2.0, 3.0, n),
                "n_secondary_vertices": rng.integers(0, 4, n).astype(float),
            }
        )
        base.loc[:4, "trk0_d0"] = -5.0  # defaults far below the bulk
        base.loc[5, "jet_eta"] = np.nan
        base.loc[6, "jet_pt"] = np.inf
        for attack, eps, capped in [("raw", 0.0, False)] + [("fgsm", e, c) for e in EPSILONS for c in (True, False)]:
            frame = base.copy()
            if attack == "fgsm":
                shift = eps * (1.0 if model == "nominal" else 0.3) * rng.choice([-1.0, 1.0], n)
                for col in ("jet_pt", "jet_eta", "trk0_d0", "track_2_d0_significance"):
                    frame[col] = frame[col] + shift * (0.25 if capped else 1.0) * frame[col].abs().clip(upper=10)
            frame.insert(0, "model", model)
            frame["attack"] = attack
            frame["epsilon"] = eps
            frame["capped"] = capped
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def histories() -> dict[str, pd.DataFrame]:
    out = {}
    for i, mode in enumerate(MODELS):
        epoch = np.arange(1, 11)
        out[mode] = pd.DataFrame(
            {
                "epoch": epoch,
                "train_loss": 1.0 / epoch + 0.1 * i,
                "val_loss": 1.0 / epoch + 0.02 * (epoch - 6) ** 2 / 10 + 0.1 * i,
                "val_auc_bvsl": 0.95 - 0.1 / epoch - 0.01 * i,
                "val_auc_cvsl": 0.75 - 0.1 / epoch - 0.01 * i,
                "selection_score": np.abs(epoch - 7 + i) + 0.1,  # selected: epoch 7, then 6
                "lr": 1e-4 / (1 + epoch / 30),
                "seconds": 2.0,
                "jets_per_s": 1e5,
            }
        )
    return out


@pytest.fixture(autouse=True)
def _low_dpi(request, monkeypatch):
    """Rasterise at low resolution to keep the suite fast; test_png_resolution checks the real 150 dpi.

    The layout check is not affected: it measures at LAYOUT_DPI (150), whatever the PNGs' resolution.
    """
    if request.node.name != "test_png_resolution":
        monkeypatch.setattr(figure_base, "DPI", 30)


@pytest.fixture
def drawn(monkeypatch) -> list[dict]:
    """Every figure saved, with the titles and entries of its legends, in drawing order."""
    saved = []
    modules = (figure_inputs, figure_roc, figure_robustness, figure_history, figure_suite, figure_calibration)
    for module in (*modules, figure_mismodelling, figure_comparison, figure_distances):

        def save(fig, path, real=module.save_figure):
            legends = fig.findobj(Legend)
            saved.append(
                {
                    "figure": fig,
                    "titles": [legend.get_title().get_text() for legend in legends],
                    "entries": [text.get_text() for legend in legends for text in legend.get_texts()],
                }
            )
            return real(fig, path)

        monkeypatch.setattr(module, "save_figure", save)
    return saved


def _assert_written(base) -> None:
    png = base.parent / f"{base.name}.png"
    pdf = base.parent / f"{base.name}.pdf"
    assert png.is_file() and png.stat().st_size > 0
    assert pdf.is_file() and pdf.stat().st_size > 0
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert pdf.read_bytes()[:5] == b"%PDF-"
    leftovers = [p.name for p in base.parent.iterdir() if ".tmp." in p.name]
    assert not leftovers


def test_input_shifts(samples, tmp_path):
    base = tmp_path / "figs" / "fig5_input_shifts"  # parent created on demand
    out = figures.plot_input_shifts(
        samples,
        "nominal",
        ["jet_pt", "trk0_d0", "track_2_d0_significance", "jet_eta"],
        [0.01, 0.05],
        base,
        restrict_impact=0.25,
        ranges={"jet_pt": (0.0, 400.0)},
    )
    _assert_written(base)
    assert [p.suffix for p in out] == [".png", ".pdf"]
    # odd number of panels, an integer feature, forced log scale, uncapped rows
    figures.plot_input_shifts(
        samples,
        "adversarial",
        ["n_secondary_vertices", "jet_pt", "jet_eta"],
        [0.1],
        tmp_path / "odd",
        logy={"jet_pt": True},
        restrict_impact=None,
    )
    _assert_written(tmp_path / "odd")


def test_input_shifts_absent(samples, tmp_path):
    with pytest.raises(ResultsError, match="model 'ghost'"):
        figures.plot_input_shifts(samples, "ghost", ["jet_pt"], [0.01], tmp_path / "x", restrict_impact=0.25)
    with pytest.raises(ResultsError, match="epsilon 0.3"):
        figures.plot_input_shifts(samples, "nominal", ["jet_pt"], [0.3], tmp_path / "x", restrict_impact=0.25)
    with pytest.raises(ResultsError, match=r"lacks feature column\(s\) \['no_such_feature'\]; it holds \['jet_pt'"):
        figures.plot_input_shifts(samples, "nominal", ["no_such_feature"], [0.01], tmp_path / "x", restrict_impact=0.25)
    assert not list(tmp_path.iterdir())


def test_roc_vs_epsilon(roc, auc, tmp_path):
    figures.plot_roc_vs_epsilon(roc, "nominal", 3, [0.01, 0.05, 0.1], tmp_path / "fig6", auc=auc)
    _assert_written(tmp_path / "fig6")
    figures.plot_roc_vs_epsilon(roc, "adversarial", 2, [0.05], tmp_path / "fig6_bvsc", discriminators=["BvsC"])
    _assert_written(tmp_path / "fig6_bvsc")


def test_roc_vs_epsilon_absent(roc, tmp_path):
    with pytest.raises(ResultsError, match="epoch 99"):
        figures.plot_roc_vs_epsilon(roc, "nominal", 99, [0.05], tmp_path / "x")
    with pytest.raises(ResultsError, match="epsilon 0.2"):
        figures.plot_roc_vs_epsilon(roc, "nominal", 3, [0.05, 0.2], tmp_path / "x")
    with pytest.raises(ResultsError, match="model 'ghost'"):
        figures.plot_roc_vs_epsilon(roc, "ghost", 3, [0.05], tmp_path / "x")
    with pytest.raises(ResultsError, match="unknown discriminator"):
        figures.plot_roc_vs_epsilon(roc, "nominal", 3, [0.05], tmp_path / "x", discriminators=["XvsY"])
    with pytest.raises(ResultsError, match="lacks column"):
        figures.plot_roc_vs_epsilon(roc.drop(columns="mistag"), "nominal", 3, [0.05], tmp_path / "x")
    assert not list(tmp_path.iterdir())


def test_roc_per_checkpoint(roc, auc, tmp_path):
    figures.plot_roc_per_checkpoint(roc, "nominal", [1, 2, 3], 0.05, tmp_path / "fig7", auc=auc)
    _assert_written(tmp_path / "fig7")
    with pytest.raises(ResultsError, match="epoch 7"):
        figures.plot_roc_per_checkpoint(roc, "nominal", [1, 7], 0.05, tmp_path / "x")
    with pytest.raises(ResultsError, match="epsilon 0.5"):
        figures.plot_roc_per_checkpoint(roc, "nominal", [1], 0.5, tmp_path / "x")


def test_roc_nominal_vs_adversarial(roc, auc, tmp_path):
    figures.plot_roc_nominal_vs_adversarial(roc, {"nominal": 3, "adversarial": 2}, 0.05, tmp_path / "fig8", auc=auc)
    _assert_written(tmp_path / "fig8")
    with pytest.raises(ResultsError, match="model 'adversarial' at epoch 8"):
        figures.plot_roc_nominal_vs_adversarial(roc, {"nominal": 3, "adversarial": 8}, 0.05, tmp_path / "x")
    with pytest.raises(ResultsError, match="epsilon 0.07"):
        figures.plot_roc_nominal_vs_adversarial(roc, {"nominal": 3, "adversarial": 2}, 0.07, tmp_path / "x")


def test_fig8_band_spans_the_seeds_curves(roc, tmp_path, drawn):
    # seed 2: the same curves with every mistag rate 1.5 times higher, selected one epoch later
    other = roc.assign(seed=2, epoch=roc["epoch"] + 1, mistag=roc["mistag"] * 1.5)
    both = pd.concat([roc.assign(seed=1), other], ignore_index=True)
    seeds = {"nominal": {1: 3, 2: 4}, "adversarial": {1: 2, 2: 3}}
    figures.plot_roc_nominal_vs_adversarial(both, {"nominal": 3, "adversarial": 2}, 0.05, tmp_path / "f", seeds=seeds)
    figure = drawn[-1]
    assert "nominal: range over 2 seeds" in figure["entries"] and "adversarial: range over 2 seeds" in figure["entries"]
    ax = figure["figure"].axes[0]
    [band] = [c for c in ax.collections if c.get_label() == "nominal: range over 2 seeds"]
    mistag = band.get_paths()[0].vertices[:, 1]
    raw = roc[(roc["model"] == "nominal") & (roc["epoch"] == 3) & (roc["attack"] == "raw")]
    raw = raw[(raw["discriminator"] == "BvsL") & (raw["mistag"] > 0)]["mistag"]
    assert mistag.max() == pytest.approx(1.5 * raw.max()) and mistag.min() == pytest.approx(raw.min())


def test_auc_drop_vs_auc(auc, tmp_path):
    figures.plot_auc_drop_vs_auc(auc, "BvsL", tmp_path / "fig9")
    _assert_written(tmp_path / "fig9")
    figures.plot_auc_drop_vs_auc(auc.drop(columns="selected"), "CvsL", tmp_path / "fig9_c", epsilons=[0.05])
    _assert_written(tmp_path / "fig9_c")
    with pytest.raises(ResultsError, match="epsilon 0.3"):
        figures.plot_auc_drop_vs_auc(auc, "BvsL", tmp_path / "x", epsilons=[0.3])
    with pytest.raises(ResultsError, match="model 'ghost'"):
        figures.plot_auc_drop_vs_auc(auc, "BvsL", tmp_path / "x", models=["ghost"])
    with pytest.raises(ResultsError, match="discriminator 'BvsL'"):
        figures.plot_auc_drop_vs_auc(auc[auc["discriminator"] != "BvsL"], "BvsL", tmp_path / "x")


def test_first_track_d0(samples, tmp_path):
    figures.plot_first_track_d0(samples, 0.1, tmp_path / "fig10")
    _assert_written(tmp_path / "fig10")
    trk = samples.rename(columns={"trk0_d0": "trk3_d0"})
    figures.plot_first_track_d0(
        trk, 0.05, tmp_path / "fig10_b", models=["adversarial"], feature="trk3_d0", range=(-0.2, 0.2), logy=True
    )
    _assert_written(tmp_path / "fig10_b")
    with pytest.raises(ResultsError, match="epsilon 0.02"):
        figures.plot_first_track_d0(samples, 0.02, tmp_path / "x")
    with pytest.raises(ResultsError, match="model 'ghost'"):
        figures.plot_first_track_d0(samples, 0.1, tmp_path / "x", models=["ghost"])
    # only capped FGSM rows at this epsilon: Fig. 10 needs the uncapped attack
    capped_only = samples[~((samples["attack"] == "fgsm") & ~samples["capped"])]
    with pytest.raises(ResultsError, match="without the cap"):
        figures.plot_first_track_d0(capped_only, 0.1, tmp_path / "x")
    with pytest.raises(ResultsError, match=r"lacks the column 'trk0_d0'; it holds \['jet_pt'.*'trk3_d0'"):
        figures.plot_first_track_d0(trk, 0.1, tmp_path / "x")


def test_cross_attacks(auc, tmp_path):
    figures.plot_cross_attacks(auc, "CvsL", 0.05, tmp_path / "fig4")
    _assert_written(tmp_path / "fig4")
    with pytest.raises(ResultsError, match="epsilon 0.2"):
        figures.plot_cross_attacks(auc, "CvsL", 0.2, tmp_path / "x")
    no_cross = auc[~((auc["attack"] == "fgsm") & (auc["model"] != auc["attack_source"]))]
    with pytest.raises(ResultsError, match="crafted on"):
        figures.plot_cross_attacks(no_cross, "BvsL", 0.05, tmp_path / "x")
    with pytest.raises(ResultsError, match="selected epoch"):
        figures.plot_cross_attacks(auc.assign(selected=False), "BvsL", 0.05, tmp_path / "x")


def test_cross_attacks_of_four_modes_keep_their_texts_apart(tmp_path):
    """Four models: five bars per group and a 4 x 4 grid, every label readable."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FigureLayoutWarning)
        figures.plot_cross_attacks(_auc_table(("nominal", "adversarial", "pgd", "ngm")), "CvsL", 0.05, tmp_path / "f")


def test_training_history(histories, tmp_path):
    figures.plot_training_history(histories, tmp_path / "history")
    _assert_written(tmp_path / "history")
    with pytest.raises(ResultsError, match="at least one"):
        figures.plot_training_history({}, tmp_path / "x")
    for column in ("val_loss", "selection_score"):
        with pytest.raises(ResultsError, match=column):
            figures.plot_training_history({"nominal": histories["nominal"].drop(columns=column)}, tmp_path / "x")


def test_overwrite_dotted_name_and_closed(histories, tmp_path):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    base = tmp_path / "history.v1"  # a dot in the name is not a suffix
    one = {"nominal": histories["nominal"]}
    figures.plot_training_history(one, base)
    figures.plot_training_history(one, base)  # replaces in place
    _assert_written(base)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.v1.pdf", "history.v1.png"]
    assert len(plt.get_fignums()) == before  # every figure was closed


def test_png_resolution(histories, tmp_path):
    import struct

    figures.plot_training_history(histories, tmp_path / "h")
    width, height = struct.unpack(">II", (tmp_path / "h.png").read_bytes()[16:24])  # IHDR
    assert (width, height) == (16 * 150, 9 * 150)  # 16 x 9 inch figure at 150 dpi


def test_fig7_checkpoints_spread_in_log_epoch_with_the_selected_one():
    assert figures.spread_checkpoints(range(1, 38), 4, always=27) == [1, 3, 11, 27]
    assert figures.spread_checkpoints(range(1, 1001), 4, always=497) == [1, 10, 100, 497]
    assert figures.spread_checkpoints(range(1, 38), 4, always=37) == [1, 3, 11, 37]
    assert figures.spread_checkpoints([1, 2, 3], 4, always=2) == [1, 2, 3]
    assert figures.spread_checkpoints([5], 4, always=5) == [5]
    with pytest.raises(ResultsError, match="no checkpoint to choose from"):
        figures.spread_checkpoints([], 4, always=5)


def test_feature_label_of_any_track_slot_and_jet_inputs():
    assert feature_label("trk3_d0") == "4th track $d_0$ [mm]"
    assert feature_label("trk0_z0") == "1st track $z_0$ [mm]"
    assert feature_label("track_1_d0") == "2nd track $d_0$ [mm]"
    assert feature_label("trk11_vertex_mass") == "12th track vertex mass [GeV]"
    assert feature_label("trk21_d0d0") == "22nd track d0d0"  # a field without a label keeps its name
    assert feature_label("jet_pt") == r"Jet $p_\mathrm{T}$ [GeV]"
    assert feature_label("track_2_d0_significance") == "Track 2 $d_0$ significance"  # jet-level, not slot 2
    assert feature_label("no_such_feature") == "no_such_feature"


def test_the_layout_check_finds_overlaps_covered_texts_and_texts_off_the_canvas(tmp_path):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 4))
    left.text(0.1, 0.5, "first words", fontsize=20)
    left.text(0.15, 0.5, "second words", fontsize=20)  # on top of the first
    right.plot([0, 1], [0, 1], label="a line")
    right.text(0.5, 0.5, "covered", ha="center", va="center")
    right.legend(loc="center", title="legend over the text")
    fig.text(0.97, 0.1, "beyond the right edge", fontsize=20)
    dpi = fig.get_dpi()
    problems = figure_base.layout_problems(fig)
    assert any("'first words'" in p and "overlaps text 'second words'" in p and "letters meet" in p for p in problems)
    assert any(p.startswith("legend 'legend over the text'") and "covers text 'covered'" in p for p in problems)
    assert any("'beyond the right edge' leaves the canvas at the right" in p for p in problems)
    assert fig.get_dpi() == dpi  # measured at LAYOUT_DPI, the figure left as it was
    with pytest.warns(figure_base.FigureLayoutWarning) as caught:
        figure_base.save_figure(fig, tmp_path / "crowded")
    message = str(caught[0].message)
    assert f"{tmp_path / 'crowded'}.png" in message
    assert all(f"\n  - {problem}" in message for problem in problems)
    _assert_written(tmp_path / "crowded")  # written all the same


def test_the_layout_check_passes_texts_whose_boxes_meet_but_letters_do_not():
    import matplotlib.pyplot as plt

    with figure_base.figure_style():  # a ROC panel: the first x and y tick labels share the corner
        fig, ax = plt.subplots(figsize=(10, 10))
        ax.set_yscale("log")
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(1e-3, 1.0)
        figure_base.experiment_label(ax, "BvsL")
        fig.tight_layout()
        fig.draw_without_rendering()
        x_first = next(t for t in ax.get_xticklabels() if t.get_text() == "0.0")
        y_first = next(t for t in ax.get_yticklabels() if t.get_text() == "$\\mathdefault{10^{-3}}$")
        assert x_first.get_window_extent().overlaps(y_first.get_window_extent())  # the boxes meet...
        assert figure_base.layout_problems(fig) == []  # ...the letters do not
    plt.close(fig)


def test_cap_text_follows_restrict_impact():
    assert figure_base.cap_text(0.25) == "cap 25 %"
    assert figure_base.cap_text(0.1) == "cap 10 %"
    assert figure_base.cap_text(0.125) == "cap 12.5 %"
    assert figure_base.cap_text(0.07) == "cap 7 %"
    assert figure_base.cap_text(None) == "no cap"


@pytest.mark.parametrize(
    ("restrict_impact", "title"),
    [(0.25, "nominal model, cap 25 %"), (0.1, "nominal model, cap 10 %"), (None, "nominal model, no cap")],
)
def test_input_shifts_legend_names_the_cap(samples, tmp_path, drawn, restrict_impact, title):
    figures.plot_input_shifts(
        samples,
        "nominal",
        ["jet_pt", "trk0_d0", "jet_eta"],
        [0.01, 0.05],
        tmp_path / "f",
        restrict_impact=restrict_impact,
    )
    [figure] = drawn
    assert figure["titles"] == [title] * 3
    assert figure["entries"] == ["raw", r"FGSM $\epsilon = 0.01$", r"FGSM $\epsilon = 0.05$"] * 3


def test_training_history_legend_inside_the_axes(histories, tmp_path, drawn):
    figures.plot_training_history(histories, tmp_path / "h")
    [figure] = drawn
    assert figure["entries"] == [
        "nominal: training",
        "nominal: validation",
        "nominal: selected (epoch 7)",
        "adversarial: training",
        "adversarial: validation",
        "adversarial: selected (epoch 6)",
        "nominal",
        "adversarial",
    ]
    fig = figure["figure"]
    fig.canvas.draw()
    legend = fig.findobj(Legend)[0]
    inside, outer = legend.get_window_extent(), legend.axes.get_window_extent()
    assert outer.x0 <= inside.x0 < inside.x1 <= outer.x1 and outer.y0 <= inside.y0 < inside.y1 <= outer.y1
    # the legend sits above every curve: the highest loss drawn is below its lower edge
    top_loss = max(float(h[["train_loss", "val_loss"]].to_numpy().max()) for h in histories.values())
    assert legend.axes.transData.transform((1, top_loss))[1] < inside.y0


# ---------------------------------------------------------------------------
# The pipeline's entry point
# ---------------------------------------------------------------------------

#: The settings each figure reads, as the rule passes them (figure_config), for the synthetic tables.
KEYWORDS = {
    "fig4_cross_attacks": {"summary_epsilon": 0.05},
    "fig5_input_shifts": {
        "input_features": ["jet_pt", "trk0_d0"],
        "input_epsilons": [0.01, 0.05],
        "restrict_impact": 0.1,
    },
    "fig6_roc_vs_epsilon": {"epsilons": [0.01, 0.05, 0.1]},
    "fig7_roc_per_checkpoint": {"summary_epsilon": 0.05, "checkpoints": 2},
    "fig8_nominal_vs_adversarial": {"summary_epsilon": 0.05},
    "fig9_auc_drop": {},
    "fig10_first_track_d0": {"uncapped_epsilon": 0.1},
    "training_history": {},
    "attack_suite_vs_epsilon": {},
    "worst_case_per_checkpoint": {"summary_epsilon": 0.05},
    "auc_lost_vs_visibility": {},
    "distance_to_working_point": {},
    "scale_factors_per_bin": {"summary_epsilon": 0.05},
    "shifted_scale_factors": {},
    "premise": {"summary_epsilon": 0.05},
    "defences": {"summary_epsilon": 0.05},
    "architectures": {},
}


def test_each_registered_figures_function_reads_exactly_its_keys():
    for name, keys in FIGURE_KEYS.items():
        parameters = inspect.signature(figures.drawing_function(name)).parameters.values()
        keyword_only = [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
        positional = [p.name for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        assert keyword_only == [key.rsplit(".", 1)[-1] for key in keys], name
        assert positional == ["inputs", "path"], name
        assert sorted(KEYWORDS[name]) == sorted(keyword_only), name


@pytest.fixture(scope="module")
def pipeline_files(tmp_path_factory, roc, suite_auc, certified, visibility, samples, histories) -> dict[str, list[str]]:
    """The inputs of each figure rule (workflow/rules/figures.smk), written as the pipeline writes them."""
    root = tmp_path_factory.mktemp("results")
    auc_csv, roc_parquet, samples_parquet = root / "auc.csv", root / "roc.parquet", root / "fgsm_inputs.parquet"
    suite_auc.to_csv(auc_csv, index=False)
    certified.to_csv(root / "certified.csv", index=False)
    worst_case_table(suite_auc).to_csv(root / "worst_case.csv", index=False)
    visibility.to_csv(root / "visibility.csv", index=False)
    _scale_factor_tables()[0].to_csv(root / "scale_factors.csv", index=False)
    roc.to_parquet(roc_parquet)
    samples.to_parquet(samples_parquet)
    models = []
    for mode, history in histories.items():
        (root / mode / "seed_1").mkdir(parents=True)
        history.to_csv(root / mode / "seed_1" / "history.csv", index=False)
        models.append(str(root / mode / "seed_1"))
    tables = [str(roc_parquet), str(auc_csv)]
    return {
        "fig4_cross_attacks": [str(auc_csv)],
        "fig5_input_shifts": [str(samples_parquet)],
        "fig6_roc_vs_epsilon": tables,
        "fig7_roc_per_checkpoint": tables,
        "fig8_nominal_vs_adversarial": tables,
        "fig9_auc_drop": [str(auc_csv)],
        "fig10_first_track_d0": [str(samples_parquet)],
        "training_history": models,
        "attack_suite_vs_epsilon": [str(auc_csv), str(root / "certified.csv")],
        "worst_case_per_checkpoint": [str(root / "worst_case.csv")],
        "auc_lost_vs_visibility": [str(root / "visibility.csv"), _written(root, "shifted_visibility.csv", _stars())],
        "distance_to_working_point": [_written(root, "distance_curves.csv", _distance_curves())],
        "scale_factors_per_bin": [str(root / "scale_factors.csv"), str(root / "worst_case.csv")],
        "shifted_scale_factors": [_written(root, "shifted_working_points.csv", _shifted_working_points())],
        "premise": [
            _written(root, name, table) for name, table in zip(("premise_points.csv", "premise.csv"), _premise())
        ],
        "defences": [_written(root, name, table) for name, table in zip(("defences.csv", "seeds.csv"), _defences())],
        "architectures": [_written(root, "architectures.csv", _architectures())],
    }


def _distance_curves() -> pd.DataFrame:
    """The curves of per-jet distances of two modes and two seeds, b/c/light jets at both working points."""
    from robusttag.analysis.distances import distance_curves

    generator = np.random.default_rng(3)
    frames = []
    for model, scale in (("nominal", 0.02), ("adversarial", 0.04)):
        for seed in (1, 2):
            for disc in ("BvsL", "CvsL", "BvsC"):
                for target in (0.1, 0.01):
                    labels = generator.integers(0, 3, 300)
                    distance = generator.exponential(scale, 300)
                    distance[generator.random(300) < 0.1] = 0.0
                    distance[generator.random(300) < 0.05] = np.inf
                    frames.append(
                        pd.DataFrame(
                            {
                                "model": model,
                                "seed": seed,
                                "epoch": 3,
                                "discriminator": disc,
                                "mistag_target": target,
                                "label": labels,
                                "weight": 1.0,
                                "distance": distance,
                            }
                        )
                    )
    return distance_curves(pd.concat(frames, ignore_index=True), weighted=False)


def _defences() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The defences' table (held out, all) and the seeds' costs and attack drops of three modes."""
    from robusttag.analysis.defences import ALL_HELD_OUT, DEFENCE_COLUMNS

    rows, seeds = [], []
    for k, model in enumerate(("nominal", "adversarial", "paired")):
        for disc in ("BvsL", "CvsL"):
            rows.append(
                {
                    "model": model,
                    "sample": ALL_HELD_OUT,
                    "held_out": ALL_HELD_OUT,
                    "discriminator": disc,
                    "quantity": "sf_mistag_10pct",
                    "seeds": 3,
                    "value": 0.03 - 0.005 * k,
                    "total_err": 0.004,
                }
            )
            seeds.append(
                (
                    "worst_relative_drop",
                    model,
                    disc,
                    3,
                    0.05 - 0.01 * k,
                    0.002,
                    0.003,
                    0.002,
                    0.003,
                    np.nan,
                    np.nan,
                    False,
                )
            )
            if model != "nominal":
                seeds.append(
                    (
                        "raw_auc_difference",
                        f"{model} vs nominal",
                        disc,
                        3,
                        -0.004 * k,
                        0.001,
                        0.001,
                        0.001,
                        0.001,
                        0.0,
                        -4.0 * k,
                        True,
                    )
                )
    return pd.DataFrame(rows, columns=list(DEFENCE_COLUMNS)), pd.DataFrame(seeds, columns=SEED_COLUMNS)


def _architectures() -> pd.DataFrame:
    """Two architectures' seed tables (raw AUC and FGSM drop of two modes), compared."""

    def seeds(shift: float) -> pd.DataFrame:
        rows = [
            (quantity, model, "BvsL", 3, value, 0.002, 0.003, 0.002, 0.003, np.nan, np.nan, False)
            for quantity, model, value in (
                ("raw_auc", "nominal", 0.9 + shift),
                ("raw_auc", "adversarial", 0.89 + shift),
                ("fgsm_relative_drop", "nominal", 0.05 - shift),
                ("fgsm_relative_drop", "adversarial", 0.03 - shift / 2),
            )
        ]
        return pd.DataFrame(rows, columns=SEED_COLUMNS)

    return architecture_table({"dnn": seeds(0.0), "transformer": seeds(0.02)})


def _written(root, name: str, table: pd.DataFrame) -> str:
    table.to_csv(root / name, index=False)
    return str(root / name)


SAMPLES = ("worse_d0", "shorter_lifetimes")


def _stars() -> pd.DataFrame:
    """The shifted samples on the visibility axes (``shifted_visibility.csv``)."""
    return pd.DataFrame(
        [
            dict(
                model=m,
                seed=1,
                epoch=3,
                sample=s,
                largest_ks=0.1 + 0.05 * i,
                feature="trk0_d0d0",
                ks_p_value=1e-9,
                mean_relative_w1=0.02,
                auc_lost=0.01 * (i + 1),
            )
            for i, s in enumerate(SAMPLES)
            for m in ("nominal", "adversarial")
        ]
    )


def _shifted_working_points() -> pd.DataFrame:
    """Two samples, two models, two seeds (the second seed drawn small), BvsL and CvsL at 10 % mistag."""
    rows = []
    for k, (sample, model, seed, disc) in enumerate(
        (s, m, seed, d)
        for s in SAMPLES
        for m in ("nominal", "adversarial")
        for seed in (1, 2)
        for d in ("BvsL", "CvsL")
    ):
        sf = 1 + 0.01 * (k % 5)
        rows.append(
            dict(
                model=model,
                seed=seed,
                epoch=3,
                sample=sample,
                reference="nominal_twin",
                discriminator=disc,
                mistag_target=0.1,
                selected=True,
                sf_efficiency=sf,
                sf_efficiency_err=0.01,
                sf_mistag=2 - sf,
                sf_mistag_err=0.02,
            )
        )
    return pd.DataFrame(rows)


def _premise() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(points, correlations): five checkpoints per model and sample, the change rising with the FGSM drop."""
    points, correlations = [], []
    for sample in SAMPLES:
        for disc in ("BvsL", "CvsL"):
            for model in ("nominal", "adversarial"):
                for epoch in range(1, 6):
                    drop = 0.01 * epoch * (2 if model == "nominal" else 1)
                    points.append(
                        dict(
                            model=model,
                            seed=1,
                            epoch=epoch,
                            sample=sample,
                            discriminator=disc,
                            selected=epoch == 5,
                            fgsm=drop,
                            worst_case=2 * drop,
                            auc_change=drop / 10,
                        )
                    )
            for vulnerability in ("fgsm", "worst_case"):
                correlations.append(
                    dict(
                        sample=sample,
                        discriminator=disc,
                        vulnerability=vulnerability,
                        sensitivity="auc_change",
                        points=10,
                        spearman=0.9,
                        spearman_err=0.05,
                        p_value=1e-4,
                    )
                )
    return pd.DataFrame(points), pd.DataFrame(correlations)


def test_the_premise_figure_gives_each_panels_rank_correlation(tmp_path, drawn):
    points, correlations = _premise()
    figure_mismodelling.plot_premise(points, correlations, 0.05, tmp_path / "premise")
    texts = [t.get_text() for ax in drawn[-1]["figure"].axes for t in ax.texts]
    assert sum("FGSM: $\\rho$ = +0.90 ± 0.05 (10 pts)" in t for t in texts) == 4  # 2 samples x 2 discriminators
    assert drawn[-1]["entries"] == ["nominal", "adversarial"]
    with pytest.raises(ResultsError, match="premise points are empty"):
        figure_mismodelling.plot_premise(points.iloc[:0], correlations, 0.05, tmp_path / "empty")


def test_the_shifted_scale_factors_are_drawn_per_sample_and_model(tmp_path, drawn):
    figure_mismodelling.plot_shifted_scale_factors(_shifted_working_points(), tmp_path / "sf")
    axes = drawn[-1]["figure"].axes
    assert [t.get_text() for t in axes[0].get_xticklabels()] == sorted(SAMPLES)
    assert "nominal, seed 1" in drawn[-1]["entries"] and "adversarial, other seeds" in drawn[-1]["entries"]
    with pytest.raises(ResultsError, match="no selected row"):
        figure_mismodelling.plot_shifted_scale_factors(_shifted_working_points().assign(selected=False), tmp_path / "x")


@pytest.mark.parametrize("name", list(FIGURE_KEYS))
@pytest.mark.filterwarnings("error::robusttag.figures.base.FigureLayoutWarning")  # no text collides or is cut off
def test_make_figure_draws_each_figure_from_its_files(pipeline_files, tmp_path, drawn, name):
    out = figures.make_figure(name, pipeline_files[name], tmp_path / name, **KEYWORDS[name])
    assert out == (tmp_path / f"{name}.png", tmp_path / f"{name}.pdf")
    _assert_written(tmp_path / name)
    assert len(drawn) == 1


def test_make_figure_uses_the_settings(pipeline_files, tmp_path, drawn):
    figures.make_figure(
        "fig5_input_shifts", pipeline_files["fig5_input_shifts"], tmp_path / "f5", **KEYWORDS["fig5_input_shifts"]
    )
    assert drawn[-1]["titles"] == ["nominal model, cap 10 %"] * 2
    # Fig. 7: 2 checkpoints of epochs 1..3, spread in log(epoch), the selected one (3) among them
    figures.make_figure(
        "fig7_roc_per_checkpoint",
        pipeline_files["fig7_roc_per_checkpoint"],
        tmp_path / "f7",
        summary_epsilon=0.05,
        checkpoints=2,
    )
    epochs = [e for e in drawn[-1]["entries"] if e.startswith("epoch")]
    assert [e.split(" (")[0] for e in epochs] == ["epoch 1", "epoch 3"] * 2
    # Fig. 8: each model at its selected checkpoint (nominal 3, adversarial 2)
    figures.make_figure(
        "fig8_nominal_vs_adversarial",
        pipeline_files["fig8_nominal_vs_adversarial"],
        tmp_path / "f8",
        summary_epsilon=0.05,
    )
    raw_entries = [e for e in drawn[-1]["entries"] if "raw" in e]
    assert [e.split(", raw")[0] for e in raw_entries] == ["nominal (epoch 3)", "adversarial (epoch 2)"] * 2


def test_make_figure_refuses_unknown_names_and_settings(pipeline_files, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown figure 'fig11'; choose from \['fig4_cross_attacks'"):
        figures.make_figure("fig11", [], tmp_path / "x")
    with pytest.raises(ConfigError, match=r"reads the settings \['summary_epsilon'\], got \['epsilon'\]"):
        figures.make_figure("fig4_cross_attacks", pipeline_files["fig4_cross_attacks"], tmp_path / "x", epsilon=0.05)
    with pytest.raises(ResultsError, match="expected one ROC table"):
        figures.make_figure("fig6_roc_vs_epsilon", pipeline_files["fig9_auc_drop"], tmp_path / "x", epsilons=[0.05])
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------
# The strong suite's figures
# ---------------------------------------------------------------------------

SUITE = ("pgd", "ngm")
SELECTED = {"nominal": 3, "adversarial": 2}


def _suite_drop(model: str, attack: str, eps: float) -> float:
    """AUC lost: the targeted attacks twice PGD's, the nominal model twice the adversarial's."""
    strength = {"pgd": 1.0, "ngm": 0.8}.get(attack, 2.0)
    return eps * strength * (2.0 if model == "nominal" else 1.0)


@pytest.fixture(scope="module")
def suite_auc(auc) -> pd.DataFrame:
    """The AUC table with the suite at the selected checkpoints (every eps) and at epoch 1 (eps 0.05)."""
    rows = []
    raw = auc[auc["attack"] == "raw"].set_index(["model", "epoch", "discriminator"])["auc"]
    for model in MODELS:
        for epoch, epsilons in ((SELECTED[model], EPSILONS), (1, (0.05,))):
            for disc in DISCS:
                for attack in (*SUITE, f"targeted_{disc}"):
                    for eps in epsilons:
                        value = raw[(model, epoch, disc)] - _suite_drop(model, attack, eps)
                        rows.append(
                            (model, epoch, attack, model, eps, disc, value, 0.3, 0.6, 0.9, epoch == SELECTED[model])
                        )
    suite = pd.DataFrame(rows, columns=[c for c in auc.columns if c != "seed"]).assign(seed=1)
    return pd.concat([auc, suite], ignore_index=True)


@pytest.fixture(scope="module")
def certified() -> pd.DataFrame:
    """Certified bounds on 50 jets with a raw AUC of 0.9: three times PGD's drop below, the attack's at 1.2 times."""
    rows = []
    for model in MODELS:
        for disc in DISCS:
            for eps in EPSILONS:
                drop = _suite_drop(model, "pgd", eps)
                rows.append(
                    (
                        model,
                        SELECTED[model],
                        eps,
                        disc,
                        "crown",
                        50,
                        f"targeted_{disc}",
                        0.9 - 3 * drop,
                        0.9 - 1.2 * drop,
                        0.9,
                    )
                )
    columns = ["model", "epoch", "epsilon", "discriminator", "method", "jets", "worst_attack", "certified_auc"]
    return pd.DataFrame(rows, columns=[*columns, "worst_attack_auc", "raw_auc"])


@pytest.fixture(scope="module")
def visibility() -> pd.DataFrame:
    rows = []
    for model in MODELS:
        for attack in ("fgsm", *SUITE, "targeted_CvsL"):
            for eps in EPSILONS:
                ks = 0.1 + eps + (0.05 if model == "nominal" else 0.0)
                rows.append(
                    (model, SELECTED[model], attack, eps, ks, "trk0_d0", 0.0, eps / 10, _suite_drop(model, attack, eps))
                )
    columns = ["model", "epoch", "attack", "epsilon", "largest_ks", "feature", "ks_p_value_test_set"]
    return pd.DataFrame(rows, columns=[*columns, "mean_relative_w1", "auc_lost"])


def _curves(ax) -> dict[str, np.ndarray]:
    return {line.get_label(): np.asarray(line.get_ydata(), float) for line in ax.get_lines()}


def test_attack_suite_curves_are_the_auc_lost_and_the_band_starts_at_the_certified_bound(
    suite_auc, certified, tmp_path, drawn
):
    figures.plot_attack_suite_vs_epsilon(suite_auc, certified, tmp_path / "suite")
    _assert_written(tmp_path / "suite")
    axes = drawn[-1]["figure"].axes
    assert drawn[-1]["titles"] == ["nominal, epoch 3", "adversarial, epoch 2"] * 2
    (bvsl_nominal, bvsl_adversarial), (cvsl_nominal, _) = axes[:2], axes[2:]
    # the targeted attack appears on its own discriminator only
    assert set(_curves(bvsl_nominal)) >= {"FGSM", "PGD", "NGM", "targeted BvsL", "certified bound (CROWN)"}
    assert "targeted CvsL" not in _curves(bvsl_nominal) and "targeted CvsL" in _curves(cvsl_nominal)
    epsilons = np.array(EPSILONS)
    np.testing.assert_allclose(_curves(bvsl_nominal)["PGD"], -2.0 * epsilons)
    np.testing.assert_allclose(_curves(bvsl_adversarial)["targeted BvsL"], -2.0 * epsilons)
    np.testing.assert_allclose(_curves(cvsl_nominal)["certified bound (CROWN)"], -6.0 * epsilons)
    # FGSM is the scan's own row at the selected checkpoint (exponent k divided by 1 + 30 eps)
    k = 2.0 + 3
    fgsm = [(k / (1 + eps * 30)) / (k / (1 + eps * 30) + 1) - k / (k + 1) for eps in EPSILONS]
    np.testing.assert_allclose(_curves(cvsl_nominal)["FGSM"], fgsm)
    # the band from the certified bound (3 x PGD's drop) to the worst attack on the bound's jets (1.2 x)
    band = np.unique(bvsl_nominal.collections[0].get_paths()[0].vertices[:, 1].round(9))
    np.testing.assert_allclose(band, np.unique(np.r_[-6.0 * epsilons, -2.4 * epsilons].round(9)))


def test_attack_suite_band_spans_fgsm_over_the_seeds(suite_auc, certified, tmp_path, drawn):
    # seed 2: every attacked AUC 0.01 lower than seed 1's, the raw ones the same
    other = suite_auc.assign(seed=2, auc=suite_auc["auc"] - 0.01 * (suite_auc["attack"] != "raw"))
    seeds = pd.concat([suite_auc, other], ignore_index=True)
    figures.plot_attack_suite_vs_epsilon(suite_auc, certified, tmp_path / "suite", seeds)
    assert "FGSM: range over 2 seeds" in drawn[-1]["entries"]
    ax = drawn[-1]["figure"].axes[0]  # BvsL, nominal
    [band] = [c for c in ax.collections if c.get_label() == "FGSM: range over 2 seeds"]
    low_to_high = np.unique(band.get_paths()[0].vertices[:, 1].round(9))
    fgsm = _curves(ax)["FGSM"]
    np.testing.assert_allclose(low_to_high, np.unique(np.r_[fgsm, fgsm - 0.01].round(9)))


def test_attack_suite_without_a_certified_bound_or_a_suite(suite_auc, certified, tmp_path, drawn):
    figures.plot_attack_suite_vs_epsilon(suite_auc, certified.iloc[:0], tmp_path / "no_bound")
    assert not any("certified" in e for e in drawn[-1]["entries"])
    with pytest.raises(ResultsError, match="no white-box attack at a selected checkpoint"):
        figures.plot_attack_suite_vs_epsilon(suite_auc.assign(selected=False), certified, tmp_path / "x")
    with pytest.raises(ResultsError, match=r"certified table lacks column\(s\) \['raw_auc'\]"):
        figures.plot_attack_suite_vs_epsilon(suite_auc, certified.drop(columns="raw_auc"), tmp_path / "x")


def test_worst_case_per_checkpoint_puts_each_checkpoint_at_its_worst_drop(suite_auc, tmp_path, drawn):
    worst = worst_case_table(suite_auc)
    figures.plot_worst_case_per_checkpoint(worst, 0.05, tmp_path / "worst")
    _assert_written(tmp_path / "worst")
    bvsl = drawn[-1]["figure"].axes[0]
    points = np.vstack([c.get_offsets() for c in bvsl.collections if len(c.get_offsets())])
    raw = suite_auc[(suite_auc["attack"] == "raw") & (suite_auc["discriminator"] == "BvsL")]
    raw = raw.set_index(["model", "epoch"])["auc"]
    for model in MODELS:
        for epoch in (1, SELECTED[model]):
            # the targeted attack is the worst: twice PGD's drop
            expected = (raw[(model, epoch)], -_suite_drop(model, "targeted_BvsL", 0.05))
            assert np.isclose(points, expected).all(axis=1).any(), (model, epoch)
    assert drawn[-1]["titles"] == [r"$\epsilon = 0.05$"] * 2
    with pytest.raises(ResultsError, match=r"no row at epsilon 0.3; epsilons present: \[0.01, 0.05, 0.1\]"):
        figures.plot_worst_case_per_checkpoint(worst, 0.3, tmp_path / "x")


def test_auc_lost_against_visibility_one_point_per_attack_and_eps(visibility, tmp_path, drawn):
    figures.plot_auc_lost_vs_visibility(visibility, tmp_path / "vis")
    _assert_written(tmp_path / "vis")
    ks_axis, w1_axis = drawn[-1]["figure"].axes
    ks_points = np.vstack([c.get_offsets() for c in ks_axis.collections])
    w1_points = np.vstack([c.get_offsets() for c in w1_axis.collections])
    assert len(ks_points) == len(w1_points) == len(visibility)
    np.testing.assert_allclose(np.sort(ks_points[:, 0]), np.sort(visibility["largest_ks"]))
    np.testing.assert_allclose(np.sort(w1_points[:, 0]), np.sort(visibility["mean_relative_w1"]))
    np.testing.assert_allclose(np.sort(ks_points[:, 1]), np.sort(visibility["auc_lost"]))
    assert {"FGSM", "PGD", "NGM", "targeted CvsL", "nominal", "adversarial"} <= set(drawn[-1]["entries"])
    with pytest.raises(ResultsError, match="visibility table is empty"):
        figures.plot_auc_lost_vs_visibility(visibility.iloc[:0], tmp_path / "x")


@pytest.mark.filterwarnings("error::robusttag.figures.base.FigureLayoutWarning")
def test_the_invisible_attacks_are_drawn_in_one_colour_with_one_legend_entry(visibility, tmp_path, drawn):
    hidden = visibility[visibility["attack"] == "fgsm"].iloc[:2].copy()
    hidden["attack"] = ["invisible_BvsL", "invisible_CvsL"]
    hidden["largest_ks"] = [0.011, 0.012]
    figures.plot_auc_lost_vs_visibility(pd.concat([visibility, hidden]), tmp_path / "vis")
    ks_axis = drawn[-1]["figure"].axes[0]
    colours = {
        tuple(np.round(c.get_edgecolor()[0], 3)) for c in ks_axis.collections if c.get_offsets()[0][0] in (0.011, 0.012)
    }
    assert len(colours) == 1  # both invisible points, one colour
    entries = drawn[-1]["entries"]
    assert entries.count("invisible") == 1 and not any(e.startswith("invisible ") for e in entries)


def _scale_factor_tables():
    """Per-bin scale factors of both models under FGSM and their targeted attacks (2 x 2 bins), the worst case."""
    rows = []
    edges = [(20, 50, 0.0, 1.2), (50, 900, 0.0, 1.2), (20, 50, 1.2, 2.5), (50, 900, 1.2, 2.5)]
    for m, model in enumerate(MODELS):
        for disc in ("BvsL", "CvsL"):
            for a, attack in enumerate(("fgsm", f"targeted_{disc}")):
                for b, (pt_low, pt_high, eta_low, eta_high) in enumerate(edges):
                    for target in (0.01, 0.1):
                        rows.append(
                            dict(
                                model=model,
                                epoch=2,
                                attack=attack,
                                attack_source=model,
                                epsilon=0.05,
                                discriminator=disc,
                                mistag_target=target,
                                pt_low=pt_low,
                                pt_high=pt_high,
                                abs_eta_low=eta_low,
                                abs_eta_high=eta_high,
                                signal_jets=100,
                                background_jets=200,
                                efficiency=0.5,
                                mistag=0.1,
                                sf_efficiency=0.9 - 0.01 * (b + 4 * a + 8 * m),
                                sf_efficiency_err=0.01,
                                sf_mistag=1.5 + 0.1 * (b + 4 * a + 8 * m),
                                sf_mistag_err=0.05,
                            )
                        )
    worst = pd.DataFrame(
        [
            dict(model=m, epoch=2, epsilon=0.05, discriminator=d, worst_attack=f"targeted_{d}", selected=True)
            for m in MODELS
            for d in ("BvsL", "CvsL")
        ]
    )
    return pd.DataFrame(rows), worst


def test_scale_factors_per_bin_draw_each_series_in_bin_order(tmp_path, drawn):
    table, worst = _scale_factor_tables()
    figures.plot_scale_factors_per_bin(table, worst, 0.05, tmp_path / "sf")
    _assert_written(tmp_path / "sf")
    axes = drawn[-1]["figure"].axes
    assert len(axes) == 4  # BvsL and CvsL, efficiency and mistag
    for ax, column in zip(axes, ("sf_efficiency", "sf_mistag", "sf_efficiency", "sf_mistag")):
        drawn_series = [np.asarray(line.get_ydata(), float) for line in ax.lines if len(line.get_ydata()) == 4]
        expected = [
            table[
                (table["model"] == model)
                & (table["attack"] == attack)
                & (table["mistag_target"] == 0.1)
                & (table["discriminator"] == ("BvsL" if ax in axes[:2] else "CvsL"))
            ][column].to_numpy()
            for model in MODELS
            for attack in ("fgsm", "targeted_" + ("BvsL" if ax in axes[:2] else "CvsL"))
        ]
        assert len(drawn_series) == 4
        for got, want in zip(drawn_series, expected):
            np.testing.assert_allclose(got, want)
    assert "nominal, targeted_CvsL" in drawn[-1]["entries"]
    assert "$\\epsilon = 0.05$, 10% mistag cut" in drawn[-1]["titles"]
    with pytest.raises(ResultsError, match="no row at epsilon 0.02 and mistag 0.1"):
        figures.plot_scale_factors_per_bin(table, worst, 0.02, tmp_path / "x")


def test_the_shifted_samples_join_the_attacks_on_the_visibility_axes(pipeline_files, tmp_path, drawn):
    figures.make_figure("auc_lost_vs_visibility", pipeline_files["auc_lost_vs_visibility"], tmp_path / "v")
    for ax in drawn[-1]["figure"].axes:  # both panels: the samples named at their stars
        assert sorted(t.get_text() for t in ax.texts if t.get_text() in SAMPLES) == sorted(SAMPLES)


def test_distance_figure_draws_a_line_per_mode_and_seed_with_the_curves_values(tmp_path, drawn):
    """At 10 % mistag: per discriminator two panels, a line per (mode, seed), the efficiency loss in per cent."""
    curves = _distance_curves()
    figure_distances.plot_distance_to_working_point(curves, tmp_path / "distances")
    (record,) = drawn
    top_left = record["figure"].axes[0]
    assert len(top_left.get_lines()) == 4  # two modes x two seeds
    expected = curves[
        (curves["model"] == "nominal")
        & (curves["seed"] == 1)
        & (curves["discriminator"] == "BvsL")
        & (curves["mistag_target"] == 0.1)
    ]
    np.testing.assert_allclose(top_left.get_lines()[0].get_ydata(), 100 * expected["signal_lost"].to_numpy())
    assert record["entries"][:2] == ["nominal", "adversarial"]
    with pytest.raises(ResultsError, match="no working point at 0.1"):
        figure_distances.plot_distance_to_working_point(curves[curves["mistag_target"] == 0.01], tmp_path / "x")
