"""Plotting functions for the paper's figures (Stein et al. 2022, Figs. 4-10).

Every function here only *draws*: it takes tables that the evaluation steps
have already computed (ROC curves, AUC values, input samples, training
histories) and writes one figure as ``<path>.png`` (150 dpi) and
``<path>.pdf``. Nothing is recomputed: no model is run, no attack crafted, no
ROC curve or AUC derived from scores.

``path`` is given *without* a suffix; its parent directory is created. Each
file is written under a temporary name in the same directory and then moved
into place with :func:`os.replace`, so a reader never sees a half-written
figure. Every figure is closed after saving.

When a requested model, epoch, epsilon, discriminator or feature is missing
from the table, the function raises :class:`ValueError` naming what was asked
for and what the table holds.

Input tables (long format, one row per point):

``roc``
    ``model, epoch, attack, attack_source, epsilon, discriminator,
    efficiency, mistag``; one curve per (model, epoch, attack,
    attack_source, epsilon, discriminator). ``attack`` is one of ``raw``,
    ``fgsm``, ``noise``, ``shift_up``, ``shift_down``; ``attack_source`` is the
    model the attack was crafted on (for ``raw`` it equals ``model``).
``auc``
    ``model, epoch, attack, attack_source, epsilon, discriminator, auc,
    eff_at_mistag_0.01, eff_at_mistag_0.1, scale_factor_at_mistag_0.01,
    selected``; ``selected`` marks the model's chosen checkpoint.
``samples``
    ``model, label, attack, epsilon, capped`` plus feature columns in raw
    physical units; ``label`` is 0 = b, 1 = c, 2 = light.
``history``
    ``epoch, train_loss, val_loss, lr, seconds, jets_per_s``.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # never open a window; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

try:  # HEP styling is optional: plots still work (plainer) without mplhep
    import mplhep as _hep
except ImportError:  # pragma: no cover - mplhep is installed in the project venv
    _hep = None

__all__ = [
    "DISCRIMINATORS",
    "feature_label",
    "plot_input_shifts",
    "plot_roc_vs_epsilon",
    "plot_roc_per_checkpoint",
    "plot_roc_nominal_vs_adversarial",
    "plot_auc_drop_vs_auc",
    "plot_first_track_d0",
    "plot_cross_attacks",
    "plot_training_history",
]

# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

#: discriminator -> (signal flavour, background flavour)
DISCRIMINATORS: dict[str, tuple[str, str]] = {
    "BvsL": ("b", "light"),
    "CvsL": ("c", "light"),
    "BvsC": ("b", "c"),
}

#: training label -> flavour name (features.LABELS inverted)
_FLAVOUR_OF_LABEL: dict[int, str] = {0: "b", 1: "c", 2: "light"}
_FLAVOUR_COLOURS: dict[str, str] = {"b": "#d62728", "c": "#2ca02c", "light": "#1f77b4"}

_MODEL_ORDER = ("nominal", "adversarial")
_MODEL_COLOURS: dict[str, str] = {"nominal": "#1f77b4", "adversarial": "#ff7f0e"}
_MODEL_MARKERS: dict[str, str] = {"nominal": "o", "adversarial": "s"}
#: Line style of each model's attacked curve (paper Fig. 8: dashed / dash-dotted).
_MODEL_ATTACK_STYLE: dict[str, str] = {"nominal": "--", "adversarial": "-."}

_DPI = 150
_EXP = "robusttag"
_LLABEL = "Simulation"

_ROC_COLUMNS = ("model", "epoch", "attack", "attack_source", "epsilon", "discriminator", "efficiency", "mistag")
_AUC_COLUMNS = ("model", "epoch", "attack", "attack_source", "epsilon", "discriminator", "auc")
_SAMPLE_COLUMNS = ("model", "label", "attack", "epsilon", "capped")
_HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss")

# Axis labels of the features a flavour physicist will look for first.
_FEATURE_LABELS: dict[str, str] = {
    "jet_pt": r"Jet $p_\mathrm{T}$ [GeV]",
    "jet_eta": r"Jet $\eta$",
    "track_2_d0_significance": r"Track 2 $d_0$ significance",
    "track_3_d0_significance": r"Track 3 $d_0$ significance",
    "track_2_z0_significance": r"Track 2 $z_0$ significance",
    "track_3_z0_significance": r"Track 3 $z_0$ significance",
    "n_tracks_over_d0_threshold": r"Tracks over $d_0$ threshold",
    "jet_prob": "Jet probability",
    "jet_width_eta": r"Jet width in $\eta$",
    "jet_width_phi": r"Jet width in $\phi$",
    "vertex_significance": "Secondary vertex significance",
    "n_secondary_vertices": "Secondary vertices",
    "n_secondary_vertex_tracks": "Secondary vertex tracks",
    "delta_r_vertex": r"$\Delta R$(vertex, jet)",
    "vertex_mass": "Secondary vertex mass [GeV]",
    "vertex_energy_fraction": "Secondary vertex energy fraction",
}
_TRACK_FIELD_LABELS: dict[str, str] = {
    "d0": r"$d_0$ [mm]",
    "z0": r"$z_0$ [mm]",
    "phi": r"$\Delta\phi$ to jet",
    "theta": r"$\Delta\theta$ to jet",
    "qoverp": r"$q/p$ [1/GeV]",
    "d0_significance": r"$d_0$ significance",
    "z0_significance": r"$z_0$ significance",
    "weight": "vertex-fit weight",
    "vertex_mass": "vertex mass [GeV]",
    "vertex_displacement": "vertex displacement [mm]",
    "vertex_displacement_significance": "vertex displacement significance",
    "vertex_n_tracks": "vertex tracks",
    "vertex_energy_fraction": "vertex energy fraction",
}
# Per-slot track inputs: "trk0_d0" (the model's names) or "track_0_d0".
_TRACK_SLOT = re.compile(r"^(?:trk|track_)(\d+)_(.+)$")


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def feature_label(name: str) -> str:
    """Axis label for a feature column (falls back to the column name)."""
    if name in _FEATURE_LABELS:
        return _FEATURE_LABELS[name]
    match = _TRACK_SLOT.match(name)
    if match:
        slot, field = int(match.group(1)), match.group(2)
        return f"{_ordinal(slot + 1).capitalize()} track {_TRACK_FIELD_LABELS.get(field, field)}"
    return name


def _efficiency_label(flavour: str) -> str:
    return f"{flavour}-jet efficiency"


def _mistag_label(flavour: str) -> str:
    return f"{flavour}-jet mistag rate"


def _eps_text(eps: float) -> str:
    return rf"$\epsilon = {eps:g}$"


# --------------------------------------------------------------------------
# Figure plumbing
# --------------------------------------------------------------------------


@contextlib.contextmanager
def _style():
    """Apply the HEP style (matplotlib's default without mplhep).

    A figure opened inside and left open by an error is closed on the way out.
    """
    before = set(plt.get_fignums())
    style = _hep.style.CMS if _hep is not None else "default"
    try:
        with plt.style.context(style):
            yield
    except BaseException:
        for num in set(plt.get_fignums()) - before:
            plt.close(num)
        raise


def _label(ax, rlabel: str = "") -> None:
    """Neutral experiment label above the axes: "robusttag Simulation".

    Plain text (bold name, italic qualifier) rather than ``mplhep.label``: it
    claims no experiment's data, and avoids the extra draw passes mplhep uses
    to place its label pieces.
    """
    ax.text(0.0, 1.005, rf"$\bf{{{_EXP}}}$ $\it{{{_LLABEL}}}$", transform=ax.transAxes,
            ha="left", va="bottom", fontsize="large")
    if rlabel:
        ax.text(1.0, 1.005, rlabel, transform=ax.transAxes, ha="right", va="bottom", fontsize="medium")


def _save(fig, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<path>.png`` and ``<path>.pdf`` atomically; always close ``fig``."""
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for ext in ("png", "pdf"):
            final = base.parent / f"{base.name}.{ext}"
            # Same directory, so os.replace is atomic; a plain new file gets the usual permissions.
            tmp = base.parent / f".{base.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.{ext}"
            try:
                # No creation date in the PDF, so identical inputs give identical files.
                metadata = {"CreationDate": None} if ext == "pdf" else None
                fig.savefig(tmp, format=ext, dpi=_DPI, metadata=metadata)
                os.replace(tmp, final)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            written.append(final)
    finally:
        plt.close(fig)
    return written[0], written[1]


# --------------------------------------------------------------------------
# Table checks and selections
# --------------------------------------------------------------------------


def _require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


def _eps_mask(series: pd.Series, eps: float) -> np.ndarray:
    return np.isclose(series.to_numpy(dtype=float), float(eps), rtol=1e-6, atol=1e-9)


def _available(values: Iterable) -> list:
    vals = pd.unique(pd.Series(list(values)))
    try:
        return sorted(vals.tolist())
    except TypeError:
        return vals.tolist()


def _as_bool(series: pd.Series) -> np.ndarray:
    """A flag column as booleans; missing values count as False."""
    return series.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _check_discriminators(discriminators: Sequence[str]) -> None:
    unknown = [d for d in discriminators if d not in DISCRIMINATORS]
    if unknown:
        raise ValueError(f"unknown discriminator(s) {unknown}; choose from {list(DISCRIMINATORS)}")


def _check_model(df: pd.DataFrame, model: str, what: str) -> pd.DataFrame:
    sub = df[df["model"] == model]
    if sub.empty:
        raise ValueError(f"{what} has no rows for model '{model}'; models present: {_available(df['model'])}")
    return sub


def _check_epoch(df: pd.DataFrame, model: str, epoch: int, what: str) -> pd.DataFrame:
    sub = _check_model(df, model, what)
    sub = sub[sub["epoch"] == int(epoch)]
    if sub.empty:
        epochs = _available(df.loc[df["model"] == model, "epoch"])
        raise ValueError(f"{what} has no rows for model '{model}' at epoch {epoch}; epochs present: {epochs}")
    return sub


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
    """(efficiency, mistag) of one stored curve, sorted by efficiency."""
    sel = _check_epoch(roc, model, epoch, "roc table")
    sel = sel[sel["discriminator"] == discriminator]
    if sel.empty:
        raise ValueError(
            f"roc table has no '{discriminator}' curve for model '{model}' at epoch {epoch}; "
            f"discriminators present: {_available(roc['discriminator'])}"
        )
    pool = sel[sel["attack"] == attack]
    if attack != "raw":
        src = model if source is None else source
        pool = pool[pool["attack_source"] == src]
        if epsilon is not None:
            pool = pool[_eps_mask(pool["epsilon"], epsilon)]
    if pool.empty:
        have = sel[sel["attack"] == attack]
        if attack == "raw":
            detail = "no raw curve"
        else:
            detail = (
                f"no '{attack}' curve crafted on '{source or model}' at epsilon {epsilon}; "
                f"epsilons present for this attack: "
                f"{_available(have.loc[have['attack_source'] == (source or model), 'epsilon'])}"
            )
        raise ValueError(f"roc table: model '{model}', epoch {epoch}, {discriminator}: {detail}")
    pool = pool.sort_values("efficiency", kind="stable")
    return pool["efficiency"].to_numpy(dtype=float), pool["mistag"].to_numpy(dtype=float)


def _auc_value(
    auc: pd.DataFrame | None,
    *,
    model: str,
    epoch: int,
    discriminator: str,
    attack: str,
    source: str | None = None,
    epsilon: float | None = None,
) -> float | None:
    """The stored AUC for one curve, or None when no AUC table / row is given."""
    if auc is None:
        return None
    sel = auc[(auc["model"] == model) & (auc["epoch"] == int(epoch))]
    sel = sel[(sel["discriminator"] == discriminator) & (sel["attack"] == attack)]
    if attack != "raw":
        sel = sel[sel["attack_source"] == (model if source is None else source)]
        if epsilon is not None:
            sel = sel[_eps_mask(sel["epsilon"], epsilon)]
    if sel.empty:
        return None
    return float(sel["auc"].iloc[0])


def _with_auc(text: str, value: float | None) -> str:
    return text if value is None else f"{text} (AUC {value:.3f})"


def _setup_roc_axis(ax, discriminator: str, ymin: float = 1e-3) -> None:
    signal, background = DISCRIMINATORS[discriminator]
    ax.set_yscale("log")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(ymin, 1.0)
    ax.set_xlabel(_efficiency_label(signal))
    ax.set_ylabel(_mistag_label(background))
    ax.grid(True, which="major", alpha=0.3)


def _model_order(models: Iterable[str]) -> list[str]:
    models = list(dict.fromkeys(models))
    known = [m for m in _MODEL_ORDER if m in models]
    return known + sorted(m for m in models if m not in _MODEL_ORDER)


def _model_colour(model: str, index: int) -> str:
    return _MODEL_COLOURS.get(model, f"C{(index + 2) % 10}")


# --------------------------------------------------------------------------
# Histogram helpers (Figs. 5 and 10)
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


def _robust_range(values: np.ndarray, symmetric: bool = False) -> tuple[float, float]:
    """Display range from the 0.5-99.5 percentiles of the raw values.

    The default spike (see :func:`_drop_default_spike`) is left out first, so it
    falls outside the displayed range.
    """
    values = _drop_default_spike(values)
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [0.5, 99.5])
    if symmetric:
        half = max(abs(lo), abs(hi))
        lo, hi = -half, half
    if not hi > lo:
        pad = max(abs(lo) * 0.05, 0.5)
        lo, hi = lo - pad, hi + pad
    return float(lo), float(hi)


def _is_integer_valued(values: np.ndarray, max_unique: int = 60) -> bool:
    if values.size == 0:
        return False
    return bool(np.all(values == np.round(values))) and np.unique(values).size <= max_unique


def _bin_edges(raw: np.ndarray, value_range: tuple[float, float] | None, bins: int, symmetric: bool = False):
    if value_range is not None:
        lo, hi = map(float, value_range)
        if not hi > lo:
            raise ValueError(f"histogram range must satisfy low < high, got {value_range}")
        return np.linspace(lo, hi, bins + 1)
    genuine = _drop_default_spike(raw)
    if _is_integer_valued(genuine):
        # Integer features: one bin per value (they are never attacked anyway).
        lo, hi = genuine.min(), genuine.max()
        return np.arange(lo - 0.5, hi + 1.5, 1.0)
    lo, hi = _robust_range(raw, symmetric=symmetric)
    return np.linspace(lo, hi, bins + 1)


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


def _select_samples(
    samples: pd.DataFrame, *, model: str, attack: str, epsilon: float | None = None, capped: bool | None = None
) -> pd.DataFrame:
    sub = _check_model(samples, model, "samples table")
    sub = sub[sub["attack"] == attack]
    if attack == "raw":
        if sub.empty:
            raise ValueError(f"samples table has no raw rows for model '{model}'")
        return sub
    base = sub
    if capped is not None:
        sub = sub[_as_bool(sub["capped"]) == bool(capped)]
    if epsilon is not None:
        sub = sub[_eps_mask(sub["epsilon"], epsilon)]
    if sub.empty:
        cap = "" if capped is None else (" with the cap" if capped else " without the cap")
        have = base if capped is None else base[_as_bool(base["capped"]) == bool(capped)]
        raise ValueError(
            f"samples table has no '{attack}' rows for model '{model}' at epsilon {epsilon}{cap}; "
            f"epsilons present: {_available(have['epsilon'])}"
        )
    return sub


def _check_features(samples: pd.DataFrame, features: Sequence[str]) -> None:
    if isinstance(features, str):
        raise ValueError("features must be a sequence of column names, not a single string")
    if len(features) == 0:
        raise ValueError("features must name at least one column")
    missing = [f for f in features if f not in samples.columns]
    if missing:
        raise ValueError(f"samples table lacks feature column(s) {missing}")


def _eps_colours(epsilons: Sequence[float]) -> dict[float, tuple]:
    cmap = plt.get_cmap("plasma")
    n = len(epsilons)
    return {eps: cmap(0.05 + 0.75 * (i / max(n - 1, 1))) for i, eps in enumerate(epsilons)}


# --------------------------------------------------------------------------
# Fig. 5: input distributions, raw vs FGSM
# --------------------------------------------------------------------------


def plot_input_shifts(
    samples: pd.DataFrame,
    model: str,
    features: Sequence[str],
    epsilons: Sequence[float],
    path: str | os.PathLike,
    *,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    bins: int = 50,
    capped: bool = True,
    logy: bool | Mapping[str, bool] | None = None,
) -> tuple[Path, Path]:
    """Fig. 5: raw input distributions against FGSM-distorted ones.

    One panel per feature (two columns; 2x2 for four features). The raw values
    of ``model``'s sample are a filled histogram; the FGSM samples crafted on
    ``model`` at each value in ``epsilons`` (rows with ``capped == capped``;
    default: the paper's 25 % cap) are step lines. Values are raw physical
    units; NaN and inf are dropped, and values outside the displayed range
    (e.g. defaults) are not drawn.

    ``ranges`` maps a feature to its (low, high) display range; otherwise the
    range comes from the 0.5-99.5 percentiles of the raw values with the
    default spike left out (integer features get one bin per value).
    ``logy``: True/False for all panels, a per-feature mapping, or None to use a
    log y axis where the raw histogram spans well over an order of magnitude.

    Raises ValueError when the model, a feature, or an epsilon is absent.
    Returns the paths of the PNG and PDF written.
    """
    _require_columns(samples, _SAMPLE_COLUMNS, "samples table")
    _check_features(samples, features)
    epsilons = [float(e) for e in epsilons]
    if not epsilons:
        raise ValueError("epsilons must hold at least one value")
    raw = _select_samples(samples, model=model, attack="raw")
    attacked = {
        eps: _select_samples(samples, model=model, attack="fgsm", epsilon=eps, capped=capped) for eps in epsilons
    }
    colours = _eps_colours(epsilons)
    ranges = dict(ranges or {})
    raw_values = {feature: _finite(raw[feature]) for feature in features}
    empty = [feature for feature, vals in raw_values.items() if vals.size == 0]
    if empty:
        raise ValueError(f"feature(s) {empty} have no finite raw values for model '{model}'")
    edges_of = {feature: _bin_edges(raw_values[feature], ranges.get(feature), bins) for feature in features}

    n = len(features)
    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    with _style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(9 * ncols, 7.5 * nrows), squeeze=False)
        for i, feature in enumerate(features):
            ax = axes.flat[i]
            edges = edges_of[feature]
            counts, _ = np.histogram(raw_values[feature], bins=edges)
            ax.stairs(counts, edges, fill=True, color="0.75", label="raw")
            ax.stairs(counts, edges, color="0.35", linewidth=1.2)
            ymax = counts.max()
            for eps in epsilons:
                adv_counts, _ = np.histogram(_finite(attacked[eps][feature]), bins=edges)
                ax.stairs(adv_counts, edges, color=colours[eps], linewidth=2.0, label=f"FGSM {_eps_text(eps)}")
                ymax = max(ymax, adv_counts.max())
            use_log = logy.get(feature) if isinstance(logy, Mapping) else logy
            if use_log is None:
                use_log = _wants_log(counts)
            if use_log:
                ax.set_yscale("log")
            _headroom(ax, float(ymax), bool(use_log))
            ax.set_xlim(edges[0], edges[-1])
            ax.set_xlabel(feature_label(feature))
            ax.set_ylabel("Jets / bin")
            ax.legend(fontsize="small", loc="upper right", ncol=1,
                      title=f"{model} model" + (", 25 % cap" if capped else ", no cap"), title_fontsize="small")
            _label(ax)
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        fig.tight_layout()
        return _save(fig, path)  # inside the style: mathtext is laid out at draw time


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
    discriminators: Sequence[str] = ("BvsL", "CvsL"),
    auc: pd.DataFrame | None = None,
) -> tuple[Path, Path]:
    """Fig. 6: ROC curves of one checkpoint, raw and under FGSM of several sizes.

    One panel per discriminator (default BvsL left, CvsL right): signal
    efficiency on x, background mistag rate on a log y axis (1e-3 to 1). The
    raw curve is solid black; one coloured curve per epsilon for FGSM crafted on
    the same model (``attack_source == model``). With an ``auc`` table the
    stored AUC values are added to the legend.

    Raises ValueError when the model, epoch, a discriminator or an epsilon is
    absent from ``roc``. Returns the paths of the PNG and PDF written.
    """
    _require_columns(roc, _ROC_COLUMNS, "roc table")
    _check_discriminators(discriminators)
    epsilons = [float(e) for e in epsilons]
    if auc is not None:
        _require_columns(auc, _AUC_COLUMNS, "auc table")
    # Gather everything first, so a missing curve fails before any drawing.
    curves = {
        disc: (
            _roc_curve(roc, model=model, epoch=epoch, discriminator=disc),
            {eps: _roc_curve(roc, model=model, epoch=epoch, discriminator=disc, attack="fgsm", epsilon=eps)
             for eps in epsilons},
        )
        for disc in discriminators
    }
    colours = _eps_colours(epsilons)
    with _style():
        fig, axes = plt.subplots(1, len(discriminators), figsize=(10 * len(discriminators), 10), squeeze=False)
        for ax, disc in zip(axes.flat, discriminators):
            (eff, mis), attacked = curves[disc]
            value = _auc_value(auc, model=model, epoch=epoch, discriminator=disc, attack="raw")
            ax.plot(eff, mis, color="black", linewidth=2.2, label=_with_auc("raw", value))
            for eps in epsilons:
                e, m = attacked[eps]
                value = _auc_value(auc, model=model, epoch=epoch, discriminator=disc, attack="fgsm", epsilon=eps)
                ax.plot(e, m, color=colours[eps], linewidth=2.0, label=_with_auc(f"FGSM {_eps_text(eps)}", value))
            _setup_roc_axis(ax, disc)
            ax.legend(loc="lower right", fontsize="small", title=f"{disc}, {model} model",
                      title_fontsize="small")
            _label(ax, rlabel=f"epoch {epoch}")
        fig.tight_layout()
        return _save(fig, path)  # inside the style: mathtext is laid out at draw time


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
    discriminators: Sequence[str] = ("BvsL", "CvsL"),
    auc: pd.DataFrame | None = None,
) -> tuple[Path, Path]:
    """Fig. 7: ROC curves at several checkpoints, raw (solid) and FGSM (dashed).

    One panel per discriminator (default BvsL, CvsL). Each epoch gets its own
    colour (light to dark with training time); the solid line is the raw
    performance, the dashed one the performance on FGSM inputs at ``epsilon``
    crafted on that same checkpoint. With an ``auc`` table the legend quotes
    raw / FGSM AUC per epoch.

    Raises ValueError when the model, an epoch, a discriminator or the epsilon
    is absent from ``roc``. Returns the paths of the PNG and PDF written.
    """
    _require_columns(roc, _ROC_COLUMNS, "roc table")
    _check_discriminators(discriminators)
    epochs = sorted(int(e) for e in epochs)
    if not epochs:
        raise ValueError("epochs must hold at least one epoch")
    if auc is not None:
        _require_columns(auc, _AUC_COLUMNS, "auc table")
    curves = {
        (disc, ep): (
            _roc_curve(roc, model=model, epoch=ep, discriminator=disc),
            _roc_curve(roc, model=model, epoch=ep, discriminator=disc, attack="fgsm", epsilon=epsilon),
        )
        for disc in discriminators
        for ep in epochs
    }
    cmap = plt.get_cmap("viridis")
    colours = {ep: cmap(0.9 * (1 - i / max(len(epochs) - 1, 1))) for i, ep in enumerate(epochs)}
    with _style():
        fig, axes = plt.subplots(1, len(discriminators), figsize=(10 * len(discriminators), 10), squeeze=False)
        for ax, disc in zip(axes.flat, discriminators):
            handles = []
            for ep in epochs:
                (e0, m0), (e1, m1) = curves[(disc, ep)]
                ax.plot(e0, m0, color=colours[ep], linewidth=2.0, linestyle="-")
                ax.plot(e1, m1, color=colours[ep], linewidth=2.0, linestyle="--")
                text = f"epoch {ep}"
                a_raw = _auc_value(auc, model=model, epoch=ep, discriminator=disc, attack="raw")
                a_adv = _auc_value(auc, model=model, epoch=ep, discriminator=disc, attack="fgsm", epsilon=epsilon)
                if a_raw is not None and a_adv is not None:
                    text += f" (AUC {a_raw:.3f} / {a_adv:.3f})"
                handles.append(Line2D([], [], color=colours[ep], linewidth=2.0, label=text))
            handles.append(Line2D([], [], color="0.3", linestyle="-", label="raw"))
            handles.append(Line2D([], [], color="0.3", linestyle="--", label=f"FGSM {_eps_text(epsilon)}"))
            _setup_roc_axis(ax, disc)
            ax.legend(handles=handles, loc="lower right", fontsize="x-small", title=f"{disc}, {model} model",
                      title_fontsize="small")
            _label(ax)
        fig.tight_layout()
        return _save(fig, path)  # inside the style: mathtext is laid out at draw time


# --------------------------------------------------------------------------
# Fig. 8: nominal vs adversarial model
# --------------------------------------------------------------------------


def plot_roc_nominal_vs_adversarial(
    roc: pd.DataFrame,
    epochs: Mapping[str, int],
    epsilon: float,
    path: str | os.PathLike,
    *,
    discriminators: Sequence[str] = ("BvsL", "CvsL"),
    auc: pd.DataFrame | None = None,
) -> tuple[Path, Path]:
    """Fig. 8: ROC curves of the nominal and the adversarial model.

    ``epochs`` maps each model to the checkpoint to show (normally the selected
    one). One panel per discriminator. Each model has one colour (nominal blue,
    adversarial orange); the solid line is raw performance, the broken line the
    performance on FGSM inputs at ``epsilon`` crafted on that model itself
    (dashed for nominal, dash-dotted for adversarial, as in the paper).

    Raises ValueError when a model, its epoch, a discriminator or the epsilon is
    absent from ``roc``. Returns the paths of the PNG and PDF written.
    """
    _require_columns(roc, _ROC_COLUMNS, "roc table")
    _check_discriminators(discriminators)
    if not epochs:
        raise ValueError("epochs must map at least one model to an epoch")
    if auc is not None:
        _require_columns(auc, _AUC_COLUMNS, "auc table")
    models = _model_order(epochs)
    curves = {
        (disc, m): (
            _roc_curve(roc, model=m, epoch=epochs[m], discriminator=disc),
            _roc_curve(roc, model=m, epoch=epochs[m], discriminator=disc, attack="fgsm", epsilon=epsilon),
        )
        for disc in discriminators
        for m in models
    }
    with _style():
        fig, axes = plt.subplots(1, len(discriminators), figsize=(10 * len(discriminators), 10), squeeze=False)
        for ax, disc in zip(axes.flat, discriminators):
            for i, m in enumerate(models):
                colour = _model_colour(m, i)
                (e0, m0), (e1, m1) = curves[(disc, m)]
                a_raw = _auc_value(auc, model=m, epoch=epochs[m], discriminator=disc, attack="raw")
                a_adv = _auc_value(auc, model=m, epoch=epochs[m], discriminator=disc, attack="fgsm", epsilon=epsilon)
                ax.plot(e0, m0, color=colour, linewidth=2.2, linestyle="-",
                        label=_with_auc(f"{m} (epoch {epochs[m]}), raw", a_raw))
                ax.plot(e1, m1, color=colour, linewidth=2.2, linestyle=_MODEL_ATTACK_STYLE.get(m, ":"),
                        label=_with_auc(f"{m}, FGSM {_eps_text(epsilon)}", a_adv))
            _setup_roc_axis(ax, disc)
            ax.legend(loc="lower right", fontsize="x-small", title=disc, title_fontsize="small")
            _label(ax)
        fig.tight_layout()
        return _save(fig, path)  # inside the style: mathtext is laid out at draw time


# --------------------------------------------------------------------------
# Fig. 9: AUC drop against raw AUC, one point per checkpoint
# --------------------------------------------------------------------------


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

    x: raw AUC of each (model, epoch); y: AUC under the attack (default FGSM,
    crafted on that same model and checkpoint) minus the raw AUC. One colour per
    epsilon, one marker shape per model (nominal: open circles, adversarial:
    filled squares, as in the paper's open/filled markers). The selected
    checkpoints, when the table flags them, are ringed in black.

    ``epsilons`` / ``models`` restrict the points (default: all in the table).
    Raises ValueError when the discriminator, a model or an epsilon is absent.
    Returns the paths of the PNG and PDF written.
    """
    _require_columns(auc, _AUC_COLUMNS, "auc table")
    _check_discriminators([discriminator])
    table = auc[auc["discriminator"] == discriminator]
    if table.empty:
        raise ValueError(
            f"auc table has no rows for discriminator '{discriminator}'; present: {_available(auc['discriminator'])}"
        )
    raw = table[table["attack"] == "raw"][["model", "epoch", "auc"] + (["selected"] if "selected" in table else [])]
    raw = raw.drop_duplicates(["model", "epoch"])
    adv = table[(table["attack"] == attack) & (table["attack_source"] == table["model"])]
    adv = adv[["model", "epoch", "epsilon", "auc"]]
    if models is None:
        models = _model_order(adv["model"])
    else:
        for m in models:
            _check_model(table, m, "auc table")
        models = _model_order(models)
    if epsilons is None:
        epsilons = _available(adv.loc[adv["model"].isin(models), "epsilon"])
    else:
        epsilons = [float(e) for e in epsilons]
        for eps in epsilons:
            if not _eps_mask(adv["epsilon"], eps).any():
                raise ValueError(
                    f"auc table has no '{attack}' rows at epsilon {eps} for {discriminator}; "
                    f"epsilons present: {_available(adv['epsilon'])}"
                )
    merged = adv.merge(raw, on=["model", "epoch"], suffixes=("_adv", "_raw"))
    merged = merged[merged["model"].isin(models)]
    if merged.empty:
        raise ValueError(
            f"auc table has no checkpoint with both a raw and a self-crafted '{attack}' AUC for {discriminator}"
        )
    colours = _eps_colours(list(epsilons))
    with _style():
        fig, ax = plt.subplots(figsize=(15, 10))
        for i, m in enumerate(models):
            marker = _MODEL_MARKERS.get(m, "^D<>v"[i % 5])
            filled = m != "nominal"
            for eps in epsilons:
                pts = merged[(merged["model"] == m) & _eps_mask(merged["epsilon"], eps)]
                if pts.empty:
                    continue
                x = pts["auc_raw"].to_numpy(float)
                y = (pts["auc_adv"] - pts["auc_raw"]).to_numpy(float)
                ax.scatter(x, y, s=45, marker=marker, linewidths=1.4, edgecolors=[colours[eps]],
                           facecolors=[colours[eps]] if filled else "none", zorder=3)
                if "selected" in pts:
                    sel = _as_bool(pts["selected"])
                    if sel.any():
                        ax.scatter(x[sel], y[sel], s=220, marker=marker, facecolors="none",
                                   edgecolors="black", linewidths=1.6, zorder=4)
        ax.axhline(0.0, color="0.4", linewidth=1, linestyle=":")
        ax.set_xlabel(f"{discriminator} AUC (raw inputs)")
        ax.set_ylabel(f"{discriminator} AUC({attack.upper()}) $-$ AUC(raw)")
        ax.grid(True, alpha=0.3)
        eps_handles = [Patch(color=colours[e], label=_eps_text(e)) for e in epsilons]
        model_handles = [
            Line2D([], [], linestyle="", marker=_MODEL_MARKERS.get(m, "^D<>v"[i % 5]), markersize=9,
                   markerfacecolor="none" if m == "nominal" else "0.3", markeredgecolor="0.3", label=f"{m} training")
            for i, m in enumerate(models)
        ]
        if "selected" in merged:
            model_handles.append(Line2D([], [], linestyle="", marker="o", markersize=13, markerfacecolor="none",
                                        markeredgecolor="black", label="selected checkpoint"))
        first = ax.legend(handles=eps_handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small",
                          title=attack.upper(), title_fontsize="small")
        ax.add_artist(first)
        ax.legend(handles=model_handles, loc="lower left", bbox_to_anchor=(1.02, 0.0), fontsize="small",
                  title="one point per checkpoint", title_fontsize="small")
        _label(ax)
        fig.tight_layout()
        return _save(fig, path)  # inside the style: mathtext is laid out at draw time


# --------------------------------------------------------------------------
# Fig. 10: first track's d0 per flavour, raw vs uncapped FGSM
# --------------------------------------------------------------------------


def _first_track_d0_column(samples: pd.DataFrame, feature: str | None) -> str:
    if feature is not None:
        if feature not in samples.columns:
            raise ValueError(f"samples table lacks the column '{feature}'")
        return feature
    for name in ("track_0_d0", "trk0_d0"):
        if name in samples.columns:
            return name
    raise ValueError("samples table has no first-track d0 column ('track_0_d0' or 'trk0_d0')")


def plot_first_track_d0(
    samples: pd.DataFrame,
    epsilon: float,
    path: str | os.PathLike,
    *,
    models: Sequence[str] | None = None,
    feature: str | None = None,
    range: tuple[float, float] | None = None,  # noqa: A002 - the name the callers use
    bins: int = 60,
    density: bool = True,
    logy: bool = False,
) -> tuple[Path, Path]:
    """Fig. 10: first track's signed d0 per flavour, raw vs uncapped FGSM.

    One panel per model, side by side (default: nominal, adversarial). In each
    panel the raw distributions of b, c and light jets are filled histograms,
    and the same jets after FGSM at ``epsilon`` crafted on that model *without*
    the 25 % cap (``capped == False``) are lines of the same colour. Each
    flavour is normalised to unit area (``density``), so shapes compare;
    ``logy`` switches to a log y axis (default linear, as in the paper).

    ``feature`` defaults to ``track_0_d0`` (or the model-input name
    ``trk0_d0``). ``range`` defaults to the 0.5-99.5 percentiles of the raw
    values of all models (defaults left out), the same in every panel: with
    the tracks ordered by signed d0 significance the first track's d0 is
    mostly positive, so a range symmetric about 0 would leave half of it empty.

    Raises ValueError when a model or the epsilon (uncapped) is absent.
    Returns the paths of the PNG and PDF written.
    """
    _require_columns(samples, _SAMPLE_COLUMNS, "samples table")
    column = _first_track_d0_column(samples, feature)
    if models is None:
        models = _model_order(samples["model"])
    models = list(models)
    if not models:
        raise ValueError("samples table holds no model")
    data = {
        m: (_select_samples(samples, model=m, attack="raw"),
            _select_samples(samples, model=m, attack="fgsm", epsilon=epsilon, capped=False))
        for m in models
    }
    all_raw = np.concatenate([_finite(raw[column]) for raw, _ in data.values()])
    if all_raw.size == 0:
        raise ValueError(f"'{column}' has no finite raw values")
    if range is None:
        edges = np.linspace(*_robust_range(all_raw), bins + 1)
    else:
        edges = _bin_edges(all_raw, range, bins)

    def hist(frame: pd.DataFrame, flavour_label: int) -> np.ndarray:
        vals = _finite(frame.loc[frame["label"].astype(int) == flavour_label, column])
        counts, _ = np.histogram(vals, bins=edges)
        if density and counts.sum() > 0:
            return counts / counts.sum() / np.diff(edges)
        return counts.astype(float)

    with _style():
        fig, axes = plt.subplots(1, len(models), figsize=(10 * len(models), 9), squeeze=False, sharey=True)
        ymax = 0.0
        for ax, m in zip(axes.flat, models):
            raw, adv = data[m]
            for label, flavour in _FLAVOUR_OF_LABEL.items():
                colour = _FLAVOUR_COLOURS[flavour]
                h_raw = hist(raw, label)
                h_adv = hist(adv, label)
                if h_raw.sum() == 0 and h_adv.sum() == 0:
                    continue
                ax.stairs(h_raw, edges, fill=True, color=colour, alpha=0.25, label=f"{flavour} jets, raw")
                ax.stairs(h_adv, edges, color=colour, linewidth=2.0, label=f"{flavour} jets, FGSM")
                ymax = max(ymax, float(h_raw.max()), float(h_adv.max()))
            ax.set_xlim(edges[0], edges[-1])
            ax.axvline(0.0, color="0.5", linewidth=0.8, linestyle=":")
            ax.set_xlabel(feature_label(column))
            ax.set_ylabel("Normalised to unit area" if density else "Jets / bin")
            ax.legend(fontsize="small", loc="upper right", ncol=2,
                      title=f"FGSM {_eps_text(epsilon)} (no cap) on the {m} model", title_fontsize="small")
            _label(ax, rlabel=f"{m} model")
        first = axes.flat[0]  # y is shared: setting it once sets every panel
        if logy:
            first.set_yscale("log")
        _headroom(first, ymax, logy, ymin=max(ymax * 1e-4, 1e-12) if logy else None)
        fig.tight_layout()
        return _save(fig, path)  # inside the style: mathtext is laid out at draw time


# --------------------------------------------------------------------------
# Extra (paper Fig. 4 scheme): cross attacks between the two models
# --------------------------------------------------------------------------


def _selected_epoch(auc: pd.DataFrame, model: str) -> int:
    rows = _check_model(auc, model, "auc table")
    epochs = _available(rows.loc[_as_bool(rows["selected"]), "epoch"])
    if len(epochs) != 1:
        raise ValueError(f"auc table must flag exactly one selected epoch for model '{model}', found {epochs}")
    return int(epochs[0])


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
    target x source grid (2x2 for two models) of AUC(FGSM) - AUC(raw).
    The diagonal is the white-box attack; off-diagonal cells are transferred
    attacks.

    Raises ValueError when the discriminator, a model, its selected epoch, or
    a (target, source) combination at ``epsilon`` is absent.
    Returns the paths of the PNG and PDF written.
    """
    _require_columns(auc, (*_AUC_COLUMNS, "selected"), "auc table")
    _check_discriminators([discriminator])
    table = auc[auc["discriminator"] == discriminator]
    if table.empty:
        raise ValueError(
            f"auc table has no rows for discriminator '{discriminator}'; present: {_available(auc['discriminator'])}"
        )
    models = _model_order(table["model"] if models is None else models)
    epochs = {m: _selected_epoch(table, m) for m in models}
    raw_auc: dict[str, float] = {}
    cross: dict[tuple[str, str], float] = {}
    for target in models:
        value = _auc_value(table, model=target, epoch=epochs[target], discriminator=discriminator, attack="raw")
        if value is None:
            raise ValueError(f"auc table has no raw {discriminator} AUC for '{target}' at epoch {epochs[target]}")
        raw_auc[target] = value
        for source in models:
            value = _auc_value(table, model=target, epoch=epochs[target], discriminator=discriminator,
                               attack="fgsm", source=source, epsilon=epsilon)
            if value is None:
                raise ValueError(
                    f"auc table has no FGSM {discriminator} AUC at epsilon {epsilon} for target '{target}' "
                    f"(epoch {epochs[target]}) with samples crafted on '{source}'"
                )
            cross[(target, source)] = value

    with _style():
        fig, (ax_bar, ax_grid) = plt.subplots(1, 2, figsize=(24, 10), gridspec_kw={"width_ratios": [1.5, 1]})
        n_bars = 1 + len(models)
        width = 0.8 / n_bars
        x = np.arange(len(models))
        series = [("raw", "0.6", [raw_auc[t] for t in models])]
        series += [
            (f"FGSM from {s}", _model_colour(s, j), [cross[(t, s)] for t in models]) for j, s in enumerate(models)
        ]
        all_values = []
        for k, (name, colour, values) in enumerate(series):
            pos = x - 0.4 + width * (k + 0.5)
            hatch = None if k == 0 else "//"
            bars = ax_bar.bar(pos, values, width=width * 0.95, color=colour, label=name, hatch=hatch,
                              edgecolor="black", linewidth=0.8)
            ax_bar.bar_label(bars, labels=[f"{v:.3f}" for v in values], fontsize="x-small", padding=3)
            all_values.extend(values)
        span = max(max(all_values) - min(all_values), 0.02)
        ax_bar.set_ylim(max(0.0, min(all_values) - 0.3 * span), max(all_values) + 0.9 * span)
        ax_bar.set_xticks(x, [f"{t}\n(epoch {epochs[t]})" for t in models])
        ax_bar.set_xlabel("evaluated model")
        ax_bar.set_ylabel(f"{discriminator} AUC")
        ax_bar.legend(fontsize="small", loc="upper right", ncol=len(series), title=f"FGSM {_eps_text(epsilon)}",
                      title_fontsize="small")
        _label(ax_bar)

        grid = np.array([[cross[(t, s)] - raw_auc[t] for s in models] for t in models])
        bound = max(float(np.abs(grid).max()), 1e-6)
        # Diverging map centred on 0: red = AUC lost under the attack, blue = gained.
        image = ax_grid.imshow(grid, cmap="RdBu", vmin=-bound, vmax=bound, aspect="equal")
        for (r, c), value in np.ndenumerate(grid):
            ax_grid.text(c, r, f"{value:+.3f}\n(AUC {cross[(models[r], models[c])]:.3f})", ha="center",
                         va="center", fontsize="small", color="white" if abs(value) > 0.6 * bound else "black")
        ax_grid.set_xticks(range(len(models)), models)
        ax_grid.set_yticks(range(len(models)), models)
        ax_grid.minorticks_off()
        ax_grid.set_xlabel("FGSM crafted on")
        ax_grid.set_ylabel("evaluated model")
        fig.colorbar(image, ax=ax_grid, fraction=0.046, pad=0.04, label="AUC(FGSM) $-$ AUC(raw)")
        ax_grid.set_title(f"{discriminator}, {_eps_text(epsilon)}", fontsize="medium")
        fig.tight_layout()
        return _save(fig, path)  # inside the style: mathtext is laid out at draw time


# --------------------------------------------------------------------------
# Extra: training history
# --------------------------------------------------------------------------


def plot_training_history(histories: Mapping[str, pd.DataFrame], path: str | os.PathLike) -> tuple[Path, Path]:
    """Training and validation loss per epoch for each training mode.

    ``histories`` maps a mode ("nominal", "adversarial") to its history table.
    One colour per mode; solid = training loss (for adversarial training: on
    the FGSM inputs it trained on), dashed = validation loss; log y axis. A star
    marks each mode's lowest validation loss (the selected checkpoint).

    Raises ValueError when no history is given or a table lacks a column.
    Returns the paths of the PNG and PDF written.
    """
    if not histories:
        raise ValueError("histories must map at least one training mode to its history table")
    for mode, frame in histories.items():
        _require_columns(frame, _HISTORY_COLUMNS, f"history of '{mode}'")
        if frame.empty:
            raise ValueError(f"history of '{mode}' has no rows")
    modes = _model_order(histories)
    with _style():
        fig, ax = plt.subplots(figsize=(16, 9))
        for i, mode in enumerate(modes):
            frame = histories[mode].sort_values("epoch")
            colour = _model_colour(mode, i)
            epoch = frame["epoch"].to_numpy()
            ax.plot(epoch, frame["train_loss"].to_numpy(float), color=colour, linestyle="-", linewidth=2,
                    label=f"{mode}: training")
            val = frame["val_loss"].to_numpy(float)
            ax.plot(epoch, val, color=colour, linestyle="--", linewidth=2, label=f"{mode}: validation")
            if np.isfinite(val).any():
                best = int(np.nanargmin(np.where(np.isfinite(val), val, np.nan)))
                ax.plot(epoch[best], val[best], marker="*", markersize=18, color=colour, markeredgecolor="black",
                        linestyle="", label=f"{mode}: lowest validation loss (epoch {int(epoch[best])})")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
        _label(ax)
        fig.tight_layout()
        return _save(fig, path)  # inside the style: mathtext is laid out at draw time


# ---------------------------------------------------------------------------
# One entry point per figure name, from the files of the pipeline
# ---------------------------------------------------------------------------


def spread_checkpoints(epochs: Sequence[int], count: int, always: int) -> list[int]:
    """Up to ``count`` of ``epochs``, evenly spread in log(epoch) from the first
    to the last (the tagger changes fastest early), ``always`` among them."""
    epochs = np.array(sorted(set(epochs)))
    targets = np.geomspace(epochs[0], epochs[-1], min(count, len(epochs)))
    picks = {int(epochs[np.abs(np.log(epochs) - np.log(t)).argmin()]) for t in targets}
    if always not in picks:
        picks = set(sorted(picks)[: count - 1]) | {always}
    return sorted(picks)


def make_figure(name: str, inputs: Sequence[str], settings, path: str | os.PathLike) -> tuple[Path, Path]:
    """Draw the pipeline's figure ``name`` (as in workflow/rules/figures.smk) from
    its input files; ``settings`` is the :class:`~robusttag.evaluate.EvaluationSettings`."""
    eps = settings.summary_epsilon
    if name == "training_history":
        histories = {Path(d).name: pd.read_csv(Path(d) / "history.csv") for d in inputs}
        return plot_training_history(histories, path)
    if name in ("fig5_input_shifts", "fig10_first_track_d0"):
        samples = pd.read_parquet(inputs[0])
        if name == "fig10_first_track_d0":
            return plot_first_track_d0(samples, settings.figures.uncapped_epsilon, path)
        capped = settings.restrict_impact is not None
        return plot_input_shifts(samples, "nominal", settings.figures.input_features,
                                 settings.figures.input_epsilons, path, capped=capped)  # fmt: skip
    auc = pd.read_csv([p for p in inputs if p.endswith(".csv")][0])
    selected = {m: _selected_epoch(auc, m) for m in _model_order(auc["model"].unique())}
    if name == "fig4_cross_attacks":
        return plot_cross_attacks(auc, "CvsL", eps, path)
    if name == "fig9_auc_drop":
        return plot_auc_drop_vs_auc(auc, "BvsL", path)
    roc = pd.read_parquet([p for p in inputs if p.endswith(".parquet")][0])
    if name == "fig6_roc_vs_epsilon":
        return plot_roc_vs_epsilon(roc, "nominal", selected["nominal"], settings.epsilons, path, auc=auc)
    if name == "fig7_roc_per_checkpoint":
        scanned = auc.loc[auc["model"] == "nominal", "epoch"].unique()
        epochs = spread_checkpoints(scanned, settings.figures.checkpoints, selected["nominal"])
        return plot_roc_per_checkpoint(roc, "nominal", epochs, eps, path, auc=auc)
    if name == "fig8_nominal_vs_adversarial":
        return plot_roc_nominal_vs_adversarial(roc, selected, eps, path, auc=auc)
    raise ValueError(f"unknown figure '{name}'")
