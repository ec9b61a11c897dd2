"""The training history: per epoch of each mode, the training and validation
loss (left) and the validation AUCs (right), with the selected checkpoint.

It is drawn from each training's ``history.csv`` (``settings.HISTORY_COLUMNS``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..config import ordered_models
from ..errors import ResultsError
from ..paths import history_file, model_identity
from .base import experiment_label, figure_style, model_colour, require_columns, save_figure

_HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_auc_bvsl", "val_auc_cvsl", "selection_score")


def _check_histories(histories: Mapping[str, pd.DataFrame]) -> None:
    if not histories:
        raise ResultsError("histories must map at least one training mode to its history table")
    for mode, frame in histories.items():
        require_columns(frame, _HISTORY_COLUMNS, f"history of '{mode}'")
        if frame.empty:
            raise ResultsError(f"history of '{mode}' has no rows")


def _selected_row(frame: pd.DataFrame) -> int:
    """The position of the selected checkpoint: the lowest selection score, the first of equals."""
    return int(np.argmin(frame["selection_score"].to_numpy(float)))


def _star(ax, x, y, colour: str, label: str | None) -> None:
    ax.plot(x, y, marker="*", markersize=18, color=colour, markeredgecolor="black", linestyle="", label=label)


def _draw_losses(ax, mode: str, frame: pd.DataFrame, colour: str) -> list[float]:
    """One mode's loss curves and the star at its selected checkpoint; returns the finite losses drawn."""
    epoch = frame["epoch"].to_numpy()
    train = frame["train_loss"].to_numpy(float)
    val = frame["val_loss"].to_numpy(float)
    ax.plot(epoch, train, color=colour, linestyle="-", linewidth=2, label=f"{mode}: training")
    ax.plot(epoch, val, color=colour, linestyle="--", linewidth=2, label=f"{mode}: validation")
    best = _selected_row(frame)
    _star(ax, epoch[best], val[best], colour, f"{mode}: selected (epoch {int(epoch[best])})")
    losses = np.concatenate([train, val])
    return losses[np.isfinite(losses) & (losses > 0)].tolist()


def _draw_aucs(axes, mode: str, frame: pd.DataFrame, colour: str) -> None:
    """One mode's validation AUCs (BvsL, CvsL: one axes each) and its selected checkpoint."""
    epoch = frame["epoch"].to_numpy()
    best = _selected_row(frame)
    for ax, column in zip(axes, ("val_auc_bvsl", "val_auc_cvsl")):
        values = frame[column].to_numpy(float)
        ax.plot(epoch, values, color=colour, linestyle="--", linewidth=2, label=mode)
        _star(ax, epoch[best], values[best], colour, None)


def _legend_headroom(ax, losses: list[float]) -> None:
    """Raise the top of the log y axis so the legend (upper right) sits above the curves."""
    if not losses:
        return
    low, high = min(losses), max(losses)
    span = max(high / low, 1.5)
    ax.set_ylim(low / span**0.05, high * span**0.6)


def plot_training_history(histories: Mapping[str, pd.DataFrame], path: str | os.PathLike) -> tuple[Path, Path]:
    """Per epoch of each training mode: the losses (left) and the validation AUCs (right).

    One colour per mode. Left, log y: solid = training loss (for adversarial
    training: on the FGSM inputs it trained on), dashed = validation loss.
    Right: the validation AUCs of BvsL (top) and CvsL (bottom). A star marks each
    mode's selected checkpoint (the lowest selection score of
    ``training.selection``) on both. Each legend sits inside its axes.

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
    with figure_style():
        fig = plt.figure(figsize=(16, 9))
        grid = fig.add_gridspec(2, 2)
        ax = fig.add_subplot(grid[:, 0])
        ax_bvsl = fig.add_subplot(grid[0, 1])
        ax_cvsl = fig.add_subplot(grid[1, 1], sharex=ax_bvsl)
        losses = []
        for i, mode in enumerate(ordered_models(histories)):
            frame = histories[mode].sort_values("epoch", ignore_index=True)
            losses += _draw_losses(ax, mode, frame, model_colour(mode, i))
            _draw_aucs((ax_bvsl, ax_cvsl), mode, frame, model_colour(mode, i))
        ax.set_yscale("log")
        _legend_headroom(ax, losses)
        ax.set_ylabel("loss")
        ax_bvsl.set_ylabel("validation AUC, BvsL", fontsize="small")
        ax_cvsl.set_ylabel("validation AUC, CvsL", fontsize="small")
        ax_bvsl.tick_params(labelbottom=False)
        for axes in (ax, ax_cvsl):
            axes.set_xlabel("epoch")
        for axes in (ax, ax_bvsl, ax_cvsl):
            axes.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize="x-small", loc="upper right")
        ax_cvsl.legend(fontsize="x-small", loc="lower right")
        experiment_label(ax)
        fig.tight_layout()
        return save_figure(fig, path)  # inside the style: mathtext is laid out at draw time


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
    histories = {model_identity(d)[0]: pd.read_csv(history_file(d)) for d in inputs}
    return plot_training_history(histories, path)
