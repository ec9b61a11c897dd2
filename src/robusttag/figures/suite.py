"""The strong attack suite's figures: AUC against eps per attack, the worst case per checkpoint, visibility.

``attack_suite_vs_epsilon`` draws the selected checkpoints of the ``auc`` table
under FGSM and every attack of the suite, with the certified lower bound of the
``certified`` table (``model, epoch, epsilon, discriminator, method, jets,
certified_auc, worst_attack_auc, ...``) as the lower edge of a band;
``worst_case_per_checkpoint`` the ``worst_case`` table (``model, epoch,
epsilon, discriminator, raw_auc, fgsm_auc, worst_auc, worst_attack, ...,
selected``); ``auc_lost_vs_visibility`` the ``visibility`` table (``model,
epoch, attack, epsilon, largest_ks, feature, ks_p_value_test_set,
mean_relative_w1, auc_lost``).
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
from matplotlib.ticker import PercentFormatter

from ..analysis.tables import white_box
from ..config import aimed_at, ordered_models
from ..errors import ResultsError
from .base import (
    AUC_COLUMNS,
    as_bool,
    epsilon_mask,
    epsilon_text,
    experiment_label,
    figure_style,
    input_file,
    model_colour,
    model_marker,
    model_marker_filled,
    present_values,
    read_table,
    require_columns,
    save_figure,
)

_PANELS = ("BvsL", "CvsL")  #: the discriminators drawn, as in Figs. 6 to 9
_CERTIFIED_COLUMNS = ("model", "epoch", "epsilon", "discriminator", "method", "jets", "certified_auc", "raw_auc")
_WORST_COLUMNS = ("model", "epoch", "epsilon", "discriminator", "raw_auc", "fgsm_auc", "worst_auc", "selected")
_VISIBILITY_COLUMNS = ("model", "epoch", "attack", "epsilon", "largest_ks", "auc_lost")


def _attack_order(attacks) -> list[str]:
    """FGSM first, then the suite by name, the targeted attacks last."""
    return sorted(set(attacks), key=lambda a: (a != "fgsm", aimed_at(a) is not None, a))


def _attack_colours(attacks: Sequence[str], *, one_targeted: bool) -> dict[str, str]:
    """One colour per attack, FGSM black; with ``one_targeted`` the targeted
    attacks (one per discriminator) share one colour.
    """

    def kind(attack: str) -> str:
        return "targeted" if one_targeted and aimed_at(attack) else attack

    kinds = list(dict.fromkeys(kind(a) for a in attacks if a != "fgsm"))
    colour = {k: f"C{i % 10}" for i, k in enumerate(kinds)}
    return {a: "black" if a == "fgsm" else colour[kind(a)] for a in attacks}


def _attack_text(attack: str) -> str:
    return attack.upper() if attack in ("fgsm", "pgd", "ngm") else attack.replace("_", " ")


# --------------------------------------------------------------------------
# AUC against eps per attack, with the certified bound
# --------------------------------------------------------------------------


def _selected_attacks(auc: pd.DataFrame) -> pd.DataFrame:
    """The white-box attacks at each model's selected checkpoint.

    Raises
    ------
    ResultsError
        When no row is flagged as selected or none is an attack.
    """
    require_columns(auc, (*AUC_COLUMNS, "selected"), "auc table")
    rows = white_box(auc[as_bool(auc["selected"])])
    if rows.empty:
        raise ResultsError("auc table has no white-box attack at a selected checkpoint")
    return rows


def _draw_suite_panel(ax, rows: pd.DataFrame, raw_auc: float, bound: pd.DataFrame, colours) -> None:
    """One (model, discriminator): the AUC change against eps per attack, and the certified band.

    Every curve is drawn against the raw AUC of its own jets: the attacks on
    the whole test set, the certified bound on its first jets, so that the
    bound's subset and the full set compare.
    """
    for attack in _attack_order(rows["attack"]):
        curve = rows[rows["attack"] == attack].sort_values("epsilon")
        ax.plot(
            curve["epsilon"],
            curve["auc"] - raw_auc,
            marker="o",
            color=colours[attack],
            linewidth=2,
            label=_attack_text(attack),
        )
    ax.axhline(0.0, color="0.4", linestyle=":", linewidth=1.5)
    if not bound.empty:
        bound = bound.sort_values("epsilon")
        method, jets = bound["method"].iloc[0], int(bound["jets"].iloc[0])
        ax.fill_between(
            bound["epsilon"],
            bound["certified_auc"] - bound["raw_auc"],
            bound["worst_attack_auc"] - bound["raw_auc"],
            color="0.5",
            alpha=0.25,
            label=f"worst case lies here ({jets} jets)",
        )
        ax.plot(
            bound["epsilon"],
            bound["certified_auc"] - bound["raw_auc"],
            color="0.2",
            linewidth=2.5,
            linestyle="--",
            label=f"certified bound ({method.upper()})",
        )


def plot_attack_suite_vs_epsilon(
    auc: pd.DataFrame, certified: pd.DataFrame, path: str | os.PathLike, seeds: pd.DataFrame | None = None
) -> tuple[Path, Path]:
    """AUC lost against eps under every white-box attack, nominal against adversarial.

    One row of panels per discriminator (BvsL, CvsL), one column per model, at
    each model's selected checkpoint; within a row the y axes are shared. Each
    attack is one curve of AUC(attack) - AUC(raw) on the whole test set (a
    targeted attack only on its own discriminator). The grey band reaches from
    the certified lower bound (dashed) up to the lowest attack AUC, both on the
    bound's first test jets and against those jets' raw AUC: the true worst
    case lies inside it. With ``seeds`` (the AUC table of every training seed)
    a green band spans FGSM's AUC change over the seeds, each at its selected
    checkpoint.

    Parameters
    ----------
    auc : pandas.DataFrame
        The AUC table, with its ``selected`` column.
    certified : pandas.DataFrame
        The certified table (may be empty: no band is drawn).
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the tables lack a column, or no white-box attack is at a selected checkpoint.
    """
    attacked = _selected_attacks(auc)
    if len(certified):
        require_columns(certified, (*_CERTIFIED_COLUMNS, "worst_attack_auc"), "certified table")
    models = ordered_models(attacked["model"])
    colours = _attack_colours(_attack_order(attacked["attack"]), one_targeted=True)
    selected = auc[as_bool(auc["selected"])]
    with figure_style():
        fig, axes = plt.subplots(
            len(_PANELS), len(models), figsize=(12 * len(models), 9 * len(_PANELS)), sharey="row", squeeze=False
        )
        for r, disc in enumerate(_PANELS):
            for c, model in enumerate(models):
                ax = axes[r][c]
                rows = attacked[(attacked["model"] == model) & (attacked["discriminator"] == disc)]
                raw = selected[(selected["model"] == model) & (selected["discriminator"] == disc)]
                raw = raw.loc[raw["attack"] == "raw", "auc"]
                bound = (
                    certified[(certified["model"] == model) & (certified["discriminator"] == disc)]
                    if len(certified)
                    else certified
                )
                if rows.empty or raw.empty:
                    raise ResultsError(
                        f"auc table has no raw and attacked {disc} AUCs at {model}'s selected checkpoint"
                    )
                if seeds is not None:
                    _fgsm_seed_band(ax, seeds, model, disc, _SEED_BAND_COLOUR)
                _draw_suite_panel(ax, rows, float(raw.iloc[0]), bound, colours)
                epoch = int(rows["epoch"].iloc[0])
                ax.set_xscale("log")
                ax.set_xlabel(r"$\epsilon$ (standardised units)")
                ax.set_ylabel(f"{disc} AUC(attack) $-$ AUC(raw)")
                ax.grid(True, alpha=0.3)
                ax.legend(
                    fontsize="x-small",
                    loc="lower left",
                    ncol=2,
                    title=f"{model}, epoch {epoch}",
                    title_fontsize="small",
                )
                experiment_label(ax, disc)
        fig.tight_layout()
        return save_figure(fig, path)  # inside the style: mathtext is laid out at draw time


_SEED_BAND_COLOUR = "tab:green"  #: FGSM is drawn black, the certified bracket grey


def _fgsm_seed_band(ax, seeds: pd.DataFrame, model: str, disc: str, colour) -> None:
    """The range over the training seeds of AUC(FGSM) - AUC(raw) against eps (drawn with two seeds or more)."""
    chosen = seeds[as_bool(seeds["selected"]) & (seeds["model"] == model) & (seeds["discriminator"] == disc)]
    raw = chosen[chosen["attack"] == "raw"].set_index("seed")["auc"]
    fgsm = chosen[(chosen["attack"] == "fgsm") & (chosen["attack_source"] == model)]
    if raw.size < 2 or fgsm.empty:
        return
    lost = fgsm.assign(lost=fgsm["auc"].to_numpy() - raw.reindex(fgsm["seed"]).to_numpy())
    spread = lost.groupby("epsilon")["lost"].agg(["min", "max"]).sort_index()
    label = f"FGSM: range over {raw.size} seeds"
    ax.fill_between(spread.index, spread["min"], spread["max"], color=colour, alpha=0.2, linewidth=0, label=label)


def attack_suite_vs_epsilon(inputs: Sequence[str], path: str | os.PathLike):
    """The pipeline's figure: every attack against eps at the selected checkpoints.

    Parameters
    ----------
    inputs : sequence of str
        The AUC table (``auc.csv``) and the certified table (``certified.csv``).
    path : str or os.PathLike
        The output without a suffix.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When an input is missing or a table lacks what the figure needs.
    """
    every_seed = pd.read_csv(input_file(inputs, "auc.csv", "auc table"))
    seeds = every_seed if "seed" in every_seed else None
    return plot_attack_suite_vs_epsilon(read_table(inputs, "auc"), read_table(inputs, "certified"), path, seeds)


# --------------------------------------------------------------------------
# The worst case per checkpoint against the raw AUC
# --------------------------------------------------------------------------


def _worst_rows(worst: pd.DataFrame, epsilon: float) -> pd.DataFrame:
    """The worst-case rows at ``epsilon`` (where the suite ran at every checkpoint of its list).

    Raises
    ------
    ResultsError
        When the table lacks a column or has no row at ``epsilon``.
    """
    require_columns(worst, _WORST_COLUMNS, "worst_case table")
    rows = worst[epsilon_mask(worst["epsilon"], epsilon)]
    if rows.empty:
        raise ResultsError(
            f"worst_case table has no row at epsilon {epsilon}; epsilons present: {present_values(worst['epsilon'])}"
        )
    return rows


def _draw_worst_panel(ax, rows: pd.DataFrame, models: list[str]) -> None:
    """Per checkpoint: the FGSM drop (small, grey) joined to the worst-case drop (the model's marker)."""
    for i, model in enumerate(models):
        pts = rows[rows["model"] == model].sort_values("epoch")
        if pts.empty:
            continue
        x = pts["raw_auc"].to_numpy(float)
        worst = (pts["worst_auc"] - pts["raw_auc"]).to_numpy(float)
        fgsm = (pts["fgsm_auc"] - pts["raw_auc"]).to_numpy(float)
        colour, marker = model_colour(model, i), model_marker(model, i)
        ax.vlines(x, fgsm, worst, colors=colour, linewidth=1.2, alpha=0.6, zorder=2)
        ax.scatter(x, fgsm, s=35, marker=marker, facecolors="none", edgecolors="0.45", zorder=3)
        ax.scatter(
            x,
            worst,
            s=70,
            marker=marker,
            edgecolors=colour,
            facecolors=colour if model_marker_filled(model) else "none",
            linewidths=1.6,
            zorder=3,
        )
        for xi, yi, epoch in zip(x, worst, pts["epoch"]):
            ax.annotate(str(int(epoch)), (xi, yi), textcoords="offset points", xytext=(6, -12), fontsize="x-small")
        sel = as_bool(pts["selected"])
        if sel.any():
            ax.scatter(x[sel], worst[sel], s=260, marker=marker, facecolors="none", edgecolors="black", zorder=4)


def _worst_legend(ax, models: list[str], epsilon: float) -> None:
    handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker=model_marker(m, i),
            markersize=9,
            markeredgecolor=model_colour(m, i),
            markerfacecolor=model_colour(m, i) if model_marker_filled(m) else "none",
            label=f"{m}: worst case",
        )
        for i, m in enumerate(models)
    ]
    handles.append(
        Line2D(
            [],
            [],
            linestyle="",
            marker="o",
            markersize=7,
            markeredgecolor="0.45",
            markerfacecolor="none",
            label="FGSM, same checkpoint",
        )
    )
    handles.append(
        Line2D(
            [],
            [],
            linestyle="",
            marker="o",
            markersize=14,
            markeredgecolor="black",
            markerfacecolor="none",
            label="selected checkpoint",
        )
    )
    ax.legend(handles=handles, fontsize="small", loc="best", title=epsilon_text(epsilon), title_fontsize="small")


def plot_worst_case_per_checkpoint(worst: pd.DataFrame, epsilon: float, path: str | os.PathLike) -> tuple[Path, Path]:
    """The worst-case AUC lost per checkpoint against its raw AUC (a Fig. 9 of the suite).

    One panel per discriminator (BvsL, CvsL). Each checkpoint where the suite
    ran at ``epsilon`` is one point, labelled with its epoch: y is the worst
    AUC over FGSM and the suite minus the raw AUC; a line joins it to the same
    checkpoint's FGSM drop (small open grey marker), so the line's length is
    what FGSM alone misses.

    Parameters
    ----------
    worst : pandas.DataFrame
        The worst-case table.
    epsilon : float
        The attack size (``evaluation.summary_epsilon``: the per-checkpoint suite runs there).
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the table lacks a column or has no row at ``epsilon``.
    """
    rows = _worst_rows(worst, epsilon)
    models = ordered_models(rows["model"])
    with figure_style():
        fig, axes = plt.subplots(1, len(_PANELS), figsize=(12 * len(_PANELS), 10))
        for ax, disc in zip(axes, _PANELS):
            _draw_worst_panel(ax, rows[rows["discriminator"] == disc], models)
            ax.axhline(0.0, color="0.4", linewidth=1, linestyle=":")
            ax.set_xlabel(f"{disc} AUC (raw inputs)")
            ax.set_ylabel(f"{disc} AUC(worst case) $-$ AUC(raw)")
            ax.grid(True, alpha=0.3)
            _worst_legend(ax, models, epsilon)
            experiment_label(ax, disc)
        fig.tight_layout()
        return save_figure(fig, path)


def worst_case_per_checkpoint(inputs: Sequence[str], path: str | os.PathLike, *, summary_epsilon: float):
    """The pipeline's figure: the worst case per checkpoint at ``evaluation.summary_epsilon``.

    Parameters
    ----------
    inputs : sequence of str
        The worst-case table (``worst_case.csv``).
    path : str or os.PathLike
        The output without a suffix.
    summary_epsilon : float
        ``evaluation.summary_epsilon``.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the input is missing or the table lacks what the figure needs.
    """
    return plot_worst_case_per_checkpoint(read_table(inputs, "worst_case"), summary_epsilon, path)


# --------------------------------------------------------------------------
# AUC lost against visibility
# --------------------------------------------------------------------------


def _eps_sizes(epsilons: Sequence[float]) -> dict[float, float]:
    """Marker areas growing with eps, from 40 to 320."""
    return {e: 40 + 280 * i / max(len(epsilons) - 1, 1) for i, e in enumerate(epsilons)}


_INVISIBLE, _INVISIBLE_COLOUR = "invisible_", "#17becf"  #: the invisible attacks' names and colour
_VISIBILITY_AXES = {
    "largest_ks": "largest KS distance over the inputs",
    "mean_relative_w1": "mean Wasserstein-1 distance / raw spread",
}


def _draw_visibility_panel(ax, visibility: pd.DataFrame, x: str, models, attacks, colours, sizes) -> None:
    """One point per (model, attack, eps) at (visibility measure ``x``, AUC lost); each (model, attack) joined."""
    for i, model in enumerate(models):
        for attack in attacks:
            pts = visibility[(visibility["model"] == model) & (visibility["attack"] == attack)].sort_values("epsilon")
            if pts.empty:
                continue
            colour = colours[attack]
            style = "-" if model_marker_filled(model) else "--"
            ax.plot(pts[x], pts["auc_lost"], color=colour, linewidth=1, alpha=0.5, linestyle=style)
            ax.scatter(
                pts[x],
                pts["auc_lost"],
                s=[sizes[e] for e in pts["epsilon"]],
                marker=model_marker(model, i),
                edgecolors=colour,
                facecolors=colour if model_marker_filled(model) else "none",
                linewidths=1.5,
                zorder=3,
            )
    ax.set_xlabel(_VISIBILITY_AXES[x])
    ax.set_ylabel("largest relative AUC drop")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(True, alpha=0.3)
    experiment_label(ax)


def _visibility_legends(ax, models, attacks, colours, sizes) -> None:
    handles = [Patch(color=colours[a], label=_attack_text(a)) for a in attacks if not a.startswith(_INVISIBLE)]
    if len(handles) < len(attacks):
        handles.append(Patch(color=_INVISIBLE_COLOUR, label="invisible"))
    attack_legend = ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize="small",
        title="attack",
        title_fontsize="small",
    )
    ax.add_artist(attack_legend)
    model_handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker=model_marker(m, i),
            markersize=9,
            markeredgecolor="0.3",
            markerfacecolor="0.3" if model_marker_filled(m) else "none",
            label=m,
        )
        for i, m in enumerate(models)
    ]
    size_handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker="o",
            markersize=np.sqrt(s),
            markeredgecolor="0.3",
            markerfacecolor="none",
            label=epsilon_text(e),
        )
        for e, s in sizes.items()
    ]
    ax.legend(
        handles=model_handles + size_handles,
        loc="lower left",
        bbox_to_anchor=(1.02, 0.0),
        fontsize="small",
        title="model, size",
        title_fontsize="small",
    )


def plot_auc_lost_vs_visibility(
    visibility: pd.DataFrame, path: str | os.PathLike, shifted: pd.DataFrame | None = None
) -> tuple[Path, Path]:
    """AUC lost against how visible the attack is in the inputs, one point per (model, attack, eps).

    y: the largest relative AUC drop over the discriminators the attack is
    measured on. x, left: the largest Kolmogorov-Smirnov distance between raw
    and attacked test inputs over every input; right: the Wasserstein-1
    distance in units of each input's raw spread, averaged over the inputs.
    Colour: the attack; marker: the model (open for nominal, filled
    otherwise); size: eps. The points of one (model, attack) are joined in eps
    order.

    With ``shifted`` (``shifted_visibility.csv``), each model's AUC lost on every shifted
    sample is drawn on the same axes (stars, the sample named at the nominal model's):
    real mismodelling and attacks on one scale.

    Parameters
    ----------
    visibility : pandas.DataFrame
        The visibility table (``mean_relative_w1`` as well as the columns above).
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the table lacks a column or is empty.
    """
    require_columns(visibility, (*_VISIBILITY_COLUMNS, "mean_relative_w1"), "visibility table")
    if visibility.empty:
        raise ResultsError("visibility table is empty: no attack's visibility was measured")
    models = ordered_models(visibility["model"])
    attacks = _attack_order(visibility["attack"])
    # the invisible attacks (one per discriminator, at one eps) share a colour of their own
    visible = [a for a in attacks if not a.startswith(_INVISIBLE)]
    colours = _attack_colours(visible, one_targeted=False) | {a: _INVISIBLE_COLOUR for a in attacks if a not in visible}
    sizes = _eps_sizes(sorted(visibility["epsilon"].unique()))
    with figure_style():
        fig, axes = plt.subplots(1, 2, figsize=(26, 10), sharey=True)
        for ax, x in zip(axes, _VISIBILITY_AXES):
            _draw_visibility_panel(ax, visibility, x, models, attacks, colours, sizes)
            if shifted is not None and len(shifted):
                _draw_shifted_points(ax, shifted, x, models)
        axes[1].set_xscale("log")  # the mean distance grows with eps over a decade
        _visibility_legends(axes[1], models, attacks, colours, sizes)
        fig.tight_layout()
        _place_sample_names(fig, axes)
        return save_figure(fig, path)


def auc_lost_vs_visibility(inputs: Sequence[str], path: str | os.PathLike):
    """The pipeline's figure: AUC lost against the largest KS distance at the selected checkpoints.

    Parameters
    ----------
    inputs : sequence of str
        The visibility table (``visibility.csv``).
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
    shifted = [p for p in inputs if str(p).endswith("shifted_visibility.csv")]
    return plot_auc_lost_vs_visibility(
        read_table([p for p in inputs if p not in shifted], "visibility"),
        path,
        read_table(shifted, "shifted_visibility") if shifted else None,
    )


def _draw_shifted_points(ax, shifted: pd.DataFrame, x: str, models) -> None:
    """Stars: each model on each shifted sample (selected checkpoints), the samples named at the first model's."""
    for i, model in enumerate(models):
        pts = shifted[shifted["model"] == model]
        colour = model_colour(model, i)
        ax.scatter(
            pts[x],
            pts["auc_lost"],
            s=300,
            marker="*",
            edgecolors=colour,
            linewidths=1.5,
            zorder=4,
            facecolors=colour if model_marker_filled(model) else "none",
            label=f"{model}: shifted samples",
        )
        if i == 0:
            for r in pts.itertuples(index=False):
                ax.annotate(
                    r.sample,
                    (getattr(r, x), r.auc_lost),
                    xytext=(6, 6),
                    textcoords="offset points",
                    fontsize="x-small",
                    gid=_SAMPLE_NAME,
                )


_SAMPLE_NAME = "shifted sample's name"  #: the gid of the names at the stars (the layout check names them so)


def _place_sample_names(fig, axes) -> None:
    """Turn each sample's name towards the middle of its panel, and lift a name off another it would run into.

    Drawn right of a star in the right half of a panel, a name ran out of it (into the legends beside the
    right panel); the names of stars close together ran into each other. Only where the names sit changes.
    """
    fig.draw_without_rendering()  # the final limits and layout
    renderer = fig.canvas.get_renderer()
    gap = 2.0  # points between two names, one lifted above the other
    for ax in axes:
        names = [text for text in ax.texts if text.get_gid() == _SAMPLE_NAME]
        for name in names:
            if ax.transAxes.inverted().transform(ax.transData.transform(name.xy))[0] > 0.5:
                name.set_horizontalalignment("right")
                name.xyann = (-name.xyann[0], name.xyann[1])
        placed = []
        for name in sorted(names, key=lambda text: ax.transData.transform(text.xy)[1]):
            box = name.get_window_extent(renderer)
            while (below := next((other for other in placed if box.overlaps(other)), None)) is not None:
                name.xyann = (name.xyann[0], name.xyann[1] + (below.y1 - box.y0) * 72 / fig.dpi + gap)
                box = name.get_window_extent(renderer)
            placed.append(box)
