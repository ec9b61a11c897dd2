"""A training's history (``history.csv``, one row per epoch): which checkpoints exist and which one is
selected. Torch-free: the workflow asks it which checkpoints to score.
"""

from __future__ import annotations

import csv
import logging
import os

from .errors import ResultsError
from .paths import history_file, model_identity

log = logging.getLogger(__name__)

HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_auc_bvsl",
    "val_auc_cvsl",
    "selection_score",
    "lr",
    "seconds",
    "jets_per_s",
)


def selection_score(history: list[dict], metric: str, smoothing: int) -> float:
    """The quantity checkpoint selection minimises, at the last epoch of ``history``: the trailing mean
    over its last ``smoothing`` epochs (fewer at the start) of the validation loss, or of one minus the
    mean validation AUC of BvsL and CvsL. Trailing, so that early stopping can use it as it goes.
    """
    if metric == "val_loss":
        values = [row["val_loss"] for row in history[-smoothing:]]
    else:
        values = [1.0 - (row["val_auc_bvsl"] + row["val_auc_cvsl"]) / 2 for row in history[-smoothing:]]
    return sum(values) / len(values)


def read_history(path: str | os.PathLike) -> list[dict]:
    """The rows of a training's ``history.csv`` as {column: float}.

    Raises
    ------
    ResultsError
        When the file lacks a column of HISTORY_COLUMNS.
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in HISTORY_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ResultsError(f"{path}: training history lacks column(s) {missing}; it has {reader.fieldnames}")
        return [{k: float(v) for k, v in row.items()} for row in reader]


def selected_epoch(history_path: str | os.PathLike) -> int:
    """The checkpoint a model is judged by: the epoch of the lowest selection score
    (the quantity ``training.selection`` names, written by the training; the first of equals).

    Raises
    ------
    ResultsError
        When the history holds no epoch.
    """
    rows = read_history(history_path)
    if not rows:
        raise ResultsError(f"{history_path}: no epochs in the training history")
    return int(min(rows, key=lambda row: row["selection_score"])["epoch"])


def selected_epochs(model_dirs) -> dict[tuple[str, int], int]:
    """{(mode, seed): its selected epoch} for trained model directories (:func:`model_dir`, holding history.csv)."""
    return {model_identity(d): selected_epoch(history_file(d)) for d in model_dirs}


def scanned_epochs(history_path: str | os.PathLike, epochs: str | tuple[int, ...]) -> list[int]:
    """The checkpoints to evaluate: those of ``epochs`` ('all' or a list) that
    were trained, and always the selected one.
    """
    trained = [int(row["epoch"]) for row in read_history(history_path)]
    wanted = set(trained) if epochs == "all" else set(epochs) & set(trained)
    skipped = sorted(set(() if epochs == "all" else epochs) - set(trained))
    if skipped:
        log.info("%s: epochs %s were not trained (early stopping); not scanned", history_path, skipped)
    return sorted(wanted | {selected_epoch(history_path)})
