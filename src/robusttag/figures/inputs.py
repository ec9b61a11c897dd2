"""The input distributions: Fig. 5 (input shifts) and Fig. 10 (first-track d0).

Fig. 5 shows inputs raw against FGSM-distorted, Fig. 10 the first track's d0
per flavour, raw against uncapped FGSM, both from the ``samples`` table
(``model, label, attack, epsilon, capped`` plus one column per sampled feature
in raw physical units, named as the model inputs, e.g. ``trk0_d0``; ``label``
is a training label of :data:`robusttag.features.LABELS`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ..config import SampleSettings, ordered_models
from ..errors import ResultsError
from ..features import LABELS, feature_label
from .base import (
    FLAVOUR_COLOURS,
    as_bool,
    cap_text,
    epsilon_colours,
    epsilon_mask,
    epsilon_text,
    experiment_label,
    figure_style,
    input_file,
    model_rows,
    present_values,
    require_columns,
    save_figure,
    studied_model,
)

_SAMPLE_COLUMNS = ("model", "label", "attack", "epsilon", "capped")

# --------------------------------------------------------------------------
# Histogram helpers
# --------------------------------------------------------------------------


def _finite(values: pd.Series) -> np.ndarray:
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return arr[np.isfinite(arr)]


def _drop_default_spike(values: np.ndarray) -> np.ndarray:
    """Leave out a repeated minimum, which is taken to be the default value.

    Defaults sit below the bulk (a fixed constant or the slot minimum minus a
    step), so a value equal to the minimum that repeats in more than 0.1 % of
    the jets is treated as a default.
    """
    if values.size == 0:
        return values
    vmin = values.min()
    n_min = int(np.count_nonzero(values == vmin))
    if n_min > max(1, 0.001 * values.size) and n_min < values.size:
        return values[values > vmin]
    return values


def _robust_range(values: np.ndarray) -> tuple[float, float]:
    """Display range from the 0.5-99.5 percentiles of the raw values.

    The default spike (see :func:`_drop_default_spike`) is left out first, so it
    falls outside the displayed range.
    """
    values = _drop_default_spike(values)
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [0.5, 99.5])
    if not hi > lo:
        pad = max(abs(lo) * 0.05, 0.5)
        lo, hi = lo - pad, hi + pad
    return float(lo), float(hi)


def _is_integer_valued(values: np.ndarray, max_unique: int = 60) -> bool:
    if values.size == 0:
        return False
    return bool(np.all(values == np.round(values))) and np.unique(values).size <= max_unique


def _range_edges(value_range: tuple[float, float], bins: int) -> np.ndarray:
    lo, hi = map(float, value_range)
    if not hi > lo:
        raise ResultsError(f"histogram range must satisfy low < high, got {value_range}")
    return np.linspace(lo, hi, bins + 1)


def _bin_edges(raw: np.ndarray, value_range: tuple[float, float] | None, bins: int) -> np.ndarray:
    if value_range is not None:
        return _range_edges(value_range, bins)
    genuine = _drop_default_spike(raw)
    if _is_integer_valued(genuine):
        # Integer features: one bin per value (they are never attacked anyway).
        lo, hi = genuine.min(), genuine.max()
        return np.arange(lo - 0.5, hi + 1.5, 1.0)
    return np.linspace(*_robust_range(raw), bins + 1)


def _one_bin_per_value(edges: np.ndarray) -> bool:
    """Whether the bins are those of an integer feature: unit wide, centred on the integers."""
    return len(edges) > 1 and np.allclose(np.diff(edges), 1.0) and np.allclose(edges - np.floor(edges), 0.5)


def _wants_log(counts: np.ndarray) -> bool:
    """Log y when the populated bins span more than ~1.5 orders of magnitude."""
    filled = counts[counts > 0]
    if filled.size < 2:
        return False
    return filled.max() / np.median(filled) > 30 or filled.max() / filled.min() > 300


def _headroom(ax, ymax: float, log: bool, ymin: float | None = None) -> None:
    """Leave room above the tallest bin for the legend."""
    if ymax <= 0:
        return
    if log:
        low = ymin if ymin is not None else 0.5
        ax.set_ylim(low, ymax * (ymax / low) ** 0.6)
    else:
        ax.set_ylim(0.0, 1.55 * ymax)


# --------------------------------------------------------------------------
# Sample selections
# --------------------------------------------------------------------------


def _feature_columns(samples: pd.DataFrame) -> list[str]:
    """List the sampled features of the table (every column but the bookkeeping ones)."""
    return [c for c in samples.columns if c not in _SAMPLE_COLUMNS]


def _select_samples(
    samples: pd.DataFrame, *, model: str, attack: str, epsilon: float | None = None, capped: bool | None = None
) -> pd.DataFrame:
    sub = model_rows(samples, model, "samples table")
    sub = sub[sub["attack"] == attack]
    if attack == "raw":
        if sub.empty:
            raise ResultsError(f"samples table has no raw rows for model '{model}'")
        return sub
    base = sub
    if capped is not None:
        sub = sub[as_bool(sub["capped"]) == bool(capped)]
    if epsilon is not None:
        sub = sub[epsilon_mask(sub["epsilon"], epsilon)]
    if sub.empty:
        cap = "" if capped is None else (" with the cap" if capped else " without the cap")
        have = base if capped is None else base[as_bool(base["capped"]) == bool(capped)]
        raise ResultsError(
            f"samples table has no '{attack}' rows for model '{model}' at epsilon {epsilon}{cap}; "
            f"epsilons present: {present_values(have['epsilon'])}"
        )
    return sub


def _check_features(samples: pd.DataFrame, features: Sequence[str]) -> None:
    if isinstance(features, str):
        raise ResultsError("features must be a sequence of column names, not a single string")
    if len(features) == 0:
        raise ResultsError("features must name at least one column")
    missing = [f for f in features if f not in samples.columns]
    if missing:
        raise ResultsError(f"samples table lacks feature column(s) {missing}; it holds {_feature_columns(samples)}")


def _read_samples(inputs: Sequence[str]) -> pd.DataFrame:
    return pd.read_parquet(input_file(inputs, ".parquet", "samples table"))


# --------------------------------------------------------------------------
# Fig. 5: input distributions, raw vs FGSM
# --------------------------------------------------------------------------


def _input_panel(ax, feature: str, edges, raw_values, attacked, colours, logy, title: str) -> None:
    """One feature: raw filled, one step line per epsilon."""
    counts, _ = np.histogram(raw_values, bins=edges)
    ax.stairs(counts, edges, fill=True, color="0.75", label="raw")
    ax.stairs(counts, edges, color="0.35", linewidth=1.2)
    ymax = counts.max()
    for eps, frame in attacked.items():
        adv_counts, _ = np.histogram(_finite(frame[feature]), bins=edges)
        ax.stairs(adv_counts, edges, color=colours[eps], linewidth=2.0, label=f"FGSM {epsilon_text(eps)}")
        ymax = max(ymax, adv_counts.max())
    use_log = logy.get(feature) if isinstance(logy, Mapping) else logy
    if use_log is None:
        use_log = _wants_log(counts)
    if use_log:
        ax.set_yscale("log")
    _headroom(ax, float(ymax), bool(use_log))
    ax.set_xlim(edges[0], edges[-1])
    if _one_bin_per_value(edges):  # an integer feature: ticks at its values, none at the corner by the y axis' 0
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(feature_label(feature))
    ax.set_ylabel("Jets / bin")
    ax.legend(fontsize="small", loc="upper right", ncol=1, title=title, title_fontsize="small")
    experiment_label(ax)


def plot_input_shifts(
    samples: pd.DataFrame,
    model: str,
    features: Sequence[str],
    epsilons: Sequence[float],
    path: str | os.PathLike,
    *,
    restrict_impact: float | None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    bins: int = 50,
    logy: bool | Mapping[str, bool] | None = None,
) -> tuple[Path, Path]:
    """Fig. 5: raw input distributions against FGSM-distorted ones.

    One panel per feature (two columns; 2x2 for four features). The raw values
    of ``model``'s sample are a filled histogram; the FGSM samples crafted on
    ``model`` at each value in ``epsilons`` are step lines. Values are raw
    physical units; NaN and inf are dropped, and values outside the displayed
    range (e.g. defaults) are not drawn.

    Parameters
    ----------
    samples : pandas.DataFrame
        The samples table.
    model : str
        The model the samples were taken with and the attacks crafted on.
    features : sequence of str
        The feature columns, one panel each, by name (e.g. ``trk0_d0``).
    epsilons : sequence of float
        The FGSM sizes, one line each.
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.
    restrict_impact : float or None
        The cap the FGSM samples were made with (a fraction of the raw value):
        with a cap the rows with ``capped == True`` are drawn and the legend
        says e.g. "cap 25 %"; None draws the uncapped rows ("no cap").
    ranges : mapping of str to (float, float), optional
        A feature's (low, high) display range; otherwise the range comes from
        the 0.5-99.5 percentiles of the raw values with the default spike left
        out (integer features get one bin per value).
    bins : int
        Bins per panel (integer features excepted).
    logy : bool or mapping of str to bool, optional
        Log y axis for all panels, or per feature; None: a log axis where the
        raw histogram spans well over an order of magnitude.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the model, a feature or an epsilon is absent, a feature has no
        finite raw value, a range is empty, or the table lacks a column.
    """
    require_columns(samples, _SAMPLE_COLUMNS, "samples table")
    _check_features(samples, features)
    epsilons = [float(e) for e in epsilons]
    if not epsilons:
        raise ResultsError("epsilons must hold at least one value")
    capped = restrict_impact is not None
    raw = _select_samples(samples, model=model, attack="raw")
    attacked = {
        eps: _select_samples(samples, model=model, attack="fgsm", epsilon=eps, capped=capped) for eps in epsilons
    }
    raw_values = {feature: _finite(raw[feature]) for feature in features}
    empty = [feature for feature, vals in raw_values.items() if vals.size == 0]
    if empty:
        raise ResultsError(f"feature(s) {empty} have no finite raw values for model '{model}'")
    ranges = dict(ranges or {})
    edges_of = {feature: _bin_edges(raw_values[feature], ranges.get(feature), bins) for feature in features}
    colours = epsilon_colours(epsilons)
    title = f"{model} model, {cap_text(restrict_impact)}"
    ncols = 1 if len(features) == 1 else 2
    nrows = math.ceil(len(features) / ncols)
    with figure_style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(9 * ncols, 7.5 * nrows), squeeze=False)
        for ax, feature in zip(axes.flat, features):
            _input_panel(ax, feature, edges_of[feature], raw_values[feature], attacked, colours, logy, title)
        for ax in axes.flat[len(features) :]:
            ax.set_visible(False)
        fig.tight_layout()
        return save_figure(fig, path)  # inside the style: mathtext is laid out at draw time


def fig5_input_shifts(
    inputs: Sequence[str],
    path: str | os.PathLike,
    *,
    input_features: Sequence[str],
    input_epsilons: Sequence[float],
    restrict_impact: float | None,
):
    """Fig. 5 of the pipeline: the nominal model's inputs, raw and under (capped) FGSM.

    Parameters
    ----------
    inputs : sequence of str
        The samples table (``.parquet``).
    path : str or os.PathLike
        The output without a suffix.
    input_features : sequence of str
        ``evaluation.figures.input_features``, the panels.
    input_epsilons : sequence of float
        ``evaluation.figures.input_epsilons``.
    restrict_impact : float or None
        ``evaluation.restrict_impact``, the cap the samples were made with.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the input is missing or the table lacks what the figure needs.
    """
    samples = _read_samples(inputs)
    model = studied_model(samples["model"].unique())
    return plot_input_shifts(samples, model, input_features, input_epsilons, path, restrict_impact=restrict_impact)


# --------------------------------------------------------------------------
# Fig. 10: first track's d0 per flavour, raw vs uncapped FGSM
# --------------------------------------------------------------------------


def _column(samples: pd.DataFrame, feature: str) -> str:
    if feature not in samples.columns:
        raise ResultsError(f"samples table lacks the column '{feature}'; it holds {_feature_columns(samples)}")
    return feature


def _flavour_hist(frame: pd.DataFrame, label: int, column: str, edges: np.ndarray, density: bool) -> np.ndarray:
    vals = _finite(frame.loc[frame["label"].astype(int) == label, column])
    counts, _ = np.histogram(vals, bins=edges)
    if density and counts.sum() > 0:
        return counts / counts.sum() / np.diff(edges)
    return counts.astype(float)


def _d0_panel(ax, raw, adv, column: str, edges, density: bool, epsilon: float, model: str) -> float:
    """One model: per flavour raw filled, FGSM as a line of the same colour; returns the tallest bin."""
    ymax = 0.0
    for flavour, label in LABELS.items():
        colour = FLAVOUR_COLOURS[flavour]
        h_raw = _flavour_hist(raw, label, column, edges, density)
        h_adv = _flavour_hist(adv, label, column, edges, density)
        if h_raw.sum() == 0 and h_adv.sum() == 0:
            continue
        ax.stairs(h_raw, edges, fill=True, color=colour, alpha=0.25, label=f"{flavour} jets, raw")
        ax.stairs(h_adv, edges, color=colour, linewidth=2.0, label=f"{flavour} jets, FGSM")
        ymax = max(ymax, float(h_raw.max()), float(h_adv.max()))
    ax.set_xlim(edges[0], edges[-1])
    ax.axvline(0.0, color="0.5", linewidth=0.8, linestyle=":")
    ax.set_xlabel(feature_label(column))
    ax.set_ylabel("Normalised to unit area" if density else "Jets / bin")
    ax.legend(
        fontsize="small",
        loc="upper right",
        ncol=2,
        title=f"FGSM {epsilon_text(epsilon)} (no cap) on the {model} model",
        title_fontsize="small",
    )
    experiment_label(ax, rlabel=f"{model} model")
    return ymax


def plot_first_track_d0(
    samples: pd.DataFrame,
    epsilon: float,
    path: str | os.PathLike,
    *,
    models: Sequence[str] | None = None,
    feature: str = SampleSettings.FIRST_TRACK_D0,
    range: tuple[float, float] | None = None,  # noqa: A002 - the name the callers use
    bins: int = 60,
    density: bool = True,
    logy: bool = False,
) -> tuple[Path, Path]:
    """Fig. 10: first track's signed d0 per flavour, raw vs uncapped FGSM.

    One panel per model, side by side. In each panel the raw distributions of
    b, c and light jets are filled histograms, and the same jets after FGSM at
    ``epsilon`` crafted on that model *without* the cap (``capped == False``)
    are lines of the same colour.

    Parameters
    ----------
    samples : pandas.DataFrame
        The samples table.
    epsilon : float
        The FGSM size (uncapped).
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.
    models : sequence of str, optional
        The panels (default: every model of the table, in the order of
        :data:`robusttag.config.MODES`).
    feature : str
        The column drawn (default the first track's d0, ``trk0_d0``, which the
        pipeline always samples).
    range : (float, float), optional
        The x range, the same in every panel; default: the 0.5-99.5 percentiles
        of the raw values of all models (defaults left out). With the tracks
        ordered by signed d0 significance the first track's d0 is mostly
        positive, so a range symmetric about 0 would leave half of it empty.
    bins : int
        Number of bins.
    density : bool
        Normalise each flavour to unit area, so shapes compare.
    logy : bool
        Log y axis (default linear, as in the paper).

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the column, a model or the uncapped epsilon is absent, the column
        has no finite raw value, the range is empty, or the table lacks a column.
    """
    require_columns(samples, _SAMPLE_COLUMNS, "samples table")
    column = _column(samples, feature)
    models = list(ordered_models(samples["model"]) if models is None else models)
    if not models:
        raise ResultsError("samples table holds no model")
    data = {
        m: (
            _select_samples(samples, model=m, attack="raw"),
            _select_samples(samples, model=m, attack="fgsm", epsilon=epsilon, capped=False),
        )
        for m in models
    }
    all_raw = np.concatenate([_finite(raw[column]) for raw, _ in data.values()])
    if all_raw.size == 0:
        raise ResultsError(f"'{column}' has no finite raw values")
    edges = np.linspace(*_robust_range(all_raw), bins + 1) if range is None else _range_edges(range, bins)
    with figure_style():
        fig, axes = plt.subplots(1, len(models), figsize=(10 * len(models), 9), squeeze=False, sharey=True)
        ymax = max(_d0_panel(ax, *data[m], column, edges, density, epsilon, m) for ax, m in zip(axes.flat, models))
        first = axes.flat[0]  # y is shared: setting it once sets every panel
        if logy:
            first.set_yscale("log")
        _headroom(first, ymax, logy, ymin=max(ymax * 1e-4, 1e-12) if logy else None)
        fig.tight_layout()
        return save_figure(fig, path)  # inside the style: mathtext is laid out at draw time


def fig10_first_track_d0(inputs: Sequence[str], path: str | os.PathLike, *, uncapped_epsilon: float):
    """Fig. 10 of the pipeline: the first track's d0 of every model under uncapped FGSM.

    Parameters
    ----------
    inputs : sequence of str
        The samples table (``.parquet``).
    path : str or os.PathLike
        The output without a suffix.
    uncapped_epsilon : float
        ``evaluation.figures.uncapped_epsilon``.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the input is missing or the table lacks what the figure needs.
    """
    return plot_first_track_d0(_read_samples(inputs), uncapped_epsilon, path)
