"""The architectures side by side: raw AUC and relative AUC drops under FGSM and the worst case of the
strong suite, per discriminator, each model a marker with its total error over the training seeds
(``architectures.csv``, :mod:`robusttag.analysis.comparison`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from ..config import ordered_models
from ..errors import ResultsError
from .base import (
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

_QUANTITIES = (
    ("raw_auc", "raw AUC"),
    ("fgsm_relative_drop", "relative AUC drop under FGSM"),
    ("worst_relative_drop", "relative AUC drop, worst case"),
)
_COLUMNS = ("architecture", "quantity", "model", "discriminator", "value", "total_err")


def plot_architectures(table: pd.DataFrame, path: str | os.PathLike) -> tuple[Path, Path]:
    """One row per discriminator, one column per quantity: each architecture (x) and model (marker).

    Raises
    ------
    ResultsError
        When the table lacks a column or holds no architecture's own numbers.
    """
    require_columns(table, _COLUMNS, "architectures table")
    own = table[~table["architecture"].str.contains(" - ") & table["quantity"].isin([q for q, _ in _QUANTITIES])]
    if own.empty:
        raise ResultsError("the architectures table holds no raw AUC or relative drop")
    architectures = list(dict.fromkeys(own["architecture"]))
    models = ordered_models(own["model"])
    discs = [d for d in ("BvsL", "CvsL") if d in set(own["discriminator"])]
    offsets = np.linspace(-0.15, 0.15, len(models)) if len(models) > 1 else np.zeros(1)
    with figure_style():
        # Constrained layout: room for the legend above the panels.
        fig, axes = plt.subplots(
            len(discs), len(_QUANTITIES), figsize=(24, 7 * len(discs)), squeeze=False, layout="constrained"
        )
        for row, disc in zip(axes, discs):
            for ax, (quantity, name) in zip(row, _QUANTITIES):
                for k, (model, offset) in enumerate(zip(models, offsets)):
                    points = own[
                        (own["quantity"] == quantity) & (own["model"] == model) & (own["discriminator"] == disc)
                    ]
                    x = [architectures.index(a) + offset for a in points["architecture"]]
                    colour = model_colour(model, k)
                    ax.errorbar(
                        x,
                        points["value"],
                        yerr=points["total_err"].fillna(0.0),
                        fmt=model_marker(model, k),
                        color=colour,
                        mfc=colour if model_marker_filled(model) else "none",
                        markersize=12,
                        capsize=4,
                        label=model,
                    )
                ax.set_xticks(range(len(architectures)), architectures)
                ax.set_xlim(-0.5, len(architectures) - 0.5)
                ax.set_ylabel(name)
                if quantity != "raw_auc":
                    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
                ax.grid(True, axis="y", alpha=0.3)
                experiment_label(ax, disc)
        # Above the panels: inside the first one, its title ran over the y tick labels.
        legend_above_panels(fig, axes[0][0], "model (mean over seeds ± total error)")
        return save_figure(fig, path)


def architectures(inputs: Sequence[str], path: str | os.PathLike) -> tuple[Path, Path]:
    """The pipeline's comparison figure from ``architectures.csv``."""
    return plot_architectures(pd.read_csv(input_file(inputs, "architectures.csv", "architectures table")), path)
