"""The robustness scans: Fig. 9 (AUC drop against AUC) and Fig. 4 (cross attacks).

Fig. 9 puts one point per checkpoint, Fig. 4 is the paper's scheme in numbers
(cross attacks between the models), both from the ``auc`` table (``model, epoch, attack, attack_source,
epsilon, discriminator, auc, ..., selected``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..config import ordered_models
from ..errors import ResultsError
from .base import (
    AUC_COLUMNS,
    as_bool,
    discriminator_rows,
    epsilon_colours,
    epsilon_mask,
    epsilon_text,
    experiment_label,
    figure_style,
    model_colour,
    model_marker,
    model_marker_filled,
    model_rows,
    present_values,
    read_auc_table,
    require_columns,
    save_figure,
    selected_checkpoint,
    stored_auc,
)

_FIG4_DISCRIMINATOR = "CvsL"
_FIG9_DISCRIMINATOR = "BvsL"


# --------------------------------------------------------------------------
# Fig. 9: AUC drop against raw AUC, one point per checkpoint
# --------------------------------------------------------------------------


def _drop_epsilons(adv: pd.DataFrame, models: list[str], epsilons, attack: str, discriminator: str) -> list[float]:
    """Check the requested epsilons against the attacked AUCs; default: all of the models'.

    Raises
    ------
    ResultsError
        When the table has no ``attack`` rows at a requested epsilon.
    """
    if epsilons is None:
        return present_values(adv.loc[adv["model"].isin(models), "epsilon"])
    epsilons = [float(e) for e in epsilons]
    for eps in epsilons:
        if not epsilon_mask(adv["epsilon"], eps).any():
            raise ResultsError(
                f"auc table has no '{attack}' rows at epsilon {eps} for {discriminator}; "
                f"epsilons present: {present_values(adv['epsilon'])}"
            )
    return epsilons


def _auc_drop_points(table: pd.DataFrame, discriminator: str, attack: str, models, epsilons):
    """Pair, per checkpoint and epsilon, the raw AUC with the AUC under the self-crafted attack.

    Raises
    ------
    ResultsError
        When a model or an epsilon is absent, or no checkpoint has both a raw
        and a self-crafted AUC.
    """
    optional = [c for c in ("selected", "auc_err") if c in table]
    raw = table[table["attack"] == "raw"][["model", "epoch", "auc", *optional]]
    raw = raw.drop_duplicates(["model", "epoch"])
    adv = table[(table["attack"] == attack) & (table["attack_source"] == table["model"])]
    adv = adv[["model", "epoch", "epsilon", "auc", *(["relative_drop_err"] if "relative_drop_err" in adv else [])]]
    if models is None:
        models = ordered_models(adv["model"])
    else:
        for m in models:
            model_rows(table, m, "auc table")
        models = ordered_models(models)
    epsilons = _drop_epsilons(adv, models, epsilons, attack, discriminator)
    merged = adv.merge(raw, on=["model", "epoch"], suffixes=("_adv", "_raw"))
    merged = merged[merged["model"].isin(models)]
    if merged.empty:
        raise ResultsError(
            f"auc table has no checkpoint with both a raw and a self-crafted '{attack}' AUC for {discriminator}"
        )
    return merged, models, epsilons


def _draw_auc_drop(ax, merged: pd.DataFrame, models: list[str], epsilons: list[float], colours) -> None:
    for i, m in enumerate(models):
        marker = model_marker(m, i)
        for eps in epsilons:
            pts = merged[(merged["model"] == m) & epsilon_mask(merged["epsilon"], eps)]
            if pts.empty:
                continue
            x = pts["auc_raw"].to_numpy(float)
            y = (pts["auc_adv"] - pts["auc_raw"]).to_numpy(float)
            if {"auc_err", "relative_drop_err"} <= set(pts):  # statistical: the drop's paired error x raw AUC
                yerr = (pts["relative_drop_err"] * pts["auc_raw"]).to_numpy(float)
                ax.errorbar(
                    x,
                    y,
                    xerr=pts["auc_err"].to_numpy(float),
                    yerr=yerr,
                    fmt="none",
                    ecolor=colours[eps],
                    elinewidth=1,
                    alpha=0.6,
                    zorder=2,
                )
            ax.scatter(
                x,
                y,
                s=45,
                marker=marker,
                linewidths=1.4,
                edgecolors=[colours[eps]],
                facecolors=[colours[eps]] if model_marker_filled(m) else "none",
                zorder=3,
            )
            if "selected" in pts:
                sel = as_bool(pts["selected"])
                if sel.any():
                    ax.scatter(
                        x[sel],
                        y[sel],
                        s=220,
                        marker=marker,
                        facecolors="none",
                        edgecolors="black",
                        linewidths=1.6,
                        zorder=4,
                    )


def _auc_drop_legends(ax, merged: pd.DataFrame, models: list[str], epsilons: list[float], colours, attack: str):
    eps_handles = [Patch(color=colours[e], label=epsilon_text(e)) for e in epsilons]
    model_handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker=model_marker(m, i),
            markersize=9,
            markerfacecolor="0.3" if model_marker_filled(m) else "none",
            markeredgecolor="0.3",
            label=f"{m} training",
        )
        for i, m in enumerate(models)
    ]
    if "selected" in merged:
        model_handles.append(
            Line2D(
                [],
                [],
                linestyle="",
                marker="o",
                markersize=13,
                markerfacecolor="none",
                markeredgecolor="black",
                label="selected checkpoint",
            )
        )
    first = ax.legend(
        handles=eps_handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize="small",
        title=attack.upper(),
        title_fontsize="small",
    )
    ax.add_artist(first)
    ax.legend(
        handles=model_handles,
        loc="lower left",
        bbox_to_anchor=(1.02, 0.0),
        fontsize="small",
        title="one point per checkpoint",
        title_fontsize="small",
    )


def plot_auc_drop_vs_auc(
    auc: pd.DataFrame,
    discriminator: str,
    path: str | os.PathLike,
    *,
    epsilons: Sequence[float] | None = None,
    models: Sequence[str] | None = None,
    attack: str = "fgsm",
) -> tuple[Path, Path]:
    """Fig. 9: susceptibility against nominal performance, per checkpoint.

    x: raw AUC of each (model, epoch); y: AUC under the attack (crafted on that
    same model and checkpoint) minus the raw AUC. One colour per epsilon, one
    marker shape per model (nominal: open circles, adversarial: filled squares,
    as in the paper's open/filled markers). The selected checkpoints, when the
    table flags them, are ringed in black. Where the table has statistical
    errors (``auc_err``, ``relative_drop_err``) each point carries its error
    bars: the raw AUC's, and the paired error of the difference.

    Parameters
    ----------
    auc : pandas.DataFrame
        The AUC table (``selected`` optional).
    discriminator : str
        A name of :data:`robusttag.metrics.DISCRIMINATORS`.
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.
    epsilons : sequence of float, optional
        The epsilons shown (default: all in the table).
    models : sequence of str, optional
        The models shown (default: all in the table).
    attack : str
        The attack (default FGSM).

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the discriminator, a model or an epsilon is absent, no checkpoint
        has both AUCs, or the table lacks a column.
    """
    require_columns(auc, AUC_COLUMNS, "auc table")
    table = discriminator_rows(auc, discriminator)
    merged, models, epsilons = _auc_drop_points(table, discriminator, attack, models, epsilons)
    colours = epsilon_colours(epsilons)
    with figure_style():
        fig, ax = plt.subplots(figsize=(15, 10))
        _draw_auc_drop(ax, merged, models, epsilons, colours)
        ax.axhline(0.0, color="0.4", linewidth=1, linestyle=":")
        ax.set_xlabel(f"{discriminator} AUC (raw inputs)")
        ax.set_ylabel(f"{discriminator} AUC({attack.upper()}) $-$ AUC(raw)")
        ax.grid(True, alpha=0.3)
        _auc_drop_legends(ax, merged, models, epsilons, colours, attack)
        experiment_label(ax)
        fig.tight_layout()
        return save_figure(fig, path)  # inside the style: mathtext is laid out at draw time


def fig9_auc_drop(inputs: Sequence[str], path: str | os.PathLike):
    """Fig. 9 of the pipeline: BvsL, every model, checkpoint and epsilon.

    Parameters
    ----------
    inputs : sequence of str
        The AUC table (``.csv``).
    path : str or os.PathLike
        The output without a suffix.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the input is missing or the table lacks what the figure needs.
    """
    return plot_auc_drop_vs_auc(read_auc_table(inputs), _FIG9_DISCRIMINATOR, path)


# --------------------------------------------------------------------------
# Paper Fig. 4 scheme: cross attacks between the models
# --------------------------------------------------------------------------


def _cross_aucs(table: pd.DataFrame, models: list[str], discriminator: str, epsilon: float):
    """Each model's selected epoch, raw AUC, and AUC under FGSM crafted on each model.

    Raises
    ------
    ResultsError
        When a model or its selected epoch is absent, or the raw AUC or a
        (target, source) FGSM AUC at ``epsilon`` is missing.
    """
    epochs = {m: selected_checkpoint(table, m) for m in models}
    raw_auc: dict[str, float] = {}
    cross: dict[tuple[str, str], float] = {}
    for target in models:
        value = stored_auc(table, model=target, epoch=epochs[target], discriminator=discriminator, attack="raw")
        if value is None:
            raise ResultsError(f"auc table has no raw {discriminator} AUC for '{target}' at epoch {epochs[target]}")
        raw_auc[target] = value
        for source in models:
            value = stored_auc(
                table,
                model=target,
                epoch=epochs[target],
                discriminator=discriminator,
                attack="fgsm",
                source=source,
                epsilon=epsilon,
            )
            if value is None:
                raise ResultsError(
                    f"auc table has no FGSM {discriminator} AUC at epsilon {epsilon} for target '{target}' "
                    f"(epoch {epochs[target]}) with samples crafted on '{source}'"
                )
            cross[(target, source)] = value
    return epochs, raw_auc, cross


def _draw_cross_bars(ax, models, epochs, raw_auc, cross, discriminator: str, epsilon: float) -> None:
    """Draw grouped bars: each target model's AUC, raw and under FGSM from each source."""
    n_bars = 1 + len(models)
    width = 0.8 / n_bars
    x = np.arange(len(models))
    series = [("raw", "0.6", [raw_auc[t] for t in models])]
    series += [(f"FGSM from {s}", model_colour(s, j), [cross[(t, s)] for t in models]) for j, s in enumerate(models)]
    all_values = []
    for k, (name, colour, values) in enumerate(series):
        pos = x - 0.4 + width * (k + 0.5)
        hatch = None if k == 0 else "//"
        bars = ax.bar(
            pos, values, width=width * 0.95, color=colour, label=name, hatch=hatch, edgecolor="black", linewidth=0.8
        )
        # upright labels while they fit over their bars (two models), turned beside the narrower bars of more
        labels = [f"{v:.3f}" for v in values]
        ax.bar_label(bars, labels=labels, fontsize="x-small", padding=3, rotation=0 if n_bars <= 3 else 90)
        all_values.extend(values)
    legend_rows = -(-len(series) // 3)
    span = max(max(all_values) - min(all_values), 0.02)
    headroom = (0.9 if n_bars <= 3 else 1.2) + 0.35 * (legend_rows - 1)  # the labels and the legend above the bars
    ax.set_ylim(max(0.0, min(all_values) - 0.3 * span), max(all_values) + headroom * span)
    ax.set_xticks(x, [f"{t}\n(epoch {epochs[t]})" for t in models])
    ax.set_xlabel("evaluated model")
    ax.set_ylabel(f"{discriminator} AUC")
    ax.legend(
        fontsize="small",
        loc="upper right",
        ncol=min(len(series), 3),
        title=f"FGSM {epsilon_text(epsilon)}",
        title_fontsize="small",
    )
    experiment_label(ax)


def _draw_cross_grid(fig, ax, models, raw_auc, cross, discriminator: str, epsilon: float) -> None:
    """Draw the target x source grid of AUC(FGSM) - AUC(raw)."""
    grid = np.array([[cross[(t, s)] - raw_auc[t] for s in models] for t in models])
    bound = max(float(np.abs(grid).max()), 1e-6)
    # Diverging map centred on 0: red = AUC lost under the attack, blue = gained.
    image = ax.imshow(grid, cmap="RdBu", vmin=-bound, vmax=bound, aspect="equal")
    for (r, c), value in np.ndenumerate(grid):
        ax.text(
            c,
            r,
            f"{value:+.3f}\n(AUC {cross[(models[r], models[c])]:.3f})",
            ha="center",
            va="center",
            fontsize="small" if len(models) <= 2 else "x-small",
            color="white" if abs(value) > 0.6 * bound else "black",
        )
    ax.set_xticks(range(len(models)), models)
    ax.set_yticks(range(len(models)), models)
    ax.minorticks_off()
    ax.set_xlabel("FGSM crafted on")
    ax.set_ylabel("evaluated model")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="AUC(FGSM) $-$ AUC(raw)")
    ax.set_title(f"{discriminator}, {epsilon_text(epsilon)}", fontsize="medium")


def plot_cross_attacks(
    auc: pd.DataFrame,
    discriminator: str,
    epsilon: float,
    path: str | os.PathLike,
    *,
    models: Sequence[str] | None = None,
) -> tuple[Path, Path]:
    """Paper Fig. 4 in numbers: every model under FGSM crafted on every model.

    Uses each model's selected checkpoint (``selected`` column). Left: grouped
    bars of the AUC of each target model (the model evaluated) on raw inputs
    and on FGSM inputs at ``epsilon`` crafted on each source model. Right: the
    target x source grid (2x2 for two models) of AUC(FGSM) - AUC(raw). The
    diagonal is the white-box attack; off-diagonal cells are transferred attacks.

    Parameters
    ----------
    auc : pandas.DataFrame
        The AUC table, with its ``selected`` column.
    discriminator : str
        A name of :data:`robusttag.metrics.DISCRIMINATORS`.
    epsilon : float
        The FGSM size.
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.
    models : sequence of str, optional
        The models (default: all in the table, in the order of
        :data:`robusttag.config.MODES`).

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the discriminator, a model, its selected epoch, or a (target,
        source) combination at ``epsilon`` is absent, or the table lacks a column.
    """
    require_columns(auc, (*AUC_COLUMNS, "selected"), "auc table")
    table = discriminator_rows(auc, discriminator)
    models = ordered_models(table["model"] if models is None else models)
    epochs, raw_auc, cross = _cross_aucs(table, models, discriminator, epsilon)
    with figure_style():
        wider = 8 * (len(models) - 2)  # more bars and grid cells: room for their numbers
        size = (24 + wider, 10 + wider / 2)
        fig, (ax_bar, ax_grid) = plt.subplots(1, 2, figsize=size, gridspec_kw={"width_ratios": [1.5, 1]})
        _draw_cross_bars(ax_bar, models, epochs, raw_auc, cross, discriminator, epsilon)
        _draw_cross_grid(fig, ax_grid, models, raw_auc, cross, discriminator, epsilon)
        fig.tight_layout()
        return save_figure(fig, path)  # inside the style: mathtext is laid out at draw time


def fig4_cross_attacks(inputs: Sequence[str], path: str | os.PathLike, *, summary_epsilon: float):
    """Fig. 4 of the pipeline: CvsL cross attacks at the selected checkpoints.

    Parameters
    ----------
    inputs : sequence of str
        The AUC table (``.csv``).
    path : str or os.PathLike
        The output without a suffix.
    summary_epsilon : float
        ``evaluation.summary_epsilon``, the FGSM size.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the input is missing or the table lacks what the figure needs.
    """
    return plot_cross_attacks(read_auc_table(inputs), _FIG4_DISCRIMINATOR, summary_epsilon, path)
