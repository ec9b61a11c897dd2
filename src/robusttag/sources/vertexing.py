"""Vertices from reconstructed tracks, for the Pythia source: the primary vertex of each event (an adaptive fit
with the beam spot as a constraint) and a secondary vertex per jet (two-track seeds from displaced tracks,
K0S and Lambda candidates vetoed, the seeds' tracks merged and refitted with annealed adaptive weights).

Tracks are helices: the distance of a track to a point is computed on its circle in the transverse plane and
the fits linearise it around their current estimate (Gauss-Newton), so that a K0S decaying 10 cm out is fitted
as well as a B decaying 2 mm out. Nothing here sees a truth vertex: they would leak the label.

Units: mm, GeV, radians. Track parameters are the perigee's (:mod:`.tracker`) at the beam line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tracker import MM_PER_GEV

#: The luminous region's transverse width (mm): the primary vertex's constraint, as the generator's spread
BEAM_SPOT_WIDTH = 0.015
#: The adaptive fit's cut-off (a track of chi2 9 gets weight 1/2 at T = 1) and its annealing temperatures
CHI2_CUT = 9.0
TEMPERATURES = (256.0, 64.0, 16.0, 4.0, 1.0, 1.0, 1.0)
#: Steps of the plain (unit-weight) fit of two-track seeds
SEED_STEPS = 4
#: A vertex's tracks: weight above this
MIN_WEIGHT = 0.5
#: A track seeds secondary vertices beyond this transverse impact-parameter significance
SEED_SIGNIFICANCE = 2.0
#: Two-track seeds: fit quality, and how far out a vertex may lie (mm, transversely)
SEED_MAX_CHI2, MAX_RADIUS = 9.0, 300.0
#: Masses (GeV) and windows of the vetoed two-track vertices: K0S -> pi pi, Lambda -> p pi, photon -> e e
PION, PROTON, ELECTRON = 0.13957, 0.93827, 0.000511
K0S_MASS, K0S_WINDOW = 0.49761, 0.015
LAMBDA_MASS, LAMBDA_WINDOW = 1.11568, 0.008
CONVERSION_MAX_MASS = 0.03
#: A weak prior (mm^-2) that keeps a fit's matrix invertible along directions the tracks do not constrain
WEAK_PRIOR = 1e-8


@dataclass(frozen=True)
class Tracks:
    """Reconstructed tracks, flat: the perigee parameters at the beam line and their quoted variances of d0 and
    z0 (the fits use those two: the angles are far better known than the vertex they point to).
    """

    d0: np.ndarray
    z0: np.ndarray
    phi: np.ndarray
    theta: np.ndarray
    qoverp: np.ndarray
    var_d0: np.ndarray
    var_z0: np.ndarray

    def take(self, index) -> Tracks:
        return Tracks(*(getattr(self, name)[index] for name in self.__dataclass_fields__))

    @property
    def charge(self) -> np.ndarray:
        return np.sign(self.qoverp)

    @property
    def momentum(self) -> np.ndarray:
        """(n, 3) at the perigee."""
        p = 1.0 / np.abs(self.qoverp)
        pt = p * np.sin(self.theta)
        return np.stack([pt * np.cos(self.phi), pt * np.sin(self.phi), p * np.cos(self.theta)], axis=1)


def residuals(tracks: Tracks, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each track's signed distances to ``point`` (n x 3), transverse (d0 with ``point`` as origin) and
    longitudinal (z of its point of closest approach minus the point's), and their derivatives with respect
    to the point (n x 2 x 3).
    """
    charge = tracks.charge
    radius = np.sin(tracks.theta) / np.abs(tracks.qoverp) * MM_PER_GEV
    across = np.stack([np.sin(tracks.phi), -np.cos(tracks.phi)], axis=1)  # from the beam line to the perigee
    centre = (tracks.d0 + charge * radius)[:, None] * across
    to_point = point[:, :2] - centre
    distance = np.hypot(to_point[:, 0], to_point[:, 1])
    d0 = charge * (distance - radius)
    outward = to_point / distance[:, None]  # from the centre towards the point's closest approach
    start = -charge[:, None] * across  # from the centre towards the perigee
    turned = np.arctan2(start[:, 0] * outward[:, 1] - start[:, 1] * outward[:, 0], (start * outward).sum(axis=1))
    cot_theta = 1.0 / np.tan(tracks.theta)
    z = tracks.z0 - charge * turned * radius * cot_theta - point[:, 2]
    tangent = charge[:, None] * np.stack([outward[:, 1], -outward[:, 0]], axis=1)
    jacobian = np.zeros((len(d0), 2, 3))
    jacobian[:, 0, :2] = charge[:, None] * outward
    jacobian[:, 1, :2] = cot_theta[:, None] * tangent
    jacobian[:, 1, 2] = -1.0
    return np.stack([d0, z], axis=1), jacobian


def momentum_at(tracks: Tracks, point: np.ndarray) -> np.ndarray:
    """Each track's momentum (n x 3) where it passes closest to its ``point`` (n x 3): turned on its circle from
    the perigee (a 2 GeV pion produced 20 mm out turns by 7 mrad: enough to move a K0S's mass out of its peak).
    """
    charge = tracks.charge
    radius = np.sin(tracks.theta) / np.abs(tracks.qoverp) * MM_PER_GEV
    across = np.stack([np.sin(tracks.phi), -np.cos(tracks.phi)], axis=1)
    centre = (tracks.d0 + charge * radius)[:, None] * across
    outward = point[:, :2] - centre
    outward /= np.hypot(outward[:, 0], outward[:, 1])[:, None]
    phi = np.arctan2(-charge * outward[:, 0], charge * outward[:, 1])
    p = 1.0 / np.abs(tracks.qoverp)
    pt = p * np.sin(tracks.theta)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), p * np.cos(tracks.theta)], axis=1)


@dataclass(frozen=True)
class Fit:
    """Vertices fitted to groups of tracks: each group's position and covariance, each track's chi2 to its
    group's vertex and weight (1 in a plain fit), and each group's total chi2.
    """

    position: np.ndarray
    covariance: np.ndarray
    chi2: np.ndarray
    weight: np.ndarray
    total_chi2: np.ndarray


def fit(
    tracks: Tracks,
    group: np.ndarray,
    start: np.ndarray,
    temperatures=None,
    prior: np.ndarray | None = None,
    steps: int = SEED_STEPS,
) -> Fit:
    """One vertex per group of tracks (``group``: each track's group, 0 .. len(start) - 1), from ``start``: a
    plain least-squares fit (``steps`` Gauss-Newton steps) or, with ``temperatures``, an adaptive one (one step
    per temperature, each track weighted 1 / (1 + exp((chi2 - 9) / 2T)), so that outliers fade out as T falls).
    ``prior``: information (n x 3 x 3, mm^-2) pulling each vertex towards the origin (the beam spot).
    """
    n = len(start)
    position = np.array(start, dtype=float)
    information = np.zeros((n, 3, 3)) if prior is None else np.array(prior, dtype=float)
    information += WEAK_PRIOR * np.eye(3)
    inverse_var = np.stack([1.0 / tracks.var_d0, 1.0 / tracks.var_z0], axis=1)
    schedule = list(temperatures) if temperatures is not None else [None] * steps
    weight = np.ones(len(group))
    for temperature in schedule:
        r, jacobian = residuals(tracks, position[group])
        if temperature is not None:
            weight = _adaptive_weight((r**2 * inverse_var).sum(axis=1), temperature)
        weighted = jacobian * (weight[:, None] * inverse_var)[:, :, None]  # W J
        matrix = _summed(np.einsum("nki,nkj->nij", weighted, jacobian), group, n) + information
        gradient = _summed(np.einsum("nki,nk->ni", weighted, r), group, n)
        gradient += np.einsum("nij,nj->ni", information - WEAK_PRIOR * np.eye(3), position)
        position = position - np.linalg.solve(matrix, gradient[:, :, None])[:, :, 0]
    r, jacobian = residuals(tracks, position[group])
    chi2 = (r**2 * inverse_var).sum(axis=1)
    if temperatures is not None:
        weight = _adaptive_weight(chi2, schedule[-1])
    weighted = jacobian * (weight[:, None] * inverse_var)[:, :, None]
    matrix = _summed(np.einsum("nki,nkj->nij", weighted, jacobian), group, n) + information
    total = np.bincount(group, weight * chi2, minlength=n)
    return Fit(position, np.linalg.inv(matrix), chi2, weight, total)


def _adaptive_weight(chi2: np.ndarray, temperature: float) -> np.ndarray:
    return 0.5 * (1.0 - np.tanh((chi2 - CHI2_CUT) / (4.0 * temperature)))  # = 1 / (1 + exp((chi2 - cut) / 2T))


def _summed(values: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Per group, the sum of its tracks' ``values`` (any trailing shape)."""
    flat = values.reshape(len(values), int(np.prod(values.shape[1:])))
    sums = np.stack([np.bincount(group, flat[:, k], minlength=n) for k in range(flat.shape[1])], axis=1).astype(float)
    return sums.reshape((n, *values.shape[1:]))


def compatibility_weight(tracks: Tracks, point: np.ndarray) -> np.ndarray:
    """Each track's adaptive weight (at T = 1) with respect to its ``point`` (n x 3): how well it fits there."""
    r, _ = residuals(tracks, point)
    return _adaptive_weight(r[:, 0] ** 2 / tracks.var_d0 + r[:, 1] ** 2 / tracks.var_z0, 1.0)


# ---------------------------------------------------------------------------
# The primary vertex
# ---------------------------------------------------------------------------

#: Tracks of the primary vertex's fit: pT above this (GeV), |d0| below this (mm), as the real dataset's
PRIMARY_MIN_PT, PRIMARY_MAX_D0 = 0.5, 1.0


def primary_vertices(tracks: Tracks, event: np.ndarray, n_events: int) -> Fit:
    """Each event's primary vertex: an adaptive fit of its tracks above 0.5 GeV with |d0| < 1 mm, constrained
    transversely by the beam spot, started at the tracks' median z0 (``event``: each track's event, sorted).
    An event without such tracks gets the beam spot's centre at z = 0.
    """
    pt = np.sin(tracks.theta) / np.abs(tracks.qoverp)
    use = np.flatnonzero((pt > PRIMARY_MIN_PT) & (np.abs(tracks.d0) < PRIMARY_MAX_D0))
    start = np.zeros((n_events, 3))
    start[:, 2] = _median_by_group(tracks.z0[use], event[use], n_events)
    prior = np.zeros((n_events, 3, 3))
    prior[:, 0, 0] = prior[:, 1, 1] = 1.0 / BEAM_SPOT_WIDTH**2
    return fit(tracks.take(use), event[use], start, TEMPERATURES, prior)


def _median_by_group(values: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    order = np.lexsort((values, group))
    counts = np.bincount(group, minlength=n)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    middle = order[np.minimum(first + counts // 2, max(len(order) - 1, 0))] if len(order) else np.zeros(n, int)
    return np.where(counts > 0, values[middle] if len(values) else 0.0, 0.0)


# ---------------------------------------------------------------------------
# Secondary vertices
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SecondaryVertices:
    """At most one vertex per jet: which jets have one, its position and covariance, and each track's membership
    (True for the tracks of its jet's vertex).
    """

    found: np.ndarray
    position: np.ndarray
    covariance: np.ndarray
    member: np.ndarray


def invariant_mass(momenta: np.ndarray, masses) -> np.ndarray:
    """The invariant mass of particles (... x k x 3 momenta, k masses) summed over the second-to-last axis."""
    energy = np.sqrt((momenta**2).sum(axis=-1) + np.asarray(masses) ** 2).sum(axis=-1)
    total = momenta.sum(axis=-2)
    return np.sqrt(np.maximum(energy**2 - (total**2).sum(axis=-1), 0.0))


def _is_v0(tracks: Tracks, first: np.ndarray, second: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Two-track vertices (at ``position``) of opposite charges whose mass is a K0S's, a Lambda's (the faster
    track the proton) or a photon conversion's.
    """
    pair = np.stack([momentum_at(tracks.take(first), position), momentum_at(tracks.take(second), position)], axis=1)
    opposite = tracks.charge[first] != tracks.charge[second]
    faster_first = np.abs(tracks.qoverp[first]) < np.abs(tracks.qoverp[second])
    proton_first = np.where(faster_first[:, None], [PROTON, PION], [PION, PROTON])
    k0s = np.abs(invariant_mass(pair, [PION, PION]) - K0S_MASS) < K0S_WINDOW
    energy = np.sqrt((pair**2).sum(axis=-1) + proton_first**2).sum(axis=-1)
    lam = np.abs(np.sqrt(np.maximum(energy**2 - (pair.sum(axis=1) ** 2).sum(axis=-1), 0)) - LAMBDA_MASS)
    photon = invariant_mass(pair, [ELECTRON, ELECTRON]) < CONVERSION_MAX_MASS
    return opposite & (k0s | (lam < LAMBDA_WINDOW) | photon)


def secondary_vertices(
    tracks: Tracks, jet: np.ndarray, n_jets: int, primary: np.ndarray, significance: np.ndarray, usable: np.ndarray
) -> SecondaryVertices:
    """One secondary vertex per jet from its ``usable`` tracks.

    ``jet``: each track's jet, sorted; ``primary``: each jet's primary vertex, n_jets x 3; ``significance``:
    each track's |d0| / sigma from the primary vertex. The steps:

    1. seeds: every pair of the jet's tracks beyond 2 sigma, fitted to a point; kept when chi2 < 9, within
       300 mm of the beam line, downstream of the primary vertex along the pair's momentum, and no K0S,
       Lambda or photon conversion;
    2. the tracks of the kept seeds fitted together with annealed adaptive weights, started at the seeds'
       mean position; the vertex's tracks are those with weight > 0.5, at least two.
    """
    candidate = np.flatnonzero(usable & (significance > SEED_SIGNIFICANCE))
    first, second = same_jet_pairs(jet[candidate])
    first, second = candidate[first], candidate[second]
    seeded = _good_seeds(tracks, jet, first, second, primary)
    first, second, seed_position = first[seeded.keep], second[seeded.keep], seeded.position[seeded.keep]
    member = np.zeros(len(jet), dtype=bool)
    member[first] = member[second] = True
    start = np.zeros((n_jets, 3))
    n_seeds = np.bincount(jet[first], minlength=n_jets)
    for axis in range(3):
        start[:, axis] = np.bincount(jet[first], seed_position[:, axis], minlength=n_jets) / np.maximum(n_seeds, 1)
    chosen = np.flatnonzero(member)
    refit = fit(tracks.take(chosen), jet[chosen], start, TEMPERATURES)
    member[:] = False
    member[chosen[refit.weight > MIN_WEIGHT]] = True
    found = np.bincount(jet[member], minlength=n_jets) >= 2
    member &= found[jet]
    return SecondaryVertices(found, refit.position, refit.covariance, member)


@dataclass(frozen=True)
class _Seeds:
    keep: np.ndarray
    position: np.ndarray


def _good_seeds(tracks: Tracks, jet: np.ndarray, first: np.ndarray, second: np.ndarray, primary: np.ndarray):
    """Fit every pair; keep the good ones (:func:`secondary_vertices`, step 1)."""
    pairs = np.arange(len(first))
    both = np.concatenate([first, second])
    pca = np.stack([tracks.d0 * np.sin(tracks.phi), -tracks.d0 * np.cos(tracks.phi), tracks.z0], axis=1)
    start = 0.5 * (pca[first] + pca[second])
    seeds = fit(tracks.take(both), np.concatenate([pairs, pairs]), start)
    position = seeds.position
    flight = position - primary[jet[first]]
    momentum = tracks.momentum[first] + tracks.momentum[second]
    keep = (
        (seeds.total_chi2 < SEED_MAX_CHI2)
        & (np.hypot(position[:, 0], position[:, 1]) < MAX_RADIUS)
        & ((flight * momentum).sum(axis=1) > 0)
        & ~_is_v0(tracks, first, second, position)
    )
    return _Seeds(keep, position)


def same_jet_pairs(jet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) of positions with the same ``jet`` (sorted), as two index arrays."""
    counts = np.bincount(jet) if len(jet) else np.zeros(0, int)
    first_of = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else np.zeros(0, int)
    after = first_of[jet] + counts[jet] - 1 - np.arange(len(jet))  # later tracks of the same jet
    first = np.repeat(np.arange(len(jet)), after)
    within = np.arange(after.sum()) - np.repeat(np.cumsum(after) - after, after)
    return first, first + 1 + within
