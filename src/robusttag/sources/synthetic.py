"""The embedded default dataset: a physics-motivated jet generator in the real format.

Not noise: every jet is built the way a b-tagging dataset comes about, in a
deliberately simplified form, and the high-level features are *computed* from
the generated tracks and vertices as the reference note defines them.

* Flavour in the real proportions (b 39.3 %, c 12.0 %, light 48.7 %); a
  falling pT spectrum in [20, 900] GeV and |eta| < 2.5, both flavour-dependent.
* 1 to 33 tracks per jet, more for heavy flavour and at high pT.
* b and c hadrons fly (c*tau 0.45 mm and 0.13 mm, boosted by pT/m) and decay
  to displaced tracks whose impact parameter is of order c*tau and mostly
  positive in the lifetime sign convention; light jets get a few long-lived
  strange hadrons and fakes. Measured d0, z0 = truth + resolution, with the
  resolution (10 um + 70 um/pT) that also fills the covariance matrix.
* Secondary vertices are "reconstructed" from the decay tracks with a
  flavour-dependent efficiency; their mass is bounded by the hadron mass
  (b up to ~5 GeV, c up to ~2 GeV), their energy fraction computed from the
  track momenta; b jets may show the b -> c cascade as a second vertex.
* Missing values follow the real file: -inf, -1, +inf, NaN as listed in the
  reference note; primary-vertex tracks carry the pion mass, zero
  displacement and NaN vertex angles.

The classes overlap on purpose; :class:`Difficulty` holds the knobs that set
how much. Jets are generated in fixed chunks, each from its own seeded
stream, so that the same ``n_jets`` and ``seed`` give identical jets (and a
file written from them identical bytes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import expit

from ..config.data import Difficulty
from ..errors import ConfigError
from ..features import JET_VERTEX, PION_MASS_GEV
from ..io import atomic_output
from ..jets import JetBatch
from .highlevel import in_file_order, tracking_features

CHUNK_JETS = 50_000  #: jets per independently seeded chunk (fixes the output for a seed)
FLAVOR_SHARES = {5: 0.393, 4: 0.120, 0: 0.487}  #: b, c, light as in the real file
PT_RANGE_GEV = (20.0, 900.0)
ETA_MAX = 2.5
MAX_TRACKS = 33
NOMINAL_KNOBS = Difficulty()  #: the embedded default's knobs

# Hadron properties: mass (GeV), c*tau (mm)
_HADRON = {5: (5.28, 0.455), 4: (1.87, 0.13), 0: (0.50, 26.8)}  # light: K0s-like


@dataclass
class _Tracks:
    """Per-track working arrays of one chunk (flat, jet-major)."""

    jet: np.ndarray
    from_decay: np.ndarray
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def generate(n_jets: int, seed: int, difficulty: Difficulty = NOMINAL_KNOBS) -> JetBatch:
    """Generate ``n_jets`` jets; the same arguments always give the same jets.

    Raises
    ------
    ConfigError
        When ``n_jets`` is below 1.
    """
    if n_jets < 1:
        raise ConfigError(f"n_jets must be at least 1, got {n_jets}")
    batches = [
        generate_chunk(min(CHUNK_JETS, n_jets - start), seed, start // CHUNK_JETS, difficulty)
        for start in range(0, n_jets, CHUNK_JETS)
    ]
    return batches[0] if len(batches) == 1 else JetBatch.concatenate(batches)


def iter_chunks(n_jets: int, seed: int, difficulty: Difficulty = NOMINAL_KNOBS):
    """The jets of :func:`generate`, chunk by chunk (bounded memory)."""
    for start in range(0, n_jets, CHUNK_JETS):
        yield generate_chunk(min(CHUNK_JETS, n_jets - start), seed, start // CHUNK_JETS, difficulty)


def generate_chunk(n: int, seed: int, chunk: int, difficulty: Difficulty) -> JetBatch:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chunk,)))
    flavor = rng.choice(np.array(list(FLAVOR_SHARES), dtype=np.int8), size=n, p=list(FLAVOR_SHARES.values()))
    pt = _jet_pt(rng, flavor)
    eta = _jet_eta(rng, flavor)

    decay = _hadron_decays(rng, flavor, pt, difficulty)
    n_decay = decay["n_tracks"]
    # A heavy hadron takes most of the jet's momentum: fewer fragmentation tracks beside its decay.
    fragmentation = 2.0 + 1.8 * np.log(pt / PT_RANGE_GEV[0]) - difficulty.fragmentation_suppression * n_decay
    n_prompt = np.clip(1 + rng.poisson(np.maximum(fragmentation, 0.3)), 1, MAX_TRACKS)
    n_prompt = np.minimum(n_prompt, MAX_TRACKS - n_decay)
    n_tracks = n_prompt + n_decay
    jet = np.repeat(np.arange(n), n_tracks)
    first = np.concatenate([[0], np.cumsum(n_tracks)[:-1]])
    from_decay = (np.arange(len(jet)) - first[jet]) >= n_prompt[jet]
    tracks = _Tracks(jet, from_decay)

    _track_kinematics(rng, tracks, pt, eta)
    _impact_parameters(rng, tracks, decay, difficulty)
    _covariance(rng, tracks)
    vertices = _secondary_vertices(rng, tracks, flavor, decay, difficulty)
    _track_vertex_fields(tracks, vertices, n)
    jets = {"jet_pt": pt, "jet_eta": eta, "flavor": flavor}
    jets.update(_tracking_features(tracks, eta, n))
    jets.update(_vertex_features(rng, vertices))
    return _in_file_order(jets, tracks, n_tracks)


# ---------------------------------------------------------------------------
# Jet kinematics
# ---------------------------------------------------------------------------


def _jet_pt(rng: np.random.Generator, flavor: np.ndarray) -> np.ndarray:
    """Truncated power law pT^-(alpha+1) on [20, 900] GeV; harder for heavy flavour."""
    alpha = np.select([flavor == 5, flavor == 4], [1.25, 1.4], 1.55)
    low, high = PT_RANGE_GEV
    u = rng.random(len(flavor))
    tail = 1.0 - (low / high) ** alpha
    return (low * (1.0 - u * tail) ** (-1.0 / alpha)).astype(np.float32)


def _jet_eta(rng: np.random.Generator, flavor: np.ndarray) -> np.ndarray:
    """Gaussian, truncated to |eta| < 2.5; heavy flavour slightly more central."""
    width = np.select([flavor == 5, flavor == 4], [1.1, 1.2], 1.35)
    eta = rng.normal(0.0, width)
    for _ in range(8):  # resample the tails; the few left are drawn uniformly
        outside = np.abs(eta) >= ETA_MAX
        if not outside.any():
            break
        eta[outside] = rng.normal(0.0, width[outside])
    outside = np.abs(eta) >= ETA_MAX
    eta[outside] = rng.uniform(-ETA_MAX, ETA_MAX, outside.sum())
    return np.clip(eta, -2.49999, 2.49999).astype(np.float32)  # still below 2.5 once printed to 6 digits


# ---------------------------------------------------------------------------
# Heavy-hadron decays
# ---------------------------------------------------------------------------


def _hadron_decays(rng: np.random.Generator, flavor: np.ndarray, pt: np.ndarray, d: Difficulty) -> dict:
    """Which jets hold a long-lived hadron, its transverse flight length and decay tracks."""
    n = len(flavor)
    is_b, is_c, is_light = flavor == 5, flavor == 4, flavor == 0
    has_decay = is_b | is_c | (is_light & (rng.random(n) < d.light_long_lived_rate))
    mean_tracks = np.select([is_b, is_c], [d.decay_tracks_b, d.decay_tracks_c], 2.0)
    n_tracks = np.where(has_decay, np.clip(1 + rng.poisson(np.maximum(mean_tracks - 1, 0)), 1, 8), 0)
    if (is_light & has_decay).any():  # V0-like decays give exactly two tracks
        n_tracks[is_light & has_decay] = 2
    mass = np.select([is_b, is_c], [_HADRON[5][0], _HADRON[4][0]], _HADRON[0][0])
    ctau = np.select([is_b, is_c], [_HADRON[5][1], _HADRON[4][1]], _HADRON[0][1]) * d.lifetime_scale
    boost = 0.75 * pt / mass  # the hadron carries most of the jet's momentum
    flight = np.where(has_decay, boost * ctau * rng.exponential(size=n), 0.0)
    # Strange hadrons decaying beyond the pixel layers leave no reconstructed tracks.
    lost = is_light & (flight > 40.0)
    n_tracks[lost] = 0
    return {"n_tracks": n_tracks, "flight": flight, "mass": mass, "ctau": ctau, "boost": boost}


# ---------------------------------------------------------------------------
# Tracks
# ---------------------------------------------------------------------------


def _track_kinematics(rng: np.random.Generator, t: _Tracks, pt: np.ndarray, eta: np.ndarray) -> None:
    """Track momenta sharing the jet's, small angles to the jet axis, charge."""
    share = rng.gamma(1.2, 1.0, len(t.jet))
    share_sum = np.bincount(t.jet, share, minlength=len(pt))
    track_pt = np.maximum(0.65 * pt[t.jet] * share / share_sum[t.jet], 0.5)
    spread = 0.04 + 0.8 / pt[t.jet]
    dphi = np.clip(rng.normal(0.0, spread), -0.4, 0.4)
    dtheta = np.clip(rng.normal(0.0, spread) / np.cosh(eta[t.jet]), -0.4, 0.4)
    p = track_pt * np.cosh(eta[t.jet])
    charge = rng.choice([-1.0, 1.0], len(t.jet))
    t.arrays.update(phi=dphi, theta=dtheta, qoverp=charge / p, pt=track_pt, p=p, deta=-dtheta * np.cosh(eta[t.jet]))


def _impact_parameters(rng: np.random.Generator, t: _Tracks, decay: dict, d: Difficulty) -> None:
    """True lifetime impact parameters plus resolution; d0 signed by the lifetime convention."""
    a = t.arrays
    sigma_d0 = d.resolution_scale * np.hypot(0.010, 0.070 / a["pt"])  # mm
    sigma_d0 *= np.where(rng.random(len(t.jet)) < d.mismeasured_track_rate, 3.0, 1.0)
    sigma_z0 = 1.4 * sigma_d0 * np.cosh(np.clip(a["deta"], -3, 3)) + 0.005
    # Boost invariance: d0 of a decay product ~ c*tau times an angular factor of order one.
    ctau = decay["ctau"][t.jet]
    flight = decay["flight"][t.jet]
    angle = rng.gamma(2.0, 0.35, len(t.jet)) / decay["boost"][t.jet]
    true_d0 = np.where(t.from_decay, np.minimum(flight * np.sin(np.minimum(angle, 1.5)), 3.0 * ctau + 2.0), 0.0)
    # Lifetime sign: the track crosses the jet axis downstream of the vertex, mostly.
    sign = np.where(rng.random(len(t.jet)) < 0.88, 1.0, -1.0)
    true_z0 = true_d0 * rng.normal(0.0, 1.0, len(t.jet))
    a["d0"] = sign * true_d0 + sigma_d0 * rng.standard_normal(len(t.jet))
    a["z0"] = true_z0 + sigma_z0 * rng.standard_normal(len(t.jet))
    a["sigma_d0"], a["sigma_z0"] = sigma_d0, sigma_z0


def _covariance(rng: np.random.Generator, t: _Tracks) -> None:
    """The 15 helix covariance entries from the resolutions and fixed correlations."""
    a = t.arrays
    sigma = {
        "d0": a["sigma_d0"],
        "z0": a["sigma_z0"],
        "phi": np.hypot(2e-4, 1.5e-3 / a["pt"]),
        "theta": np.hypot(2e-4, 1.2e-3 / a["pt"]) / np.cosh(np.clip(a["deta"], -3, 3)),
        "qoverp": np.abs(a["qoverp"]) * np.hypot(0.01, 5e-4 * a["pt"]),
    }
    correlation = {("phi", "d0"): -0.55, ("theta", "z0"): -0.50, ("qoverp", "d0"): 0.15, ("qoverp", "phi"): -0.10}
    names = ("d0", "z0", "phi", "theta", "qoverp")
    jitter = 1.0 + 0.05 * rng.standard_normal(len(t.jet))  # per-track variation of the correlations
    for i, row in enumerate(names):
        for col in names[: i + 1]:
            entry = row + col if row != col else row + row
            if row == col:
                a[entry] = sigma[row] ** 2
            else:
                rho = correlation.get((row, col), 0.02) * jitter
                a[entry] = rho * sigma[row] * sigma[col]
    # weight: compatibility of the track with the primary vertex (adaptive fit)
    chi2 = (a["d0"] / a["sigma_d0"]) ** 2 + (a["z0"] / a["sigma_z0"]) ** 2
    a["weight"] = expit(-0.5 * (chi2 - 9.0))


def _secondary_vertices(rng: np.random.Generator, t: _Tracks, flavor: np.ndarray, decay: dict, d: Difficulty) -> dict:
    """Up to two vertices per jet (slot 0: the hadron, slot 1: a b -> c cascade)."""
    n = len(flavor)
    a = t.arrays
    n_decay = decay["n_tracks"]
    efficiency = np.select([flavor == 5, flavor == 4], [d.sv_efficiency_b, d.sv_efficiency_c], 0.6)
    efficiency = efficiency * (1.0 - np.exp(-decay["flight"] / 0.3))  # too short a flight: no vertex
    found = (n_decay >= 2) & (rng.random(n) < efficiency)
    cascade = found & (flavor == 5) & (n_decay >= 4) & (rng.random(n) < 0.3)
    fake = (~found) & (flavor == 0) & (rng.random(n) < d.light_fake_sv_rate)

    # Which vertex each track belongs to: -1 primary, 0 or 1 secondary.
    rank = np.arange(len(t.jet)) - np.concatenate([[0], np.cumsum(np.bincount(t.jet, minlength=n))[:-1]])[t.jet]
    n_prompt = np.bincount(t.jet, ~t.from_decay, minlength=n).astype(int)
    decay_rank = rank - n_prompt[t.jet]
    vertex = np.full(len(t.jet), -1)
    vertex[t.from_decay & found[t.jet]] = 0
    vertex[t.from_decay & cascade[t.jet] & (decay_rank >= n_decay[t.jet] // 2)] = 1
    vertex[(~t.from_decay) & fake[t.jet] & (rank < 2)] = 0  # two prompt tracks faking a vertex

    key = np.maximum(vertex, 0) + 2 * t.jet
    in_vertex = vertex >= 0
    n_vtx_tracks = np.bincount(key[in_vertex], minlength=2 * n).reshape(n, 2)
    energy = np.bincount(key[in_vertex], a["p"][in_vertex], minlength=2 * n).reshape(n, 2)
    jet_energy = np.bincount(t.jet, a["p"], minlength=n)
    exists = n_vtx_tracks > 0

    hadron_mass = np.where(cascade[:, None], [_HADRON[5][0], _HADRON[4][0]], decay["mass"][:, None])
    visible = np.clip(n_vtx_tracks / np.maximum(n_decay, 1)[:, None], 0, 1)
    mass = hadron_mass * np.sqrt(visible) * rng.beta(5.0, 2.0, (n, 2))
    fake_mass = 0.28 + rng.gamma(2.0, 0.15, n)
    mass[:, 0] = np.where(fake, fake_mass, mass[:, 0])
    flight = decay["flight"][:, None] * np.where(cascade[:, None], [1.0, 1.6], 1.0)
    flight = np.where(fake[:, None], rng.exponential(0.4, (n, 2)), flight)
    sigma_flight = 0.05 + 0.05 * flight + rng.exponential(0.05, (n, 2))
    displacement = np.abs(flight + sigma_flight * rng.standard_normal((n, 2)))
    angle_spread = np.where(fake, 0.15, 0.02 + 0.3 / np.maximum(decay["boost"], 1.0))[:, None]
    return {
        "vertex": vertex,
        "exists": exists,
        "n_tracks": n_vtx_tracks,
        "mass": mass,
        "displacement": displacement,
        "significance": displacement / sigma_flight,
        "sigma": sigma_flight,
        "delta_eta": rng.normal(0.0, 1.0, (n, 2)) * angle_spread,
        "delta_phi": rng.normal(0.0, 1.0, (n, 2)) * angle_spread,
        "energy_fraction": energy / jet_energy[:, None],
        "primary_energy_fraction": 1.0 - (energy * exists).sum(axis=1) / jet_energy,
        "n_primary_tracks": np.bincount(t.jet, vertex < 0, minlength=n),
    }


def _track_vertex_fields(t: _Tracks, v: dict, n: int) -> None:
    """Per-track copy of its vertex's properties (N -> 1 mapping of the real file)."""
    a = t.arrays
    on_sv = v["vertex"] >= 0
    j, k = t.jet, np.maximum(v["vertex"], 0)
    nan = np.full(len(j), np.nan)
    a["vertex_mass"] = np.where(on_sv, v["mass"][j, k], PION_MASS_GEV)
    a["vertex_displacement"] = np.where(on_sv, v["displacement"][j, k], 0.0)
    a["vertex_delta_eta_jet"] = np.where(on_sv, v["delta_eta"][j, k], nan)
    a["vertex_delta_phi_jet"] = np.where(on_sv, v["delta_phi"][j, k], nan)
    a["vertex_displacement_significance"] = np.where(on_sv, v["significance"][j, k], nan)
    a["vertex_n_tracks"] = np.where(on_sv, v["n_tracks"][j, k], v["n_primary_tracks"][j])
    a["vertex_energy_fraction"] = np.where(on_sv, v["energy_fraction"][j, k], v["primary_energy_fraction"][j])


# ---------------------------------------------------------------------------
# High-level jet features, computed from the tracks and vertices
# ---------------------------------------------------------------------------


def _tracking_features(t: _Tracks, eta: np.ndarray, n: int) -> dict[str, np.ndarray]:
    a = t.arrays
    return tracking_features(t.jet, a["d0"] / a["sigma_d0"], a["z0"] / a["sigma_z0"], a["pt"], a["deta"], a["phi"], n)


def _vertex_features(rng: np.random.Generator, v: dict) -> dict[str, np.ndarray]:
    exists = v["exists"]
    any_vertex = exists.any(axis=1)
    inverse_var = np.where(exists, 1.0 / v["sigma"] ** 2, 0.0)
    significance = (inverse_var * v["displacement"]).sum(axis=1) / np.sqrt(inverse_var.sum(axis=1).clip(1e-300))
    significance[rng.random(len(any_vertex)) < 0.002] = np.nan  # failed fits occur in the real file
    n_tracks = (v["n_tracks"] * exists).sum(axis=1)
    delta_r = np.hypot(v["delta_eta"], v["delta_phi"])
    out = {
        "vertex_significance": np.where(any_vertex, significance, -1.0),
        "n_secondary_vertices": np.where(any_vertex, exists.sum(axis=1), -1),
        "n_secondary_vertex_tracks": np.where(any_vertex, n_tracks, -1),
        "delta_r_vertex": np.where(
            any_vertex, (v["n_tracks"] * delta_r * exists).sum(axis=1) / np.maximum(n_tracks, 1), np.inf
        ),
        "vertex_mass": np.where(any_vertex, (v["mass"] * exists).sum(axis=1), -1.0),
        "vertex_energy_fraction": np.where(any_vertex, (v["energy_fraction"] * exists).sum(axis=1), -np.inf),
    }
    return {name: out[name] for name in JET_VERTEX}


def _in_file_order(jets: dict, t: _Tracks, n_tracks: np.ndarray) -> JetBatch:
    return in_file_order(jets, t.jet, t.arrays, n_tracks)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def generate_file(
    output: str | os.PathLike,
    n_jets: int,
    seed: int,
    difficulty: Difficulty = NOMINAL_KNOBS,
    *,
    compresslevel: int = 2,
) -> None:
    """Write ``n_jets`` generated jets in the format the suffix names.

    ``.json.gz`` / ``.json``: the real dataset's JSON lines (gzip without a
    time stamp, so the bytes depend only on the arguments); ``.root``: a TTree
    ``jets`` in the branch convention of :mod:`robusttag.sources.root`.

    Raises
    ------
    ConfigError
        When the suffix is neither a JSON nor a ROOT one, or ``n_jets`` is below 1.
    """
    output = Path(output)
    name = output.name.lower()
    if n_jets < 1:
        raise ConfigError(f"n_jets must be at least 1, got {n_jets}")
    if name.endswith(".root"):
        from .root import write_jets

        with atomic_output(output) as tmp:
            write_jets(tmp, iter_chunks(n_jets, seed, difficulty))
        return
    if not name.endswith((".json", ".json.gz", ".jsonl", ".jsonl.gz")):
        raise ConfigError(f"{output}: unknown output format; use .json.gz, .json or .root")
    from .uci import write_json_jets

    write_json_jets(output, iter_chunks(n_jets, seed, difficulty), compresslevel)
