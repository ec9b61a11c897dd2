"""The training history: training and validation loss per epoch of each mode.

It is drawn from each training's ``history.csv`` (``epoch, train_loss,
val_loss, lr, seconds, jets_per_s``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..errors import ResultsError
from ..settings import ordered_models
from .base import _label, _model_colour, _require_columns, _save, _style

_HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss")


def _check_histories(histories: Mapping[str, pd.DataFrame]) -> None:
    if not histories:
        raise ResultsError("histories must map at least one training mode to its history table")
    for mode, frame in histories.items():
        _require_columns(frame, _HISTORY_COLUMNS, f"history of '{mode}'")
        if frame.empty:
            raise ResultsError(f"history of '{mode}' has no rows")


def _draw_history(ax, mode: str, frame: pd.DataFrame, colour: str) -> list[float]:
    """One mode's curves and the star at its lowest validation loss; returns the finite losses drawn."""
    frame = frame.sort_values("epoch")
    epoch = frame["epoch"].to_numpy()
    train = frame["train_loss"].to_numpy(float)
    val = frame["val_loss"].to_numpy(float)
    ax.plot(epoch, train, color=colour, linestyle="-", linewidth=2, label=f"{mode}: training")
    ax.plot(epoch, val, color=colour, linestyle="--", linewidth=2, label=f"{mode}: validation")
    if np.isfinite(val).any():
        best = int(np.nanargmin(np.where(np.isfinite(val), val, np.nan)))
        ax.plot(
            epoch[best],
            val[best],
            marker="*",
            markersize=18,
            color=colour,
            markeredgecolor="black",
            linestyle="",
            label=f"{mode}: lowest validation loss (epoch {int(epoch[best])})",
        )
    losses = np.concatenate([train, val])
    return losses[np.isfinite(losses) & (losses > 0)].tolist()


def _legend_headroom(ax, losses: list[float]) -> None:
    """Raise the top of the log y axis so the legend (upper right) sits above the curves."""
    if not losses:
        return
    low, high = min(losses), max(losses)
    span = max(high / low, 1.5)
    ax.set_ylim(low / span**0.05, high * span**0.6)


def plot_training_history(histories: Mapping[str, pd.DataFrame], path: str | os.PathLike) -> tuple[Path, Path]:
    """Training and validation loss per epoch for each training mode.

    One colour per mode; solid = training loss (for adversarial training: on
    the FGSM inputs it trained on), dashed = validation loss; log y axis. A star
    marks each mode's lowest validation loss (the selected checkpoint). The
    legend sits inside the axes, top right, above the curves.

    Parameters
    ----------
    histories : mapping of str to pandas.DataFrame
        Each training mode ("nominal", "adversarial") and its history table.
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When no history is given, or a table is empty or lacks a column.
    """
    _check_histories(histories)
    with _style():
        fig, ax = plt.subplots(figsize=(16, 9))
        losses = []
        for i, mode in enumerate(ordered_models(histories)):
            losses += _draw_history(ax, mode, histories[mode], _model_colour(mode, i))
        ax.set_yscale("log")
        _legend_headroom(ax, losses)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize="x-small", loc="upper right", ncol=len(histories))
        _label(ax)
        fig.tight_layout()
        return _save(fig, path)  # inside the style: mathtext is laid out at draw time


def training_history(inputs: Sequence[str], path: str | os.PathLike):
    """Draw the training history of the pipeline, one mode per model directory.

    Parameters
    ----------
    inputs : sequence of str
        The model directories, each holding its ``history.csv``; the directory
        name is the mode.
    path : str or os.PathLike
        The output without a suffix.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When a history lacks a column or holds no epoch.
    """
    histories = {Path(d).name: pd.read_csv(Path(d) / "history.csv") for d in inputs}
    return plot_training_history(histories, path)
