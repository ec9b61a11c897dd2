"""Each jet's distance to its working point: the efficiency lost and the mistag rate gained against eps.

From ``distance_curves.csv`` (:func:`robusttag.analysis.distances.distance_curves`): at the working point of
10 % mistag, one column per discriminator; above, the fraction of tagged signal jets the attack moves below
the fixed cut within eps; below, the mistag rate over the raw one. One line per training mode (every seed
drawn, thin), so that nominal and each defended mode can be compared without choosing an eps.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ..config import ordered_models
from ..errors import ResultsError
from ..metrics import DISCRIMINATORS
from .base import experiment_label, figure_style, input_file, model_colour, require_columns, save_figure

_COLUMNS = ("model", "seed", "discriminator", "mistag_target", "epsilon", "signal_lost", "mistag_ratio")
MISTAG = 0.1  #: the working point drawn


def plot_distance_to_working_point(curves: pd.DataFrame, path: str | os.PathLike) -> tuple[Path, Path]:
    """The curves of the 10 % mistag working point, a column per discriminator.

    Raises
    ------
    ResultsError
        When the table lacks a column or has no curve at that working point.
    """
    require_columns(curves, _COLUMNS, "distance curves")
    rows = curves[(curves["mistag_target"] - MISTAG).abs() < 1e-12]
    if not len(rows):
        raise ResultsError(f"the distance curves have no working point at {MISTAG:g} mistag")
    models = ordered_models(set(rows["model"]))
    with figure_style():
        fig, axes = plt.subplots(2, len(DISCRIMINATORS), figsize=(12 * len(DISCRIMINATORS), 18), squeeze=False)
        for column, disc in enumerate(DISCRIMINATORS):
            top, bottom = axes[0, column], axes[1, column]
            for index, model in enumerate(models):
                chosen = rows[(rows["model"] == model) & (rows["discriminator"] == disc)]
                for number, (_, curve) in enumerate(chosen.groupby("seed", sort=True)):
                    label = model if number == 0 else None
                    style = {"color": model_colour(model, index), "linewidth": 2.5 if number == 0 else 1.0}
                    top.plot(curve["epsilon"], 100 * curve["signal_lost"], label=label, **style)
                    bottom.plot(curve["epsilon"], curve["mistag_ratio"], label=label, **style)
            for ax in (top, bottom):
                ax.set_xscale("log")
                ax.set_xlabel(r"$\epsilon$ (standardised units)")
                ax.grid(True, alpha=0.3)
                ax.legend(fontsize="small", loc="upper left", title=f"{disc}, fixed cut at {MISTAG:.0%} mistag")
                experiment_label(ax, disc)
            top.set_ylabel("tagged signal jets moved below the cut [%]")
            bottom.set_ylabel("mistag rate / raw mistag rate")
        fig.tight_layout()
        return save_figure(fig, path)


def distance_to_working_point(inputs: Sequence[str], path: str | os.PathLike):
    """The pipeline's figure, from ``distance_curves.csv`` (every seed).

    Raises
    ------
    ResultsError
        When the input is missing or the table lacks what the figure needs.
    """
    curves = pd.read_csv(input_file(inputs, "distance_curves.csv", "distance curves table"))
    return plot_distance_to_working_point(curves, path)
