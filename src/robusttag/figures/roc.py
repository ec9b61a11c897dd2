"""The ROC-type figures: Figs. 6 (epsilons), 7 (checkpoints) and 8 (nominal vs adversarial).

Fig. 6 shows one checkpoint under several epsilons, Fig. 7 several
checkpoints, Fig. 8 the nominal against the adversarial model.

All three draw one panel per discriminator, signal efficiency on x against
background mistag rate on a log y axis (1e-3 to 1), from the stored curves of
the ``roc`` table (``model, epoch, attack, attack_source, epsilon,
discriminator, efficiency, mistag``); an optional ``auc`` table adds the stored
AUC values to the legends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ..analysis.tables import reference_rows
from ..config import ordered_models
from ..errors import ResultsError
from .base import (
    AUC_COLUMNS,
    MODEL_ATTACK_STYLE,
    as_bool,
    check_discriminators,
    discriminator_flavours,
    epsilon_colours,
    epsilon_mask,
    epsilon_text,
    experiment_label,
    figure_style,
    input_file,
    model_colour,
    model_rows,
    present_values,
    read_auc_table,
    require_columns,
    save_figure,
    selected_checkpoint,
    spread_checkpoints,
    stored_auc,
    studied_model,
)

_ROC_COLUMNS = ("model", "epoch", "attack", "attack_source", "epsilon", "discriminator", "efficiency", "mistag")
_PANELS = ("BvsL", "CvsL")  #: the discriminators of Figs. 6 to 8, as in the paper

# --------------------------------------------------------------------------
# The shared preamble: curve and AUC lookup, axes
# --------------------------------------------------------------------------


def _check_epoch(df: pd.DataFrame, model: str, epoch: int, what: str) -> pd.DataFrame:
    sub = model_rows(df, model, what)
    sub = sub[sub["epoch"] == int(epoch)]
    if sub.empty:
        epochs = present_values(df.loc[df["model"] == model, "epoch"])
        raise ResultsError(f"{what} has no rows for model '{model}' at epoch {epoch}; epochs present: {epochs}")
    return sub


def _check_tables(roc: pd.DataFrame, discriminators: Sequence[str], auc: pd.DataFrame | None) -> None:
    require_columns(roc, _ROC_COLUMNS, "roc table")
    check_discriminators(discriminators)
    if auc is not None:
        require_columns(auc, AUC_COLUMNS, "auc table")


def _missing_curve_message(
    sel: pd.DataFrame,
    model: str,
    epoch: int,
    discriminator: str,
    attack: str,
    source: str | None,
    epsilon: float | None,
) -> str:
    if attack == "raw":
        detail = "no raw curve"
    else:
        have = sel[(sel["attack"] == attack) & (sel["attack_source"] == (source or model))]
        detail = (
            f"no '{attack}' curve crafted on '{source or model}' at epsilon {epsilon}; "
            f"epsilons present for this attack: {present_values(have['epsilon'])}"
        )
    return f"roc table: model '{model}', epoch {epoch}, {discriminator}: {detail}"


def _roc_curve(
    roc: pd.DataFrame,
    *,
    model: str,
    epoch: int,
    discriminator: str,
    attack: str = "raw",
    source: str | None = None,
    epsilon: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(efficiency, mistag) of one stored curve, sorted by efficiency.

    Raises
    ------
    ResultsError
        When the model, the epoch or the discriminator is absent from ``roc``, or
        there is no curve for the attack, its source and epsilon.
    """
    sel = _check_epoch(roc, model, epoch, "roc table")
    sel = sel[sel["discriminator"] == discriminator]
    if sel.empty:
        raise ResultsError(
            f"roc table has no '{discriminator}' curve for model '{model}' at epoch {epoch}; "
            f"discriminators present: {present_values(roc['discriminator'])}"
        )
    pool = sel[sel["attack"] == attack]
    if attack != "raw":
        pool = pool[pool["attack_source"] == (model if source is None else source)]
        if epsilon is not None:
            pool = pool[epsilon_mask(pool["epsilon"], epsilon)]
    if pool.empty:
        raise ResultsError(_missing_curve_message(sel, model, epoch, discriminator, attack, source, epsilon))
    pool = pool.sort_values("efficiency", kind="stable")
    return pool["efficiency"].to_numpy(dtype=float), pool["mistag"].to_numpy(dtype=float)


def _raw_and_fgsm(roc: pd.DataFrame, model: str, epoch: int, disc: str, epsilon: float):
    """Look up the raw curve and the curve under FGSM at ``epsilon`` crafted on the same checkpoint."""
    return (
        _roc_curve(roc, model=model, epoch=epoch, discriminator=disc),
        _roc_curve(roc, model=model, epoch=epoch, discriminator=disc, attack="fgsm", epsilon=epsilon),
    )


def _raw_and_fgsm_auc(auc: pd.DataFrame | None, model: str, epoch: int, disc: str, epsilon: float):
    return (
        stored_auc(auc, model=model, epoch=epoch, discriminator=disc, attack="raw"),
        stored_auc(auc, model=model, epoch=epoch, discriminator=disc, attack="fgsm", epsilon=epsilon),
    )


def _with_auc(text: str, value: float | None) -> str:
    return text if value is None else f"{text} (AUC {value:.3f})"


def _setup_roc_axis(ax, discriminator: str, ymin: float = 1e-3) -> None:
    signal, background = discriminator_flavours(discriminator)
    ax.set_yscale("log")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(ymin, 1.0)
    ax.set_xlabel(f"{signal}-jet efficiency")
    ax.set_ylabel(f"{background}-jet mistag rate")
    ax.grid(True, which="major", alpha=0.3)


def _roc_panels(
    discriminators: Sequence[str], path: str | os.PathLike, draw: Callable[[object, str], tuple[dict, str]]
) -> tuple[Path, Path]:
    """Draw one ROC panel per discriminator, side by side, and save the figure.

    ``draw(ax, disc)`` draws the curves and returns the legend's keywords and
    the label above the right edge of the axes.
    """
    with figure_style():
        fig, axes = plt.subplots(1, len(discriminators), figsize=(10 * len(discriminators), 10), squeeze=False)
        for ax, disc in zip(axes.flat, discriminators):
            legend, rlabel = draw(ax, disc)
            _setup_roc_axis(ax, disc)
            ax.legend(**legend)
            experiment_label(ax, rlabel=rlabel)
        fig.tight_layout()
        return save_figure(fig, path)  # inside the style: mathtext is laid out at draw time


def _read_roc_auc(inputs: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Read the ROC and AUC tables of the pipeline, and each model's selected epoch."""
    auc = read_auc_table(inputs)
    roc = reference_rows(pd.read_parquet(input_file(inputs, ".parquet", "ROC table")))
    require_columns(auc, (*AUC_COLUMNS, "selected"), "auc table")
    selected = {m: selected_checkpoint(auc, m) for m in ordered_models(auc["model"].unique())}
    return roc, auc, selected


def _selected_of(selected: Mapping[str, int], model: str) -> int:
    if model not in selected:
        raise ResultsError(f"auc table has no rows for model '{model}'; models present: {list(selected)}")
    return selected[model]


# --------------------------------------------------------------------------
# Fig. 6: ROC curves for several epsilons
# --------------------------------------------------------------------------


def plot_roc_vs_epsilon(
    roc: pd.DataFrame,
    model: str,
    epoch: int,
    epsilons: Sequence[float],
    path: str | os.PathLike,
    *,
    discriminators: Sequence[str] = _PANELS,
    auc: pd.DataFrame | None = None,
) -> tuple[Path, Path]:
    """Fig. 6: ROC curves of one checkpoint, raw and under FGSM of several sizes.

    One panel per discriminator (default BvsL left, CvsL right). The raw curve
    is solid black; one coloured curve per epsilon for FGSM crafted on the same
    model (``attack_source == model``).

    Parameters
    ----------
    roc : pandas.DataFrame
        The ROC table.
    model : str
        The model shown.
    epoch : int
        Its checkpoint.
    epsilons : sequence of float
        The FGSM sizes, one curve each.
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.
    discriminators : sequence of str
        The panels, names of :data:`robusttag.metrics.DISCRIMINATORS`.
    auc : pandas.DataFrame, optional
        The AUC table; its values are added to the legend.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When the model, epoch, a discriminator or an epsilon is absent from ``roc``,
        or a table lacks a column.
    """
    _check_tables(roc, discriminators, auc)
    epsilons = [float(e) for e in epsilons]
    # Gather everything first, so a missing curve fails before any drawing.
    curves = {
        disc: (
            _roc_curve(roc, model=model, epoch=epoch, discriminator=disc),
            {
                eps: _roc_curve(roc, model=model, epoch=epoch, discriminator=disc, attack="fgsm", epsilon=eps)
                for eps in epsilons
            },
        )
        for disc in discriminators
    }
    colours = epsilon_colours(epsilons)

    def draw(ax, disc):
        (eff, mis), attacked = curves[disc]
        value = stored_auc(auc, model=model, epoch=epoch, discriminator=disc, attack="raw")
        ax.plot(eff, mis, color="black", linewidth=2.2, label=_with_auc("raw", value))
        for eps in epsilons:
            e, m = attacked[eps]
            value = stored_auc(auc, model=model, epoch=epoch, discriminator=disc, attack="fgsm", epsilon=eps)
            ax.plot(e, m, color=colours[eps], linewidth=2.0, label=_with_auc(f"FGSM {epsilon_text(eps)}", value))
        legend = {
            "loc": "lower right",
            "fontsize": "small",
            "title": f"{disc}, {model} model",
            "title_fontsize": "small",
        }
        return legend, f"epoch {epoch}"

    return _roc_panels(discriminators, path, draw)


def fig6_roc_vs_epsilon(inputs: Sequence[str], path: str | os.PathLike, *, epsilons: Sequence[float]):
    """Fig. 6 of the pipeline: the nominal model's selected checkpoint at every epsilon.

    Parameters
    ----------
    inputs : sequence of str
        The ROC table (``.parquet``) and the AUC table (``.csv``).
    path : str or os.PathLike
        The output without a suffix.
    epsilons : sequence of float
        ``evaluation.epsilons``.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When an input is missing or a table lacks what the figure needs.
    """
    roc, auc, selected = _read_roc_auc(inputs)
    model = studied_model(auc["model"])
    return plot_roc_vs_epsilon(roc, model, _selected_of(selected, model), epsilons, path, auc=auc)


# --------------------------------------------------------------------------
# Fig. 7: ROC curves per checkpoint
# --------------------------------------------------------------------------


def plot_roc_per_checkpoint(
    roc: pd.DataFrame,
    model: str,
    epochs: Sequence[int],
    epsilon: float,
    path: str | os.PathLike,
    *,
    discriminators: Sequence[str] = _PANELS,
    auc: pd.DataFrame | None = None,
) -> tuple[Path, Path]:
    """Fig. 7: ROC curves at several checkpoints, raw (solid) and FGSM (dashed).

    One panel per discriminator (default BvsL, CvsL). Each epoch gets its own
    colour (light to dark with training time); the solid line is the raw
    performance, the dashed one the performance on FGSM inputs at ``epsilon``
    crafted on that same checkpoint.

    Parameters
    ----------
    roc : pandas.DataFrame
        The ROC table.
    model : str
        The model shown.
    epochs : sequence of int
        Its checkpoints, one colour each.
    epsilon : float
        The FGSM size.
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.
    discriminators : sequence of str
        The panels, names of :data:`robusttag.metrics.DISCRIMINATORS`.
    auc : pandas.DataFrame, optional
        The AUC table; the legend then quotes raw / FGSM AUC per epoch.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When no epoch is given, or the model, an epoch, a discriminator or the
        epsilon is absent from ``roc``, or a table lacks a column.
    """
    _check_tables(roc, discriminators, auc)
    epochs = sorted(int(e) for e in epochs)
    if not epochs:
        raise ResultsError("epochs must hold at least one epoch")
    curves = {(disc, ep): _raw_and_fgsm(roc, model, ep, disc, epsilon) for disc in discriminators for ep in epochs}
    cmap = plt.get_cmap("viridis")
    colours = {ep: cmap(0.9 * (1 - i / max(len(epochs) - 1, 1))) for i, ep in enumerate(epochs)}

    def draw(ax, disc):
        handles = []
        for ep in epochs:
            (e0, m0), (e1, m1) = curves[(disc, ep)]
            ax.plot(e0, m0, color=colours[ep], linewidth=2.0, linestyle="-")
            ax.plot(e1, m1, color=colours[ep], linewidth=2.0, linestyle="--")
            text = f"epoch {ep}"
            a_raw, a_adv = _raw_and_fgsm_auc(auc, model, ep, disc, epsilon)
            if a_raw is not None and a_adv is not None:
                text += f" (AUC {a_raw:.3f} / {a_adv:.3f})"
            handles.append(Line2D([], [], color=colours[ep], linewidth=2.0, label=text))
        handles.append(Line2D([], [], color="0.3", linestyle="-", label="raw"))
        handles.append(Line2D([], [], color="0.3", linestyle="--", label=f"FGSM {epsilon_text(epsilon)}"))
        legend = {
            "handles": handles,
            "loc": "lower right",
            "fontsize": "x-small",
            "title": f"{disc}, {model} model",
            "title_fontsize": "small",
        }
        return legend, ""

    return _roc_panels(discriminators, path, draw)


def fig7_roc_per_checkpoint(
    inputs: Sequence[str], path: str | os.PathLike, *, summary_epsilon: float, checkpoints: int
):
    """Fig. 7 of the pipeline: the nominal model at checkpoints spread in log(epoch).

    Parameters
    ----------
    inputs : sequence of str
        The ROC table (``.parquet``) and the AUC table (``.csv``).
    path : str or os.PathLike
        The output without a suffix.
    summary_epsilon : float
        ``evaluation.summary_epsilon``, the FGSM size.
    checkpoints : int
        ``evaluation.figures.checkpoints``: how many of the scanned checkpoints
        are drawn (see :func:`spread_checkpoints`); the selected one always is.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When an input is missing or a table lacks what the figure needs.
    """
    roc, auc, selected = _read_roc_auc(inputs)
    model = studied_model(auc["model"])
    scanned = auc.loc[auc["model"] == model, "epoch"].unique()
    epochs = spread_checkpoints(scanned, checkpoints, _selected_of(selected, model))
    return plot_roc_per_checkpoint(roc, model, epochs, summary_epsilon, path, auc=auc)


# --------------------------------------------------------------------------
# Fig. 8: nominal vs adversarial model
# --------------------------------------------------------------------------


def plot_roc_nominal_vs_adversarial(
    roc: pd.DataFrame,
    epochs: Mapping[str, int],
    epsilon: float,
    path: str | os.PathLike,
    *,
    discriminators: Sequence[str] = _PANELS,
    auc: pd.DataFrame | None = None,
    seeds: Mapping[str, Mapping[int, int]] | None = None,
) -> tuple[Path, Path]:
    """Fig. 8: ROC curves of the nominal and the adversarial model.

    One panel per discriminator. Each model has one colour (nominal blue,
    adversarial orange); the solid line is raw performance, the broken line the
    performance on FGSM inputs at ``epsilon`` crafted on that model itself
    (dashed for nominal, dash-dotted for adversarial, as in the paper). With
    ``seeds`` ({model: {seed: selected epoch}}, every training seed's curves
    in ``roc``), a shaded band spans the lowest to the highest mistag rate over
    the seeds at each efficiency, raw and under FGSM.

    Parameters
    ----------
    roc : pandas.DataFrame
        The ROC table.
    epochs : mapping of str to int
        Each model shown and its checkpoint (normally the selected one).
    epsilon : float
        The FGSM size.
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.
    discriminators : sequence of str
        The panels, names of :data:`robusttag.metrics.DISCRIMINATORS`.
    auc : pandas.DataFrame, optional
        The AUC table; its values are added to the legend.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ResultsError
        When no model is given, or a model, its epoch, a discriminator or the
        epsilon is absent from ``roc``, or a table lacks a column.
    """
    _check_tables(roc, discriminators, auc)
    if not epochs:
        raise ResultsError("epochs must map at least one model to an epoch")
    models = ordered_models(epochs)
    seeds = {m: dict(seeds.get(m, {})) for m in models} if seeds else {}
    reference = {m: min(seeds[m]) for m in models if len(seeds.get(m, {})) > 1}
    own = roc[roc["seed"] == reference[models[0]]] if reference else roc
    curves = {(disc, m): _raw_and_fgsm(own, m, epochs[m], disc, epsilon) for disc in discriminators for m in models}

    def draw(ax, disc):
        for i, m in enumerate(models):
            colour = model_colour(m, i)
            if m in reference:
                _seed_band(ax, roc, m, seeds[m], disc, epsilon, colour)
            (e0, m0), (e1, m1) = curves[(disc, m)]
            a_raw, a_adv = _raw_and_fgsm_auc(auc, m, epochs[m], disc, epsilon)
            ax.plot(
                e0,
                m0,
                color=colour,
                linewidth=2.2,
                linestyle="-",
                label=_with_auc(f"{m} (epoch {epochs[m]}), raw", a_raw),
            )
            ax.plot(
                e1,
                m1,
                color=colour,
                linewidth=2.2,
                linestyle=MODEL_ATTACK_STYLE.get(m, ":"),
                label=_with_auc(f"{m}, FGSM {epsilon_text(epsilon)}", a_adv),
            )
        return {"loc": "lower right", "fontsize": "x-small", "title": disc, "title_fontsize": "small"}, ""

    return _roc_panels(discriminators, path, draw)


def _seed_band(ax, roc: pd.DataFrame, model: str, epochs: Mapping[int, int], disc: str, epsilon: float, colour) -> None:
    """The range over the training seeds (each at its selected epoch) of the raw and FGSM mistag rates."""
    for attack in ("raw", "fgsm"):
        rates = []
        for seed, epoch in sorted(epochs.items()):
            at = roc[roc["seed"] == seed]
            raw, fgsm = _raw_and_fgsm(at, model, epoch, disc, epsilon)
            rates.append((raw if attack == "raw" else fgsm)[1])
            efficiency = (raw if attack == "raw" else fgsm)[0]
        low, high = np.min(rates, axis=0), np.max(rates, axis=0)
        shown = (low > 0) & np.isfinite(low) & np.isfinite(high)
        label = f"{model}: range over {len(epochs)} seeds" if attack == "raw" else None
        ax.fill_between(efficiency[shown], low[shown], high[shown], color=colour, alpha=0.2, linewidth=0, label=label)


def _selected_per_seed(auc: pd.DataFrame) -> dict[str, dict[int, int]]:
    """{model: {seed: its selected epoch}} from the AUC table of every seed."""
    chosen = auc[as_bool(auc["selected"])].drop_duplicates(["model", "seed"])
    out: dict[str, dict[int, int]] = {}
    for row in chosen.itertuples():
        out.setdefault(row.model, {})[int(row.seed)] = int(row.epoch)
    return out


def fig8_nominal_vs_adversarial(inputs: Sequence[str], path: str | os.PathLike, *, summary_epsilon: float):
    """Fig. 8 of the pipeline: every model at its selected checkpoint.

    Parameters
    ----------
    inputs : sequence of str
        The ROC table (``.parquet``) and the AUC table (``.csv``).
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
        When an input is missing or a table lacks what the figure needs.
    """
    roc, auc, selected = _read_roc_auc(inputs)
    every_seed = pd.read_csv(input_file(inputs, ".csv", "AUC table"))
    all_rocs = pd.read_parquet(input_file(inputs, ".parquet", "ROC table"))
    seeds = _selected_per_seed(every_seed) if "seed" in every_seed else None
    return plot_roc_nominal_vs_adversarial(all_rocs, selected, summary_epsilon, path, auc=auc, seeds=seeds)
