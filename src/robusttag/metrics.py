"""Flavour-tagging performance: discriminators, ROC curves, AUC, efficiency at fixed mistag.

Conventions (as in the paper): a discriminator XvsY = P(X) / (P(X) + P(Y)) is
evaluated on jets of true flavour X (signal) and Y (background) only. A jet is
tagged when its score is >= the threshold; the signal efficiency and the
background mistag rate are the (weighted) tagged fractions of each class.

Everything is plain vectorised numpy (one sort per curve), so a million jets
take well under a second and no scikit-learn is needed at run time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ResultsError
from .features import LABELS

#: Discriminator name -> (signal label, background label).
DISCRIMINATORS: dict[str, tuple[int, int]] = {
    "BvsL": (LABELS["b"], LABELS["light"]),
    "CvsL": (LABELS["c"], LABELS["light"]),
    "BvsC": (LABELS["b"], LABELS["c"]),
}

#: Efficiency grid on which `roc_points` stores compact curves for plots.
DEFAULT_EFFICIENCIES = np.linspace(0.0, 1.0, 201)
DEFAULT_EFFICIENCIES.setflags(write=False)


def discriminant(p_x, p_y) -> np.ndarray:
    """P(X) / (P(X) + P(Y)) elementwise; 0.5 where both vanish, so a jet without information sits in the middle."""
    p_x = np.asarray(p_x, dtype=np.float64)
    p_y = np.asarray(p_y, dtype=np.float64)
    total = p_x + p_y
    out = np.full(np.broadcast(p_x, p_y).shape, 0.5)
    return np.divide(p_x, total, out=out, where=total > 0)


def _check_inputs(scores, is_signal, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated 1-d float scores, boolean signal mask and optional non-negative weights.

    Raises
    ------
    ResultsError
        When the shapes differ, a score is not finite, ``is_signal`` is not
        boolean or 0/1, or a weight is negative or not finite.
    """
    scores = np.asarray(scores, dtype=np.float64)
    is_signal = np.asarray(is_signal)
    if scores.ndim != 1 or is_signal.shape != scores.shape:
        raise ResultsError(
            f"scores and is_signal must be 1-d of equal length, got {scores.shape} and {is_signal.shape}"
        )
    if not np.isfinite(scores).all():
        raise ResultsError("scores contain NaN or infinity")
    if is_signal.dtype != bool:
        if not np.isin(is_signal, (0, 1)).all():
            raise ResultsError("is_signal must be boolean or 0/1")
        is_signal = is_signal.astype(bool)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != scores.shape:
            raise ResultsError(f"weights must have shape {scores.shape}, got {weights.shape}")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ResultsError("weights must be finite and non-negative")
    return scores, is_signal, weights


def roc_curve(scores, is_signal, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Signal efficiency and background mistag rate for every distinct threshold (tag if score >= t).

    Returns ``(efficiency, mistag)``, both non-decreasing, from (0, 0) to (1, 1).
    Jets with equal scores form a single point, so the segment across a tie is
    a straight diagonal and the trapezoid area gives the tie half credit.

    Raises
    ------
    ResultsError
        When scores, flags or weights are malformed, or the total signal or
        background weight is zero, leaving efficiency or mistag rate undefined.
    """
    scores, is_signal, weights = _check_inputs(scores, is_signal, weights)
    order = np.argsort(scores)[::-1]
    sorted_scores = scores[order]
    signal = is_signal[order]
    w = np.ones(scores.size) if weights is None else weights[order]
    signal_cum = np.cumsum(np.where(signal, w, 0.0))
    background_cum = np.cumsum(np.where(signal, 0.0, w))
    if signal_cum.size == 0 or signal_cum[-1] <= 0:
        raise ResultsError("no signal jets (or zero total signal weight): efficiency undefined")
    if background_cum[-1] <= 0:
        raise ResultsError("no background jets (or zero total background weight): mistag rate undefined")
    # Last jet of each group of equal scores: the threshold at that score tags the whole group.
    group_ends = np.append(np.flatnonzero(np.diff(sorted_scores)), scores.size - 1)
    efficiency = np.concatenate(([0.0], signal_cum[group_ends] / signal_cum[-1]))
    mistag = np.concatenate(([0.0], background_cum[group_ends] / background_cum[-1]))
    return efficiency, mistag


def _area(efficiency: np.ndarray, mistag: np.ndarray) -> float:
    """Trapezoid integral of efficiency over mistag."""
    return float(np.sum(np.diff(mistag) * (efficiency[1:] + efficiency[:-1])) / 2.0)


def auc(scores, is_signal, weights=None) -> float:
    """Area under the ROC curve: probability that a signal jet outscores a background jet, ties counting 1/2."""
    return _area(*roc_curve(scores, is_signal, weights))


def _along_curve(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, prefer_last: bool) -> np.ndarray:
    """Interpolate y at x_new along a polyline whose x is non-decreasing.

    Where the polyline has several points at x_new (a step with constant x),
    take the last of them if ``prefer_last``, else the first.

    Raises
    ------
    ResultsError
        When the curve is empty, ragged or decreasing in x, or x_new lies
        outside its range.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size == 0:
        raise ResultsError("curve coordinates must be 1-d, non-empty and of equal length")
    if (np.diff(x) < 0).any():
        raise ResultsError("curve must be non-decreasing in the interpolation variable")
    if (x_new < x[0]).any() or (x_new > x[-1]).any():
        raise ResultsError(f"requested values outside the curve's range [{x[0]}, {x[-1]}]")
    if prefer_last:
        lo = np.searchsorted(x, x_new, side="right") - 1
        hi = np.minimum(lo + 1, x.size - 1)
    else:
        hi = np.searchsorted(x, x_new, side="left")
        lo = np.maximum(hi - 1, 0)
    span = x[hi] - x[lo]  # zero only where lo == hi
    fraction = np.divide(x_new - x[lo], span, out=np.zeros_like(span), where=span > 0)
    return y[lo] + fraction * (y[hi] - y[lo])


def efficiency_at_mistag(efficiency, mistag, target: float) -> float:
    """Signal efficiency at a fixed mistag rate, interpolated linearly along the ROC curve.

    Where the curve rises at constant mistag (thresholds that only add signal
    jets), the highest efficiency reached at that mistag is returned: the
    working point a tagger would actually choose.
    """
    return float(_along_curve(mistag, efficiency, np.atleast_1d(np.float64(target)), prefer_last=True)[0])


def mistag_on_grid(efficiency, mistag, efficiencies=DEFAULT_EFFICIENCIES) -> np.ndarray:
    """The mistag rate of a ROC curve at each efficiency of a fixed grid.

    Where the curve runs at constant efficiency (thresholds that only add
    background), the lowest mistag at that efficiency is returned.
    """
    return _along_curve(efficiency, mistag, np.asarray(efficiencies, dtype=np.float64), prefer_last=False)


def roc_points(scores, is_signal, weights=None, efficiencies=DEFAULT_EFFICIENCIES) -> np.ndarray:
    """Mistag rate at each efficiency of a fixed grid: a compact, comparable curve to store for plots."""
    return mistag_on_grid(*roc_curve(scores, is_signal, weights), efficiencies)


def curve_metrics(efficiency, mistag, mistags: Sequence[float] = (0.01, 0.1)) -> dict[str, float]:
    """``"auc"`` and ``f"eff_at_mistag_{m:g}"`` of one ROC curve."""
    return {"auc": _area(efficiency, mistag)} | {
        f"eff_at_mistag_{m:g}": efficiency_at_mistag(efficiency, mistag, m) for m in mistags
    }


def discriminator_curves(
    probabilities, labels, weights=None, names: Sequence[str] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The ROC curve (efficiency, mistag) of every discriminator (or of ``names``), each on its own two flavours only.

    ``probabilities`` is (n, 3) with columns p_b, p_c, p_light; ``labels`` holds
    the codes of `robusttag.features.LABELS`.

    Raises
    ------
    ResultsError
        When ``probabilities``, ``labels`` or ``weights`` have the wrong shape,
        or a discriminator's ROC curve is undefined (the message names it).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(LABELS):
        raise ResultsError(f"probabilities must have shape (n, {len(LABELS)}), got {probabilities.shape}")
    if labels.shape != probabilities.shape[:1]:
        raise ResultsError(f"labels must have shape ({probabilities.shape[0]},), got {labels.shape}")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != labels.shape:
            raise ResultsError(f"weights must have shape {labels.shape}, got {weights.shape}")
    curves = {}
    for name in DISCRIMINATORS if names is None else names:
        signal_label, background_label = DISCRIMINATORS[name]
        selected = (labels == signal_label) | (labels == background_label)
        p = probabilities[selected]
        scores = discriminant(p[:, signal_label], p[:, background_label])
        try:
            curves[name] = roc_curve(
                scores, labels[selected] == signal_label, None if weights is None else weights[selected]
            )
        except ResultsError as err:
            raise ResultsError(f"{name}: {err}") from err
    return curves


def discriminator_metrics(
    probabilities, labels, weights=None, mistags: Sequence[float] = (0.01, 0.1)
) -> dict[str, dict[str, float]]:
    """AUC and efficiency at each mistag for every discriminator, each on its own two flavours only.

    Result keys per discriminator: ``"auc"`` and ``f"eff_at_mistag_{m:g}"``
    (e.g. ``"eff_at_mistag_0.01"``); see :func:`discriminator_curves`.

    Raises
    ------
    ResultsError
        As :func:`discriminator_curves`.
    """
    curves = discriminator_curves(probabilities, labels, weights)
    return {name: curve_metrics(*curve, mistags) for name, curve in curves.items()}


# ---------------------------------------------------------------------------
# Working points at a fixed cut (the analyst's definition)
# ---------------------------------------------------------------------------


#: the working points' target mistag rates (light for BvsL and CvsL, c for BvsC)
WORKING_POINT_MISTAGS = (0.01, 0.1)


def working_point_cuts(probabilities, labels, mistags, weights=None) -> dict[tuple[str, float], float]:
    """{(discriminator, target mistag): cut} fixed on raw scores: (jets, 3) probabilities and their flavours.

    A discriminator without jets of both its flavours gets no cut (and no working point).
    """
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    cuts = {}
    for disc, (signal, background) in DISCRIMINATORS.items():
        both = (labels == signal) | (labels == background)
        if not ((labels == signal).any() and (labels == background).any()):
            continue
        scores = discriminant(probabilities[both, signal], probabilities[both, background])
        w = None if weights is None else np.asarray(weights)[both]
        for target in mistags:
            cuts[disc, target] = cut_at_mistag(scores, labels[both] == signal, target, w)
    return cuts


def cut_at_mistag(scores, is_signal, target: float, weights=None) -> float:
    """The lowest threshold (tag if score >= t) whose background mistag rate does not exceed ``target``.

    Fixed once on a reference sample (raw validation jets), the cut is then
    applied unchanged to other samples (:func:`tagged_fraction`): the working
    point as an analysis uses it, unlike :func:`efficiency_at_mistag`, which
    re-tunes the cut on each sample. A group of equal background scores is
    tagged or not as a whole, so the mistag reached may lie below ``target``.

    Raises
    ------
    ResultsError
        When the inputs are malformed or there is no background weight.
    """
    scores, is_signal, weights = _check_inputs(scores, is_signal, weights)
    background = scores[~is_signal]
    w = np.ones(background.size) if weights is None else weights[~is_signal]
    if not w.sum() > 0:
        raise ResultsError("no background jets (or zero total background weight): no cut at a mistag rate")
    order = np.argsort(background)[::-1]
    descending, fraction = background[order], np.cumsum(w[order]) / w.sum()
    # the fraction tagged by a cut at a score counts every jet of that score: take the last of each group
    group_ends = np.append(np.flatnonzero(np.diff(descending)), descending.size - 1)
    over = group_ends[fraction[group_ends] > target]
    if over.size == 0:
        return float("-inf")  # every background jet may be tagged
    return float(np.nextafter(descending[over[0]], np.inf))  # just above the first group that would exceed it


def tagged_fraction(scores, cut: float, weights=None) -> float:
    """The (weighted) fraction of jets with score >= ``cut`` (NaN without weight)."""
    scores = np.asarray(scores, dtype=np.float64)
    w = np.ones(scores.size) if weights is None else np.asarray(weights, dtype=np.float64)
    total = w.sum()
    return float(w[scores >= cut].sum() / total) if total > 0 else float("nan")
