"""The attack read as a calibration: fixed-cut scale factors per (pT, |eta|) bin.

At a working point whose cut is fixed on raw validation jets, the scale
factor SF = attacked / raw of the efficiency and of the mistag rate in each
(pT, |eta|) bin is what a data/simulation calibration would have to absorb
if data differed from simulation as the attack does (``scale_factors.csv``,
:mod:`robusttag.analysis.working_points`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..config import ordered_models
from ..errors import ResultsError
from .base import (
    epsilon_mask,
    epsilon_text,
    experiment_label,
    figure_style,
    model_colour,
    model_marker_filled,
    present_values,
    read_table,
    require_columns,
    save_figure,
)

#: the working point drawn: 10 % mistag (at 1 % a bin holds too few background jets for a useful scale factor)
WORKING_POINT = 0.1
_PANELS = ("BvsL", "CvsL")
_COLUMNS = (
    "model",
    "attack",
    "attack_source",
    "epsilon",
    "discriminator",
    "mistag_target",
    "pt_low",
    "pt_high",
    "abs_eta_low",
    "abs_eta_high",
    "sf_efficiency",
    "sf_efficiency_err",
    "sf_mistag",
    "sf_mistag_err",
)


def _worst_attacks(worst: pd.DataFrame, epsilon: float) -> dict[tuple[str, str], str]:
    """{(model, discriminator): the attack behind the selected checkpoint's worst case at ``epsilon``}."""
    rows = worst[worst["selected"].astype(bool) & epsilon_mask(worst["epsilon"], epsilon)]
    return {(r.model, r.discriminator): r.worst_attack for r in rows.itertuples()}


def _series(bins: pd.DataFrame, worst: dict, epsilon: float) -> list[tuple[str, str, pd.DataFrame]]:
    """(model, attack label, its rows) for FGSM and the worst attack of every model, one discriminator."""
    out = []
    disc = bins["discriminator"].iloc[0]
    for model in ordered_models(bins["model"]):
        own = bins[(bins["model"] == model) & (bins["attack_source"] == model) & epsilon_mask(bins["epsilon"], epsilon)]
        for attack in dict.fromkeys(("fgsm", worst.get((model, disc), "fgsm"))):
            rows = own[own["attack"] == attack]
            if len(rows):
                out.append((model, attack, rows.sort_values(["abs_eta_low", "pt_low"])))
    return out


def plot_scale_factors_per_bin(
    scale_factors: pd.DataFrame, worst: pd.DataFrame, epsilon: float, path: str | os.PathLike
) -> tuple[Path, Path]:
    """Fixed-cut SF of the efficiency (left) and of the mistag rate (right) per (pT, |eta|) bin, BvsL and CvsL.

    The bins run along x, pT within each |eta| bin; each model appears under
    FGSM (circles) and under the attack behind its worst case (squares), with
    the bootstrap errors. At the 10 % mistag working point and ``epsilon``.

    Raises
    ------
    ResultsError
        When a table lacks a column or has no row at ``epsilon`` and the working point.
    """
    require_columns(scale_factors, _COLUMNS, "scale_factors table")
    rows = scale_factors[
        epsilon_mask(scale_factors["epsilon"], epsilon) & np.isclose(scale_factors["mistag_target"], WORKING_POINT)
    ]
    if rows.empty:
        raise ResultsError(
            f"scale_factors table has no row at epsilon {epsilon} and mistag {WORKING_POINT}; epsilons present: "
            f"{present_values(scale_factors['epsilon'])}, "
            f"mistag targets: {present_values(scale_factors['mistag_target'])}"
        )
    worst_attack = _worst_attacks(worst, epsilon)
    with figure_style():
        # 34 inches wide (24 before the legends moved beside the panels): the panels keep their width, so
        # the rotated pT bins of neighbouring |eta| bins do not run into each other.
        fig, axes = plt.subplots(len(_PANELS), 2, figsize=(34, 9 * len(_PANELS)), squeeze=False)
        for row, disc in zip(axes, _PANELS):
            panel = rows[rows["discriminator"] == disc]
            if panel.empty:
                raise ResultsError(f"scale_factors table has no {disc} row at epsilon {epsilon}")
            for ax, quantity, flavour in ((row[0], "sf_efficiency", "efficiency"), (row[1], "sf_mistag", "mistag")):
                _draw_panel(ax, panel, worst_attack, epsilon, quantity)
                _axes(ax, panel, disc, flavour, epsilon)
        fig.tight_layout()
        return save_figure(fig, path)


def _draw_panel(ax, panel: pd.DataFrame, worst_attack: dict, epsilon: float, quantity: str) -> None:
    series = _series(panel, worst_attack, epsilon)
    width = 0.8 / max(len(series), 1)
    for k, (model, attack, rows) in enumerate(series):
        index = ordered_models(panel["model"]).index(model)
        colour = model_colour(model, index)
        x = np.arange(len(rows)) - 0.4 + width * (k + 0.5)
        ax.errorbar(
            x,
            rows[quantity],
            yerr=rows[quantity + "_err"],
            linestyle="",
            marker="o" if attack == "fgsm" else "s",
            markersize=8,
            color=colour,
            markerfacecolor=colour if model_marker_filled(model) else "none",
            label=f"{model}, {attack}",
        )
    ax.axhline(1.0, color="0.4", linewidth=1, linestyle=":")


def _axes(ax, panel: pd.DataFrame, disc: str, flavour: str, epsilon: float) -> None:
    edges = panel[["abs_eta_low", "abs_eta_high", "pt_low", "pt_high"]].drop_duplicates()
    edges = edges.sort_values(["abs_eta_low", "pt_low"])
    ax.set_xticks(np.arange(len(edges)))
    ax.set_xticklabels([f"{lo:g}-{hi:g}" for lo, hi in zip(edges["pt_low"], edges["pt_high"])], rotation=60)
    for boundary in np.flatnonzero(np.diff(edges["abs_eta_low"].to_numpy())):  # between |eta| bins
        ax.axvline(boundary + 0.5, color="0.3", linewidth=1.2)
    top = ax.get_ylim()[1]
    for low, high in edges[["abs_eta_low", "abs_eta_high"]].drop_duplicates().itertuples(index=False):
        where = np.flatnonzero(edges["abs_eta_low"].to_numpy() == low)
        ax.text(where.mean(), top, f"{low:g} < |eta| < {high:g}", ha="center", va="top", fontsize="small")
    background = "light" if disc != "BvsC" else "c"
    what = "efficiency" if flavour == "efficiency" else f"{background} mistag rate"
    ax.set_xlabel("jet $p_T$ bin [GeV]")
    ax.set_ylabel(f"{disc} {what}: SF = attacked / raw")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(  # beside the panel: inside, it covered the |eta| bins' names or the points
        fontsize="small",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title=f"{epsilon_text(epsilon)}, {WORKING_POINT:.0%} mistag cut",
    )
    experiment_label(ax, disc)


def scale_factors_per_bin(inputs: Sequence[str], path: str | os.PathLike, *, summary_epsilon: float):
    """The pipeline's figure: fixed-cut scale factors per (pT, |eta|) bin at ``evaluation.summary_epsilon``.

    Parameters
    ----------
    inputs : sequence of str
        ``scale_factors.csv`` and ``worst_case.csv``.
    path : str or os.PathLike
        The output without a suffix.
    summary_epsilon : float
        ``evaluation.summary_epsilon``.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.
    """
    return plot_scale_factors_per_bin(
        read_table(inputs, "scale_factors"), read_table(inputs, "worst_case"), summary_epsilon, path
    )
