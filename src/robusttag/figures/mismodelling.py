"""Robustness vs mismodelling: the models calibrated on shifted samples, and the paper's premise put to the test.

``shifted_scale_factors`` draws, per shifted sample and model, the fixed-cut
scale factors SF = shifted / reference of the signal efficiency and of the
mistag rate at the 10 % mistag cut (``shifted_working_points.csv``,
:mod:`robusttag.analysis.mismodelling`). ``premise`` draws each model's sensitivity to
each shifted sample against its vulnerability to FGSM, one point per (mode,
seed, checkpoint), with the rank correlation (``premise_points.csv``,
``premise.csv``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from ..analysis.defences import ALL_HELD_OUT, attack_drop, seed_value
from ..config import ordered_models
from ..errors import ResultsError
from .base import (
    epsilon_text,
    experiment_label,
    figure_style,
    input_file,
    legend_above_panels,
    model_colour,
    model_marker,
    model_marker_filled,
    require_columns,
    save_figure,
)

#: the working point drawn, as the summary's and the premise's
WORKING_POINT = 0.1
_PANELS = ("BvsL", "CvsL")
_SF_COLUMNS = (
    "model",
    "seed",
    "sample",
    "discriminator",
    "mistag_target",
    "selected",
    "sf_efficiency",
    "sf_efficiency_err",
    "sf_mistag",
    "sf_mistag_err",
)
_POINT_COLUMNS = ("model", "seed", "epoch", "sample", "discriminator", "fgsm", "auc_change")


def plot_shifted_scale_factors(working_points: pd.DataFrame, path: str | os.PathLike) -> tuple[Path, Path]:
    """SF of the signal efficiency (left) and of the mistag rate (right) on every shifted sample, BvsL and CvsL.

    The samples run along x; each model at the reference seed's selected checkpoint with its bootstrap
    error (large markers), its other seeds' selected checkpoints beside it (small markers): the spread
    over trainings. At the 10 % mistag cut fixed on the nominal validation split.

    Raises
    ------
    ResultsError
        When the table lacks a column or has no selected row at the working point.
    """
    require_columns(working_points, _SF_COLUMNS, "shifted working-point table")
    rows = working_points[
        working_points["selected"].astype(bool) & np.isclose(working_points["mistag_target"], WORKING_POINT)
    ]
    if rows.empty:
        raise ResultsError(f"shifted working-point table has no selected row at the {WORKING_POINT:.0%} mistag cut")
    samples = sorted(rows["sample"].unique())
    models = ordered_models(rows["model"])
    reference_seed = int(rows["seed"].min())
    with figure_style():
        fig, axes = plt.subplots(len(_PANELS), 2, figsize=(24, 8 * len(_PANELS)), squeeze=False)
        for row, disc in zip(axes, _PANELS):
            panel = rows[rows["discriminator"] == disc]
            for ax, quantity, what in ((row[0], "sf_efficiency", "signal efficiency"), (row[1], "sf_mistag", "mistag")):
                _draw_sf_panel(ax, panel, samples, models, reference_seed, quantity)
                ax.set_xticks(np.arange(len(samples)))
                ax.set_xticklabels(samples, rotation=20, ha="right")
                ax.set_ylabel(f"{disc} {what}: SF = shifted / nominal")
                ax.axhline(1.0, color="0.4", linewidth=1, linestyle=":")
                ax.grid(True, axis="y", alpha=0.3)
                ax.legend(fontsize="small", loc="best", title=f"{WORKING_POINT:.0%} mistag cut on nominal")
                experiment_label(ax, disc)
        fig.tight_layout()
        return save_figure(fig, path)


def _draw_sf_panel(ax, panel: pd.DataFrame, samples, models, reference_seed: int, quantity: str) -> None:
    width = 0.8 / max(len(models), 1)
    for k, model in enumerate(models):
        colour, offset = model_colour(model, k), -0.4 + width * (k + 0.5)
        own = panel[panel["model"] == model]
        for is_reference in (True, False):
            pts = own[(own["seed"] == reference_seed) == is_reference]
            x = np.array([samples.index(s) for s in pts["sample"]]) + offset
            ax.errorbar(
                x + (0 if is_reference else width * 0.25),
                pts[quantity],
                yerr=pts[quantity + "_err"] if is_reference else None,
                linestyle="",
                marker=model_marker(model, k),
                markersize=9 if is_reference else 5,
                color=colour,
                alpha=1.0 if is_reference else 0.5,
                markerfacecolor=colour if model_marker_filled(model) else "none",
                label=f"{model}, seed {reference_seed}"
                if is_reference
                else (f"{model}, other seeds" if len(pts) else None),
            )


def shifted_scale_factors(inputs: Sequence[str], path: str | os.PathLike):
    """The pipeline's figure: the scale factors on every shifted sample (``shifted_working_points.csv``).

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.
    """
    return plot_shifted_scale_factors(pd.read_csv(input_file(inputs, "shifted_working_points.csv", "table")), path)


def plot_premise(points: pd.DataFrame, premise: pd.DataFrame, epsilon: float, path: str | os.PathLike):
    """|relative AUC change| on each shifted sample against the relative AUC drop under FGSM, per discriminator.

    One point per (mode, seed, checkpoint); the selected checkpoints large. Each panel gives Spearman's rho
    with its error (``premise.csv``). If the paper's premise holds, the points rise to the right.

    Raises
    ------
    ResultsError
        When the points lack a column or are empty.
    """
    require_columns(points, _POINT_COLUMNS, "premise points")
    if points.empty:
        raise ResultsError("premise points are empty: no checkpoint has both an FGSM drop and a shifted sample")
    samples = sorted(points["sample"].unique())
    models = ordered_models(points["model"])
    with figure_style():
        # Constrained layout: room for the two-line y labels, and for the legend above the panels.
        fig, axes = plt.subplots(
            len(samples), len(_PANELS), figsize=(20, 7 * len(samples)), squeeze=False, layout="constrained"
        )
        for row, sample in zip(axes, samples):
            for ax, disc in zip(row, _PANELS):
                _draw_premise_panel(ax, points, premise, sample, disc, models)
                ax.set_xlabel(f"relative AUC drop under FGSM, {epsilon_text(epsilon)}")
                ax.set_ylabel(f"|ΔAUC| / AUC\non {sample}")  # on two lines: a sample's name can be long
                for axis in (ax.xaxis, ax.yaxis):
                    axis.set_major_formatter(PercentFormatter(1.0))
                ax.grid(True, alpha=0.3)
                experiment_label(ax, disc)
        # Above the panels, where it covers neither points nor a panel's rank correlation.
        legend_above_panels(fig, axes[0][0], "model (large: selected checkpoint)")
        return save_figure(fig, path)


def _draw_premise_panel(ax, points, premise, sample: str, disc: str, models) -> None:
    panel = points[(points["sample"] == sample) & (points["discriminator"] == disc)]
    chosen = _selected_flags(panel)
    for k, model in enumerate(models):
        colour = model_colour(model, k)
        own = panel["model"] == model
        for big in (False, True):
            pts = panel[own & (chosen == big)]
            ax.scatter(
                pts["fgsm"],
                pts["auc_change"],
                s=160 if big else 40,
                marker=model_marker(model, k),
                edgecolors=colour,
                facecolors=colour if model_marker_filled(model) else "none",
                alpha=1.0 if big else 0.6,
                label=model if big and len(pts) else None,
                zorder=3 if big else 2,
            )
    text = []
    for vulnerability, name in (("fgsm", "FGSM"), ("worst_case", "worst case")):
        row = premise[
            (premise["sample"] == sample)
            & (premise["discriminator"] == disc)
            & (premise["vulnerability"] == vulnerability)
            & (premise["sensitivity"] == "auc_change")
        ]
        if len(row) and np.isfinite(row["spearman"].iloc[0]):
            r = row.iloc[0]
            text.append(rf"{name}: $\rho$ = {r['spearman']:+.2f} ± {r['spearman_err']:.2f} ({int(r['points'])} pts)")
    if text:
        ax.text(0.02, 0.97, "\n".join(text), transform=ax.transAxes, va="top", ha="left", fontsize="small")


def _selected_flags(panel: pd.DataFrame) -> np.ndarray:
    if "selected" in panel:
        return panel["selected"].astype(bool).to_numpy()
    return np.zeros(len(panel), dtype=bool)


def premise(inputs: Sequence[str], path: str | os.PathLike, *, summary_epsilon: float):
    """The pipeline's figure: the premise (``premise_points.csv``, ``premise.csv``) at ``summary_epsilon``.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.
    """
    points = pd.read_csv(input_file(inputs, "premise_points.csv", "premise points"))
    correlations = pd.read_csv(input_file(inputs, "/premise.csv", "premise table"))
    return plot_premise(points, correlations, summary_epsilon, path)


#: the held-out sensitivity drawn on the defences figure's y axis
_DEFENCE_SENSITIVITY = "sf_mistag_10pct"
_DEFENCE_COLUMNS = ("model", "sample", "discriminator", "quantity", "value", "total_err")
_SEED_COLUMNS = ("quantity", "model", "discriminator", "value", "total_err")


def plot_defences(defences: pd.DataFrame, seeds: pd.DataFrame, epsilon: float, path: str | os.PathLike):
    """Every mode's raw-AUC cost (nominal minus its raw AUC; x) against its sensitivity to held-out mismodelling
    (|SF_mistag - 1| at the 10 % mistag cut, mean over the held-out samples; y), coloured by its relative AUC drop
    under the worst attack (FGSM where the strong suite did not run at every seed) at ``epsilon``; over the seeds,
    with total errors. A defence that works sits low; one that is free sits at the left.

    Raises
    ------
    ResultsError
        When a table lacks a column or the defences table holds no pooled row.
    """
    require_columns(defences, _DEFENCE_COLUMNS, "defences table")
    require_columns(seeds, _SEED_COLUMNS, "seeds table")
    pooled = defences[(defences["sample"] == ALL_HELD_OUT) & (defences["quantity"] == _DEFENCE_SENSITIVITY)]
    if pooled.empty:
        raise ResultsError(f"defences table has no '{ALL_HELD_OUT}' row of {_DEFENCE_SENSITIVITY}")
    models = ordered_models(pooled["model"])
    drops = {disc: _attack_drops(seeds, models, disc) for disc in _PANELS}
    finite = [d for values in drops.values() for d in values.values() if np.isfinite(d)]
    norm = plt.Normalize(min(finite, default=0.0), max(finite, default=1.0))
    with figure_style():
        fig, axes = plt.subplots(1, len(_PANELS), figsize=(22, 9), squeeze=False, layout="constrained")
        for ax, disc in zip(axes[0], _PANELS):
            for k, model in enumerate(models):
                row = pooled[(pooled["model"] == model) & (pooled["discriminator"] == disc)]
                if row.empty:
                    continue
                cost, cost_err = seed_value(seeds, "raw_auc_difference", f"{model} vs nominal", disc)
                x, xerr = (0.0, 0.0) if model == "nominal" else (-cost, cost_err)
                drop = drops[disc].get(model, np.nan)
                ax.errorbar(
                    x,
                    row["value"].iloc[0],
                    xerr=xerr if np.isfinite(xerr) else None,
                    yerr=row["total_err"].iloc[0],
                    marker=model_marker(model, k),
                    markersize=16,
                    markerfacecolor=plt.cm.viridis(norm(drop)) if np.isfinite(drop) else "none",
                    markeredgecolor="black",
                    ecolor="0.5",
                    linestyle="",
                    label=model,
                )
            ax.set_xlabel("raw-AUC cost: nominal minus the model's raw AUC")
            ax.set_ylabel("|SF_mistag - 1| at the 10 % mistag cut,\nmean over the held-out samples")
            ax.axvline(0.0, color="0.6", linewidth=1, linestyle=":")
            ax.grid(True, alpha=0.3)
            experiment_label(ax, disc)
        bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=list(axes[0]))
        bar.set_label(f"relative AUC drop under attack, {epsilon_text(epsilon)}")
        bar.formatter = PercentFormatter(1.0)
        bar.update_ticks()
        legend_above_panels(fig, axes[0][0], "training mode (marker colour: its attack drop)")
        return save_figure(fig, path)


def _attack_drops(seeds: pd.DataFrame, models, disc: str) -> dict[str, float]:
    """Per model, the worst case's relative AUC drop over the seeds (FGSM's where the suite did not run)."""
    return {model: attack_drop(seeds, model, disc)[1] for model in models}


def defences(inputs: Sequence[str], path: str | os.PathLike, *, summary_epsilon: float):
    """The pipeline's figure: the defences' cost against their held-out sensitivity (``defences.csv``,
    ``seeds.csv``) at ``summary_epsilon``.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.
    """
    table = pd.read_csv(input_file(inputs, "defences.csv", "defences table"))
    seeds = pd.read_csv(input_file(inputs, "seeds.csv", "seeds table"))
    return plot_defences(table, seeds, summary_epsilon, path)
