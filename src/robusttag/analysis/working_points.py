"""Working points as analyses use them: a cut fixed on raw validation jets, applied unchanged to attacked test jets.

For every discriminator and target mistag rate (light for BvsL and CvsL, c
for BvsC) the cut is fixed on the model's raw scores of the validation split
(:func:`.metrics.cut_at_mistag`). On the test jets, raw and under every
attack, the same cut gives an efficiency and a mistag rate, the tagged
fraction of the third flavour (``other``: c jets for BvsL, b for CvsL, light
for BvsC; an analysis tags them too), and the scale factors SF = attacked /
raw of all three: the shift a calibration would have to absorb if data
differed from simulation as the attack does. (The paper's
arithmetic re-tunes the cut on each attacked sample instead: the AUC table's
``eff_at_mistag_*``.) Errors come from the same paired bootstrap as the AUC's
(:mod:`.uncertainties`), the cut held fixed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ..config import aimed_at
from ..metrics import DISCRIMINATORS, discriminant, tagged_fraction, working_point_cuts
from .uncertainties import Bootstrap, resampled_efficiencies, standard_error

IDENTITY = ("model", "seed", "epoch", "attack", "attack_source", "epsilon", "discriminator")
_CHECKPOINT, _ATTACK, _EPSILON = slice(0, 3), 3, 5  #: positions in a curve's key (IDENTITY without discriminator)
COLUMNS = (
    *IDENTITY,
    "mistag_target",
    "cut",
    "efficiency",
    "efficiency_err",
    "mistag",
    "mistag_err",
    "sf_efficiency",
    "sf_efficiency_err",
    "sf_mistag",
    "sf_mistag_err",
    "other_efficiency",
    "other_efficiency_err",
    "sf_other",
    "sf_other_err",
)
BIN_COLUMNS = (
    *IDENTITY[:-1],
    "discriminator",
    "mistag_target",
    "pt_low",
    "pt_high",
    "abs_eta_low",
    "abs_eta_high",
    "signal_jets",
    "background_jets",
    "other_jets",
    "efficiency",
    "mistag",
    "other_efficiency",
    "sf_efficiency",
    "sf_efficiency_err",
    "sf_mistag",
    "sf_mistag_err",
    "sf_other",
    "sf_other_err",
)
#: the flavour of each discriminator's jets that is neither its signal nor its background
OTHER_FLAVOUR = {disc: ({0, 1, 2} - set(pair)).pop() for disc, pair in DISCRIMINATORS.items()}


def validation_cuts(validation: pd.DataFrame, mistags, weighted: bool) -> dict[tuple, float]:
    """{((model, seed, epoch), discriminator, target mistag): cut} from raw validation scores (score-file columns).

    A discriminator without validation jets of both its flavours gets no cut (and no working point).
    """
    cuts = {}
    for checkpoint, jets in validation.groupby(list(IDENTITY[_CHECKPOINT]), observed=True):
        p, labels = jets[["p_b", "p_c", "p_light"]].to_numpy(), jets["label"].to_numpy()
        weights = jets["weight"].to_numpy(np.float64) if weighted else None
        for (disc, target), cut in working_point_cuts(p, labels, mistags, weights).items():
            cuts[checkpoint, disc, target] = cut
    return cuts


class _Curve:
    """One discriminator's scores of the test jets of one scored attack, their flavours (signal, background,
    other) and weights.
    """

    def __init__(self, probabilities, labels, weights, disc: str) -> None:
        signal, background = DISCRIMINATORS[disc]
        self.scores = discriminant(probabilities[:, signal], probabilities[:, background])
        self.flavours = [labels == flavour for flavour in (signal, background, OTHER_FLAVOUR[disc])]
        self.weights = weights

    def counts(self, keep: np.ndarray) -> tuple[int, int, int]:
        """The jets of each flavour that ``keep`` flags."""
        return tuple(int((flavour & keep).sum()) for flavour in self.flavours)

    def fractions(self, cut: float, keep: np.ndarray | None, bootstrap: Bootstrap | None):
        """((efficiency, mistag, other), their resampled values or None) at the cut, on the jets ``keep`` flags."""
        values, replicas = [], []
        for flavour in self.flavours:
            chosen = flavour if keep is None else flavour & keep
            w = None if self.weights is None else self.weights[chosen]
            passes = self.scores[chosen] >= cut
            values.append(tagged_fraction(self.scores[chosen], cut, w))
            replicas.append(
                None if bootstrap is None else resampled_efficiencies(bootstrap, np.flatnonzero(chosen), passes, w)
            )
        return values, replicas


def fixed_cut_tables(
    scores: pd.DataFrame,
    groups,
    validation: pd.DataFrame,
    mistags,
    weighted: bool,
    bootstrap: Bootstrap | None,
    kinematics: pd.DataFrame | None = None,
    pt_bins=(),
    abs_eta_bins=(),
    bin_epsilon: float | None = None,
    threads: int = 1,
    scale_factor_replicas: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(working points, scale factors per bin) of every scored curve of a (model, seed, epoch) with validation scores.

    ``groups`` are the (key, row positions) of the score table's curves (as
    ``tables._groups`` gives them; every group holds the test jets in order).
    ``kinematics`` holds ``raw_jet_pt`` and ``raw_jet_eta`` of the test jets
    (in their order) for the per-bin table at ``pt_bins`` x ``abs_eta_bins``,
    which holds the raw jets and the attacks at ``bin_epsilon`` (all eps if None).
    The curves are computed ``threads`` at a time, the raw ones (the scale
    factors' reference) first; the result does not depend on it.
    ``scale_factor_replicas``, when given, receives {(*identity, mistag target):
    (resampled SF_eff, resampled SF_mistag)} of every working point (with a bootstrap).
    """
    cuts = validation_cuts(validation, mistags, weighted)
    probabilities = scores[["p_b", "p_c", "p_light"]].to_numpy()
    labels, weights = scores["label"].to_numpy(), scores["weight"].to_numpy(np.float64) if weighted else None
    bins = _bins(kinematics, pt_bins, abs_eta_bins)
    checkpoints = {checkpoint for checkpoint, *_ in cuts}
    keyed = [(key, positions) for key, positions in groups if key[_CHECKPOINT] in checkpoints]
    raw_of: dict[tuple, tuple] = {}

    def rows_of(group):
        key, positions = group
        checkpoint, attack = key[_CHECKPOINT], key[_ATTACK]
        aim, rows, bin_rows, references = aimed_at(attack), [], [], {}
        for disc in DISCRIMINATORS if aim is None else [aim]:
            if (checkpoint, disc, mistags[0]) not in cuts:
                continue
            group_weights = None if weights is None else weights[positions]
            curve = _Curve(probabilities[positions], labels[positions], group_weights, disc)
            binned = attack == "raw" or bin_epsilon is None or np.isclose(key[_EPSILON], bin_epsilon)
            for target in mistags:
                cut, identity = cuts[checkpoint, disc, target], (*key, disc, target)
                for edges, keep in [(None, None), *(bins if binned else ())]:
                    values, replicas = curve.fractions(cut, None if keep is None else keep, bootstrap)
                    reference = (checkpoint, disc, target, edges)
                    if attack == "raw":
                        references[reference] = (values, replicas)
                    raw = references.get(reference) or raw_of[reference]
                    if edges is None:
                        rows.append(_row(identity, cut, values, replicas, raw))
                        if scale_factor_replicas is not None and replicas[0] is not None:
                            with np.errstate(divide="ignore", invalid="ignore"):
                                ratios = tuple(r / reference for r, reference in zip(replicas, raw[1]))
                            scale_factor_replicas[identity] = ratios
                    else:
                        counts = curve.counts(keep)
                        bin_rows.append(_bin_row(identity, edges, counts, values, replicas, raw))
        return rows, bin_rows, references

    with ThreadPoolExecutor(max(1, threads)) as pool:
        raw = list(pool.map(rows_of, [g for g in keyed if g[0][_ATTACK] == "raw"]))
        for _, _, references in raw:
            raw_of.update(references)
        attacked = list(pool.map(rows_of, [g for g in keyed if g[0][_ATTACK] != "raw"]))
    results = raw + attacked
    return (
        pd.DataFrame([row for rows, _, _ in results for row in rows], columns=COLUMNS),
        pd.DataFrame([row for _, rows, _ in results for row in rows], columns=BIN_COLUMNS),
    )


def _in_bins(values: np.ndarray, edges) -> list[tuple[float, float, np.ndarray]]:
    """[(low, high, mask)] of the bins [low, high) of ``edges``, the last closed: [low, high]
    (a jet exactly at the top edge, e.g. |eta| = 2.5, is in the last bin; one beyond it in none).
    """
    last = len(edges) - 2
    return [
        (low, high, (values >= low) & ((values <= high) if i == last else (values < high)))
        for i, (low, high) in enumerate(zip(edges[:-1], edges[1:]))
    ]


def _bins(kinematics, pt_bins, abs_eta_bins):
    """[((pt_low, pt_high, eta_low, eta_high), jet mask)] of the (pT, |eta|) bins (see :func:`_in_bins`)."""
    if kinematics is None or len(pt_bins) < 2 or len(abs_eta_bins) < 2:
        return []
    pt, abs_eta = kinematics["raw_jet_pt"].to_numpy(), np.abs(kinematics["raw_jet_eta"].to_numpy())
    out = []
    for pt_low, pt_high, in_pt in _in_bins(pt, pt_bins):
        for eta_low, eta_high, in_eta in _in_bins(abs_eta, abs_eta_bins):
            out.append(((pt_low, pt_high, eta_low, eta_high), in_pt & in_eta))
    return out


def _scale_factor(value: float, replica, reference: float, reference_replica) -> tuple[float, float]:
    """(attacked / raw, its error from the same resamples of both)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = value / reference if reference > 0 else np.nan
        error = np.nan if replica is None else standard_error(replica / reference_replica)
    return ratio, error


def _scale_factors(values, replicas, raw) -> list[tuple[float, float]]:
    """Each flavour's (SF, its error): efficiency, mistag, other."""
    return [_scale_factor(v, r, raw_v, raw_r) for v, r, raw_v, raw_r in zip(values, replicas, *raw)]


def _row(identity, cut, values, replicas, raw) -> dict:
    errors = [np.nan if r is None else standard_error(r) for r in replicas]
    (sf_eff, sf_mistag, sf_other), rates = _scale_factors(values, replicas, raw), list(zip(values, errors))
    return dict(zip(COLUMNS, (*identity, cut, *rates[0], *rates[1], *sf_eff, *sf_mistag, *rates[2], *sf_other)))


def _bin_row(identity, edges, counts, values, replicas, raw) -> dict:
    sf_eff, sf_mistag, sf_other = _scale_factors(values, replicas, raw)
    return dict(zip(BIN_COLUMNS, (*identity, *edges, *counts, *values, *sf_eff, *sf_mistag, *sf_other)))
