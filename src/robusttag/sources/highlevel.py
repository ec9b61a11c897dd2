"""What the generators share: the high-level tracking features computed from a jet's tracks as the real
dataset defines them, the precision its file prints, and its order of tracks.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfc, gammaincc

from ..features import JET_TRACKING, TRACK_FIELDS
from ..jets import JetBatch

#: A track counts towards ``n_tracks_over_d0_threshold`` beyond this signed d0 significance
D0_SIGNIFICANCE_THRESHOLD = 1.8


def tracking_features(
    jet: np.ndarray,
    d0_significance: np.ndarray,
    z0_significance: np.ndarray,
    pt: np.ndarray,
    delta_eta: np.ndarray,
    delta_phi: np.ndarray,
    n: int,
) -> dict[str, np.ndarray]:
    """The eight tracking features of ``n`` jets from their tracks (``jet``: each track's jet;
    ``d0_significance`` signed by the lifetime convention; the track's pT and its eta and phi from the jet
    axis): the 2nd and 3rd largest |d0| and |z0| significances (-inf when missing), the count beyond 1.8,
    JetProb, and the pT-weighted widths in eta and phi.
    """
    order = np.lexsort((-np.abs(d0_significance), jet))
    counts = np.bincount(jet, minlength=n)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out: dict[str, np.ndarray] = {}
    for rank, label in ((1, "2"), (2, "3")):
        has = counts > rank
        pick = order[np.minimum(first + rank, len(order) - 1)] if len(order) else np.zeros(n, int)
        values = (np.abs(d0_significance[pick]), np.abs(z0_significance[pick])) if len(order) else (0.0, 0.0)
        out[f"track_{label}_d0_significance"] = np.where(has, values[0], -np.inf)
        out[f"track_{label}_z0_significance"] = np.where(has, values[1], -np.inf)
    out["n_tracks_over_d0_threshold"] = np.bincount(jet, d0_significance > D0_SIGNIFICANCE_THRESHOLD, minlength=n)
    out["jet_prob"] = jet_probability(jet, d0_significance, n)
    weight = np.bincount(jet, pt, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, delta in (("jet_width_eta", delta_eta), ("jet_width_phi", delta_phi)):
            width = np.sqrt(np.bincount(jet, pt * delta**2, minlength=n) / weight)
            out[name] = np.where(counts > 0, width, -np.inf)
    return {name: out[name] for name in JET_TRACKING}


def jet_probability(jet: np.ndarray, significance: np.ndarray, n: int) -> np.ndarray:
    """ATLAS/ALEPH JetProb: probability that the positive-IP tracks all come from
    the primary vertex, Pi * sum_{k<N} (-ln Pi)^k / k! = Q(N, -ln Pi); -1 if no
    track has a positive significance.
    """
    positive = significance > 0
    track_prob = np.maximum(erfc(significance[positive] / np.sqrt(2.0)), 1e-300)
    n_positive = np.bincount(jet[positive], minlength=n)
    minus_log = -np.bincount(jet[positive], np.log(track_prob), minlength=n)
    return np.where(n_positive > 0, gammaincc(np.maximum(n_positive, 1), minus_log), -1.0)


def printed(values: np.ndarray, digits: int = 6) -> np.ndarray:
    """float32 values rounded to ``digits`` significant digits, the precision
    with which the real file prints its numbers (C++ stream default).
    """
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exponent = np.floor(np.log10(np.abs(values)))
        scale = 10.0 ** (digits - 1 - exponent)
        rounded = np.round(values * scale) / scale
    return np.where(np.isfinite(rounded), rounded, values).astype(np.float32)


def in_file_order(jets: dict, track_jet: np.ndarray, tracks: dict, n_tracks: np.ndarray) -> JetBatch:
    """Jets and tracks as the real file holds them, at its precision: each jet's primary-vertex tracks first,
    then its secondary-vertex tracks (``vertex_displacement`` > 0), each group by ascending raw d0.
    """
    order = np.lexsort((tracks["d0"], tracks["vertex_displacement"] > 0, track_jet))
    tracks = {name: printed(tracks[name][order]) for name in TRACK_FIELDS}
    jets = {name: (value if name == "flavor" else printed(value)) for name, value in jets.items()}
    offsets = np.concatenate([[0], np.cumsum(n_tracks)]).astype(np.int64)
    return JetBatch(jets, tracks, offsets)
