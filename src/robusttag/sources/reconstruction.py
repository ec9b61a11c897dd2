"""The detector of the Pythia source: a chunk's charged particles become tracks (:mod:`.tracker`), each event gets
a primary vertex and each jet its tracks and secondary vertices (:mod:`.vertexing`), and the dataset's
features are computed from them as the real dataset defines them (../shared/reference/jet-flavor-dataset.md).

Every random draw comes from streams seeded by the sample's seed and the chunk, drawn for every particle
whatever the tracker's settings: a detector variation (another :class:`~.tracker.TrackerSettings`) meets the
same generated jets with the same draws, so that it differs from the nominal detector only by what it changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..features import JET_VERTEX, PION_MASS_GEV
from ..jets import JetBatch
from . import tracker, vertexing
from .highlevel import in_file_order, tracking_features
from .pythia import JET_MAX_ABS_ETA, JET_RADIUS, TruthChunk, delta_r, read_chunk, same_event_pairs
from .uci import write_json_jets

#: A jet's tracks: within its radius, above this pT (GeV), |d0| from the primary vertex below this (mm), at most
#: this many (the hardest), as the real dataset's
TRACK_MIN_PT, TRACK_MAX_D0, MAX_TRACKS = 0.5, 8.0, 33
#: The high-level tracking features use the tracks with |d0| below this (mm)
HIGH_LEVEL_MAX_D0 = 2.0
#: Fake tracks: their pT above 0.5 GeV falls exponentially with this slope (GeV); their d0 and z0 spread (mm)
FAKE_PT_SLOPE, FAKE_D0_SPREAD, FAKE_Z0_SPREAD = 1.5, 0.5, 1.0
#: Streams of random draws of a chunk's detector simulation (spawn keys after the generator's)
_EFFICIENCY, _NOISE, _FAKES = 100, 101, 102


def _stream(seed: int, chunk: int, which: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chunk, which)))


@dataclass(frozen=True)
class JetTracks:
    """The tracks of a chunk's jets, sorted by jet: their jet, perigee (d0 and z0 from the primary vertex) and
    quoted covariance.
    """

    jet: np.ndarray
    tracks: vertexing.Tracks
    covariance: np.ndarray


NOMINAL_TRACKER = tracker.NOMINAL


def reconstruct(
    chunk: TruthChunk, seed: int, index: int, settings: tracker.TrackerSettings = NOMINAL_TRACKER
) -> JetBatch:
    """The jets of a chunk as the dataset holds them, seen through the tracker with ``settings``; ``seed`` and
    ``index`` (the sample's seed and the chunk's) seed the detector's draws.
    """
    jets = chunk.jets
    n_jets = len(jets.event)
    n_events = int(jets.event.max()) + 1 if n_jets else 0
    measured, covariance, event = _tracks(chunk, seed, index, settings)
    primary = vertexing.primary_vertices(measured, event, n_events).position
    found = _jet_tracks(chunk, measured, covariance, event, primary, seed, index, settings)
    pv = primary[jets.event]
    return _dataset_jets(chunk, found, pv, n_jets)


def _tracks(chunk: TruthChunk, seed: int, index: int, settings: tracker.TrackerSettings):
    """The chunk's reconstructed tracks (perigee at the beam line, quoted covariance) and their events."""
    particles = chunk.particles
    n = len(particles.event)
    accept = _stream(seed, index, _EFFICIENCY).random(n)
    noise = _stream(seed, index, _NOISE).standard_normal((n, 5))
    pt = np.hypot(particles.momentum[:, 0], particles.momentum[:, 1])
    eta = np.arcsinh(particles.momentum[:, 2] / pt)
    radius = np.hypot(particles.vertex[:, 0], particles.vertex[:, 1])
    keep = np.flatnonzero(accept < tracker.efficiency(pt, eta, radius, settings))
    true = tracker.perigee(particles.vertex[keep], particles.momentum[keep], particles.charge[keep])
    measured, covariance = tracker.measured(true, noise[keep], settings)
    tracks = vertexing.Tracks(
        *(getattr(measured, p) for p in tracker.PARAMETERS), covariance[:, 0, 0], covariance[:, 1, 1]
    )
    return tracks, covariance, particles.event[keep]


def _jet_tracks(chunk, measured, covariance, event, primary, seed, index, settings) -> JetTracks:
    """Each jet's tracks: the reconstructed ones nearest its axis within R, and its fakes; d0 and z0 taken from
    the primary vertex; the cuts of :data:`TRACK_MIN_PT` and :data:`TRACK_MAX_D0`, the hardest 33 kept.
    """
    jets = chunk.jets
    by_event = np.argsort(jets.event, kind="stable")
    eta = -np.log(np.tan(measured.theta / 2))
    track, near = same_event_pairs(event, jets.event[by_event])
    near = by_event[near]
    distance = delta_r(eta[track], measured.phi[track], jets.eta[near], jets.phi[near])
    close = distance < JET_RADIUS
    track, near, distance = track[close], near[close], distance[close]
    nearest = np.lexsort((distance, track))  # per track, its nearest jet first
    first = np.concatenate([[True], track[nearest][1:] != track[nearest][:-1]]) if len(track) else np.zeros(0, bool)
    track, jet = track[nearest][first], near[nearest][first]
    fakes, fake_covariance, fake_jet = _fakes(
        chunk, np.bincount(jet, minlength=len(jets.event)), primary, seed, index, settings
    )
    tracks = _joined(measured.take(track), fakes)
    jet = np.concatenate([jet, fake_jet])
    covariance = np.concatenate([covariance[track], fake_covariance])
    residual, _ = vertexing.residuals(tracks, primary[jets.event[jet]])
    tracks = vertexing.Tracks(
        residual[:, 0], residual[:, 1], *(getattr(tracks, n) for n in ("phi", "theta", "qoverp", "var_d0", "var_z0"))
    )
    pt = np.sin(tracks.theta) / np.abs(tracks.qoverp)
    inside = np.abs(-np.log(np.tan(tracks.theta / 2))) < JET_MAX_ABS_ETA
    keep = (pt >= TRACK_MIN_PT) & (np.abs(tracks.d0) < TRACK_MAX_D0) & inside
    order = np.lexsort((-pt, jet))
    order = order[keep[order]]
    rank = np.arange(len(order)) - np.searchsorted(jet[order], jet[order])
    order = order[rank < MAX_TRACKS]
    return JetTracks(jet[order], tracks.take(order), covariance[order])


def _joined(a: vertexing.Tracks, b: vertexing.Tracks) -> vertexing.Tracks:
    return vertexing.Tracks(*(np.concatenate([getattr(a, n), getattr(b, n)]) for n in a.__dataclass_fields__))


def _fakes(chunk, n_real: np.ndarray, primary: np.ndarray, seed: int, index: int, settings):
    """Fake tracks of each jet (Poisson, ``fake_rate`` per real track): random directions within R of the axis,
    a falling pT spectrum, wide d0 and z0 around the primary vertex, the covariance a real track of theirs
    would quote.
    """
    jets = chunk.jets
    rng = _stream(seed, index, _FAKES)
    count = rng.poisson(settings.fake_rate * n_real)
    jet = np.repeat(np.arange(len(count)), count)
    n = len(jet)
    pt = TRACK_MIN_PT + rng.exponential(FAKE_PT_SLOPE, n)
    radius, angle = JET_RADIUS * np.sqrt(rng.random(n)), rng.uniform(-np.pi, np.pi, n)
    eta = np.clip(jets.eta[jet] + radius * np.cos(angle), -2.49, 2.49)
    phi = np.angle(np.exp(1j * (jets.phi[jet] + radius * np.sin(angle))))
    charge = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    theta = 2 * np.arctan(np.exp(-eta))
    vertex = primary[jets.event[jet]]
    d0 = vertex[:, 0] * np.sin(phi) - vertex[:, 1] * np.cos(phi) + rng.normal(0.0, FAKE_D0_SPREAD, n)
    z0 = vertex[:, 2] + rng.normal(0.0, FAKE_Z0_SPREAD, n)
    perigee = tracker.Perigee(d0, z0, phi, theta, charge * np.sin(theta) / pt)
    covariance = tracker.covariance(perigee)
    tracks = vertexing.Tracks(d0, z0, phi, theta, perigee.qoverp, covariance[:, 0, 0], covariance[:, 1, 1])
    return tracks, covariance, jet


# ---------------------------------------------------------------------------
# The dataset's jets
# ---------------------------------------------------------------------------

#: The covariance's 15 entries in the dataset's order (row >= column of the perigee parameters)
COVARIANCE_ENTRIES = [(i, j) for i in range(5) for j in range(i + 1)]


def _dataset_jets(chunk: TruthChunk, found: JetTracks, pv: np.ndarray, n_jets: int) -> JetBatch:
    jets, t = chunk.jets, found.tracks
    j = found.jet
    momentum = t.momentum
    pt = np.hypot(momentum[:, 0], momentum[:, 1])
    eta = -np.log(np.tan(t.theta / 2))
    delta_phi = np.angle(np.exp(1j * (t.phi - jets.phi[j])))
    jet_theta = 2 * np.arctan(np.exp(-jets.eta))
    # the lifetime sign: + when the track's closest approach lies downstream of the primary vertex along the jet
    signed = np.abs(t.d0) * np.where(t.d0 * np.sin(t.phi - jets.phi[j]) >= 0, 1.0, -1.0)
    d0_significance = signed / np.sqrt(t.var_d0)
    z0_significance = t.z0 / np.sqrt(t.var_z0)
    high_level = np.abs(t.d0) < HIGH_LEVEL_MAX_D0
    features = tracking_features(
        j[high_level],
        d0_significance[high_level],
        z0_significance[high_level],
        pt[high_level],
        (eta - jets.eta[j])[high_level],
        delta_phi[high_level],
        n_jets,
    )
    vertices = _secondary_vertices(found, pv, n_jets, np.abs(d0_significance))
    arrays = {
        "d0": t.d0,
        "z0": t.z0,
        "phi": delta_phi,
        "theta": t.theta - jet_theta[j],
        "qoverp": t.qoverp,
        "weight": vertexing.compatibility_weight(t, pv[j]),
    }
    names = [row + col for row, col in ((tracker.PARAMETERS[a], tracker.PARAMETERS[b]) for a, b in COVARIANCE_ENTRIES)]
    arrays |= {name: found.covariance[:, a, b] for name, (a, b) in zip(names, COVARIANCE_ENTRIES)}
    arrays |= _track_vertex_fields(vertices, jets, j, momentum, n_jets)
    head = {"jet_pt": jets.pt, "jet_eta": jets.eta, "flavor": jets.flavor.astype(np.int8)}
    head |= features | _vertex_features(vertices, jets, n_jets)
    return in_file_order(head, j, arrays, np.bincount(j, minlength=n_jets))


@dataclass(frozen=True)
class _JetVertices:
    """Up to two secondary vertices per jet (slot 0 the first found, feeding the high-level features) and each
    track's slot (-1: the primary vertex).
    """

    slot: np.ndarray
    found: np.ndarray  # (n_jets, 2)
    flight: np.ndarray  # (n_jets, 2, 3) from the primary vertex
    significance: np.ndarray  # (n_jets, 2)
    mass: np.ndarray
    energy_fraction: np.ndarray
    n_tracks: np.ndarray


def _secondary_vertices(found: JetTracks, pv: np.ndarray, n_jets: int, significance: np.ndarray) -> _JetVertices:
    """Two passes of the finder: the second on the tracks the first left (a b -> c cascade, or a second decay)."""
    t, j = found.tracks, found.jet
    slot = np.full(len(j), -1)
    usable = np.ones(len(j), dtype=bool)
    shape = (n_jets, 2)
    out = {"found": np.zeros(shape, bool), "flight": np.zeros((*shape, 3)), "significance": np.zeros(shape)}
    for k in range(2):
        vertices = vertexing.secondary_vertices(t, j, n_jets, pv, significance, usable)
        slot[vertices.member] = k
        usable &= ~vertices.member
        flight = vertices.position - pv
        length = np.linalg.norm(flight, axis=1)
        direction = flight / np.maximum(length, 1e-12)[:, None]
        error = np.sqrt(np.einsum("ni,nij,nj->n", direction, vertices.covariance, direction))
        out["found"][:, k] = vertices.found
        out["flight"][:, k] = flight
        out["significance"][:, k] = length / error
    key = 2 * j + np.maximum(slot, 0)
    on = slot >= 0
    momentum = t.momentum
    vertex = (out["flight"] + pv[:, None, :])[j[on], slot[on]]
    momentum[on] = vertexing.momentum_at(t.take(on), vertex)  # turned on its circle to its vertex
    energy = np.sqrt((momentum**2).sum(axis=1) + PION_MASS_GEV**2)
    sums = np.stack([np.bincount(key[on], w, minlength=2 * n_jets) for w in (energy[on], *momentum[on].T)], axis=1)
    sums = sums.reshape(n_jets, 2, 4)
    mass = np.sqrt(np.maximum(sums[..., 0] ** 2 - (sums[..., 1:] ** 2).sum(axis=-1), 0.0))
    jet_energy = np.bincount(j, energy, minlength=n_jets)
    fraction = sums[..., 0] / np.where(jet_energy > 0, jet_energy, 1.0)[:, None]
    n_tracks = np.bincount(key[on], minlength=2 * n_jets).reshape(n_jets, 2)
    return _JetVertices(slot, out["found"], out["flight"], out["significance"], mass, fraction, n_tracks)


def _angles_to_jet(flight: np.ndarray, jets) -> tuple[np.ndarray, np.ndarray]:
    """(delta eta, delta phi) of each vertex's flight direction from its jet's axis."""
    transverse = np.hypot(flight[..., 0], flight[..., 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(flight[..., 2] / transverse)
    phi = np.arctan2(flight[..., 1], flight[..., 0])
    return eta - jets.eta[:, None], np.angle(np.exp(1j * (phi - jets.phi[:, None])))


def _vertex_features(v: _JetVertices, jets, n_jets: int) -> dict[str, np.ndarray]:
    """The six vertex features from each jet's first vertex, the real dataset's defaults where it has none."""
    has = v.found[:, 0]
    delta_eta, delta_phi = _angles_to_jet(v.flight, jets)
    out = {
        "vertex_significance": np.where(has, v.significance[:, 0], -1.0),
        "n_secondary_vertices": np.where(has, 1, -1),
        "n_secondary_vertex_tracks": np.where(has, v.n_tracks[:, 0], -1),
        "delta_r_vertex": np.where(has, np.hypot(delta_eta[:, 0], delta_phi[:, 0]), np.inf),
        "vertex_mass": np.where(has, v.mass[:, 0], -1.0),
        "vertex_energy_fraction": np.where(has, v.energy_fraction[:, 0], -np.inf),
    }
    return {name: out[name] for name in JET_VERTEX}


def _track_vertex_fields(v: _JetVertices, jets, j: np.ndarray, momentum: np.ndarray, n_jets: int) -> dict:
    """Each track's vertex: its secondary vertex's properties, or the primary vertex's as the real file gives
    them (pion mass, no displacement, NaN angles and significance; the jet's primary tracks and their energy
    share).
    """
    on = v.slot >= 0
    k = np.maximum(v.slot, 0)
    energy = np.sqrt((momentum**2).sum(axis=1) + PION_MASS_GEV**2)
    jet_energy = np.bincount(j, energy, minlength=n_jets)
    primary_energy = np.bincount(j[~on], energy[~on], minlength=n_jets)
    primary_fraction = primary_energy / np.where(jet_energy > 0, jet_energy, 1.0)
    n_primary = np.bincount(j[~on], minlength=n_jets)
    delta_eta, delta_phi = _angles_to_jet(v.flight, jets)
    nan = np.full(len(j), np.nan)
    return {
        "vertex_mass": np.where(on, v.mass[j, k], PION_MASS_GEV),
        "vertex_displacement": np.where(on, np.linalg.norm(v.flight[j, k], axis=1), 0.0),
        "vertex_delta_eta_jet": np.where(on, delta_eta[j, k], nan),
        "vertex_delta_phi_jet": np.where(on, delta_phi[j, k], nan),
        "vertex_displacement_significance": np.where(on, v.significance[j, k], nan),
        "vertex_n_tracks": np.where(on, v.n_tracks[j, k], n_primary[j]),
        "vertex_energy_fraction": np.where(on, v.energy_fraction[j, k], primary_fraction[j]),
    }


def simulate_chunk(
    events: str | os.PathLike,
    output: str | os.PathLike,
    seed: int,
    index: int,
    settings: tracker.TrackerSettings = NOMINAL_TRACKER,
) -> None:
    """The jets of an events file (:func:`~.pythia.write_chunk`) through the detector, written in the dataset's
    format (:func:`~.uci.write_json_jets`) whole or not at all.
    """
    write_json_jets(output, [reconstruct(read_chunk(events), seed, index, settings)])
