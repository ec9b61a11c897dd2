"""What the per-jet distances to the working points say, without an eps to choose.

From the distance files (:mod:`robusttag.distances`), per training and
working point (discriminator, mistag target): a signal jet tagged on the raw
sample is lost at its distance, a background jet not tagged becomes a
mistag at its distance. So the fixed-cut efficiency and mistag rate under
the attack at any eps follow from the distances alone:

- ``eps_mistag_doubles``: the smallest eps at which the mistag rate is twice
  the raw one;
- ``eps_efficiency_minus_10pct``: the smallest eps at which the efficiency
  has fallen by a tenth of itself;
- ``tagged_signal_within_0.01`` and ``_0.05``: the fraction of tagged signal
  jets that an eps of 0.01 (0.05) moves below the cut;
- the median distance of tagged signal jets and of untagged background jets.

inf where it does not happen within the search's largest eps (NaN for the
mistag rate's doubling where no background jet is tagged raw). Per flavour and
jet pT bin (``distance_bins``): the jets, the median distance and the
fractions within 0.01 and 0.05.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import DISCRIMINATORS

KEYS = ("model", "seed", "epoch", "discriminator", "mistag_target")
#: the eps at which the fractions of jets moved across are quoted
WITHIN = (0.01, 0.05)
SUMMARY_COLUMNS = (
    *KEYS,
    "tagged_signal_jets",
    "untagged_background_jets",
    "eps_mistag_doubles",
    "eps_efficiency_minus_10pct",
    *(f"tagged_signal_within_{eps:g}" for eps in WITHIN),
    "median_signal_distance",
    "median_background_distance",
)
BIN_COLUMNS = (
    *KEYS,
    "flavour",
    "pt_low",
    "pt_high",
    "jets",
    "median_distance",
    *(f"within_{eps:g}" for eps in WITHIN),
)


def read_distances(files) -> pd.DataFrame:
    """The distance files of a study, one frame (empty without files)."""
    frames = [pd.read_parquet(f) for f in files]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def smallest_eps_reaching(distances: np.ndarray, weights: np.ndarray, needed: float) -> float:
    """The smallest eps at which the jets with 0 < distance <= eps weigh at least ``needed`` (inf if never).

    ``needed`` <= 0 gives 0: nothing has to move.
    """
    if needed <= 0:
        return 0.0
    moving = (distances > 0) & np.isfinite(distances)
    order = np.argsort(distances[moving], kind="stable")
    reached = np.cumsum(weights[moving][order]) >= needed * (1 - 1e-12)
    return float(distances[moving][order][reached.argmax()]) if reached.any() else float("inf")


def distance_summary(distances: pd.DataFrame, weighted: bool) -> pd.DataFrame:
    """One row per training and working point: the eps-free numbers of the module's docstring."""
    rows = []
    if not len(distances):
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    for key, jets in distances.groupby(list(KEYS), sort=False, observed=True):
        signal, _ = DISCRIMINATORS[key[3]]
        d = jets["distance"].to_numpy(np.float64)
        w = jets["weight"].to_numpy(np.float64) if weighted else np.ones(len(jets))
        is_signal = jets["label"].to_numpy() == signal
        tagged = is_signal & (d > 0)
        mistags = ~is_signal & (d == 0)
        untagged = ~is_signal & (d > 0)
        row = dict(zip(KEYS, key))
        row["tagged_signal_jets"], row["untagged_background_jets"] = int(tagged.sum()), int(untagged.sum())
        raw_mistags = w[mistags].sum()  # none: "twice none" is no rate to reach (NaN)
        doubled = smallest_eps_reaching(d[untagged], w[untagged], raw_mistags) if raw_mistags > 0 else np.nan
        row["eps_mistag_doubles"] = doubled
        row["eps_efficiency_minus_10pct"] = smallest_eps_reaching(d[tagged], w[tagged], 0.1 * w[tagged].sum())
        for eps in WITHIN:
            row[f"tagged_signal_within_{eps:g}"] = _fraction_within(d[tagged], w[tagged], eps)
        row["median_signal_distance"] = _median(d[tagged])
        row["median_background_distance"] = _median(d[untagged])
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def distance_bins(distances: pd.DataFrame, weighted: bool, pt_bins) -> pd.DataFrame:
    """Per training, working point, flavour (tagged signal, untagged background) and jet pT bin."""
    rows = []
    if not len(distances):
        return pd.DataFrame(columns=BIN_COLUMNS)
    edges = list(pt_bins)
    for key, jets in distances.groupby(list(KEYS), sort=False, observed=True):
        signal, _ = DISCRIMINATORS[key[3]]
        d = jets["distance"].to_numpy(np.float64)
        w = jets["weight"].to_numpy(np.float64) if weighted else np.ones(len(jets))
        pt = jets["raw_jet_pt"].to_numpy(np.float64)
        is_signal = jets["label"].to_numpy() == signal
        for flavour, chosen in (("signal", is_signal & (d > 0)), ("background", ~is_signal & (d > 0))):
            for low, high in zip(edges, edges[1:]):
                inside = chosen & (pt >= low) & (pt < high)
                row = dict(zip(KEYS, key)) | {"flavour": flavour, "pt_low": low, "pt_high": high}
                row |= {"jets": int(inside.sum()), "median_distance": _median(d[inside])}
                for eps in WITHIN:
                    row[f"within_{eps:g}"] = _fraction_within(d[inside], w[inside], eps)
                rows.append(row)
    return pd.DataFrame(rows, columns=BIN_COLUMNS)


def _fraction_within(distances: np.ndarray, weights: np.ndarray, eps: float) -> float:
    total = weights.sum()
    return float(weights[distances <= eps].sum() / total) if total > 0 else float("nan")


def _median(distances: np.ndarray) -> float:
    return float(np.median(distances)) if len(distances) else float("nan")


CURVE_COLUMNS = (*KEYS, "epsilon", "signal_lost", "mistag_ratio")
#: points of the curves, log-spaced from the smallest eps shown to the largest distance found
CURVE_POINTS, CURVE_SMALLEST = 40, 1e-3


def distance_curves(distances: pd.DataFrame, weighted: bool) -> pd.DataFrame:
    """The fixed-cut efficiency loss and mistag rate against eps, from the distances alone.

    Per training and working point on a log grid of eps: ``signal_lost``, the fraction of tagged
    signal jets moved below the cut, and ``mistag_ratio``, the mistag rate over the raw one.
    """
    if not len(distances):
        return pd.DataFrame(columns=CURVE_COLUMNS)
    finite = distances["distance"][np.isfinite(distances["distance"])]
    largest = max(float(finite.max()) if len(finite) else 0.0, 2 * CURVE_SMALLEST)
    grid = np.geomspace(CURVE_SMALLEST, largest, CURVE_POINTS)
    frames = []
    for key, jets in distances.groupby(list(KEYS), sort=False, observed=True):
        signal, _ = DISCRIMINATORS[key[3]]
        d = jets["distance"].to_numpy(np.float64)
        w = jets["weight"].to_numpy(np.float64) if weighted else np.ones(len(jets))
        is_signal = jets["label"].to_numpy() == signal
        tagged, untagged = is_signal & (d > 0), ~is_signal & (d > 0)
        raw_mistags = w[~is_signal & (d == 0)].sum()
        lost = np.array([w[tagged & (d <= eps)].sum() for eps in grid]) / max(w[tagged].sum(), 1e-300)
        gained = np.array([w[untagged & (d <= eps)].sum() for eps in grid])
        ratio = (raw_mistags + gained) / raw_mistags if raw_mistags > 0 else np.full(len(grid), np.nan)
        frame = pd.DataFrame({"epsilon": grid, "signal_lost": lost, "mistag_ratio": ratio})
        for name, value in zip(KEYS, key):
            frame[name] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)]
