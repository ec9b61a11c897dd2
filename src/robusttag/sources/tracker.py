"""A parametric tracker for the Pythia source: each charged particle's perigee parameters at the beam line
(d0, z0, phi, theta, q/p) from its true production point and momentum on its helix in the solenoid's field,
then measured with a resolution that depends on pT and eta, and kept with the tracking efficiency.

Numbers from the reference note (../shared/reference/physics-generator.md): the ATLAS Run-2 fit
sigma(d0) = 16 um (+) 59 um GeV / pT and sigma(z0) = 57 um (+) 97 um GeV / pT at |eta| = 0, with the
multiple-scattering term growing as the track crosses more material, 1/sqrt(sin theta) for d0 and
1/sin(theta)^(3/2) for z0 at fixed p; and the Delphes card of the real dataset for the efficiency.
Lengths in mm, momenta in GeV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The solenoid's field (T), as the real dataset's detector card
FIELD_TESLA = 2.0
#: pT (GeV) x field (T) / 0.3 = radius (m): the helix radius in mm per GeV of pT
MM_PER_GEV = 1000.0 / (0.3 * FIELD_TESLA)


@dataclass(frozen=True)
class TrackerSettings:
    """The tracker's knobs; a detector variation changes them (``resolution_scale`` 1.2: 20 % worse)."""

    d0_constant: float = 0.016  # mm
    d0_scattering: float = 0.059  # mm GeV
    z0_constant: float = 0.057  # mm
    z0_scattering: float = 0.097  # mm GeV
    resolution_scale: float = 1.0
    efficiency_scale: float = 1.0  # multiplies every efficiency (at most 1)
    d0_bias: float = 0.0  # mm, added to every measured d0 (a misalignment-like shift)


@dataclass(frozen=True)
class Perigee:
    """Perigee parameters at the point of closest approach to the beam line (x = y = 0)."""

    d0: np.ndarray
    z0: np.ndarray
    phi: np.ndarray
    theta: np.ndarray
    qoverp: np.ndarray


def perigee(vertex: np.ndarray, momentum: np.ndarray, charge: np.ndarray) -> Perigee:
    """The true perigee of particles produced at ``vertex`` (n x 3, mm) with ``momentum`` (n x 3, GeV) and
    ``charge`` (+-1), on their helices: the transverse circle's nearest point to the beam line gives d0
    (signed as (x py - y px) / pT in the straight-line limit) and phi there; z0 follows back along the helix.
    """
    vertex, momentum = np.asarray(vertex, dtype=float), np.asarray(momentum, dtype=float)
    charge = np.sign(np.asarray(charge, dtype=float))
    px, py, pz = momentum.T
    pt = np.hypot(px, py)
    radius = pt * MM_PER_GEV
    ux, uy = px / pt, py / pt
    # a positive charge turns clockwise in a field along +z: its circle's centre lies to the right of its path
    cx, cy = vertex[:, 0] + charge * radius * uy, vertex[:, 1] - charge * radius * ux
    centre = np.hypot(cx, cy)
    d0 = charge * (centre - radius)
    closest_x, closest_y = cx * (1 - radius / centre), cy * (1 - radius / centre)
    turned = _wrapped(np.arctan2(closest_y - cy, closest_x - cx) - np.arctan2(vertex[:, 1] - cy, vertex[:, 0] - cx))
    path = -charge * turned * radius  # transverse path from the production point to the perigee, signed
    z0 = vertex[:, 2] + path * pz / pt
    phi = _wrapped(np.arctan2(py, px) + turned)
    theta = np.arctan2(pt, pz)
    return Perigee(d0, z0, phi, theta, charge / np.sqrt(pt**2 + pz**2))


def _wrapped(angle: np.ndarray) -> np.ndarray:
    return np.angle(np.exp(1j * angle))


def resolutions(pt: np.ndarray, theta: np.ndarray, settings: TrackerSettings = TrackerSettings()):
    """sigma(d0) and sigma(z0) in mm: a constant (+) multiple scattering, 1/(p sqrt(sin theta)) for d0 and
    1/(p sin(theta)^(3/2)) for z0 (both 1/pT at theta = 90 degrees), times ``resolution_scale``.
    """
    sin_theta = np.sin(theta)
    p = pt / sin_theta
    d0 = np.hypot(settings.d0_constant, settings.d0_scattering / (p * np.sqrt(sin_theta)))
    z0 = np.hypot(settings.z0_constant, settings.z0_scattering / (p * sin_theta**1.5))
    return settings.resolution_scale * d0, settings.resolution_scale * z0


def efficiency(pt: np.ndarray, eta: np.ndarray, settings: TrackerSettings = TrackerSettings()) -> np.ndarray:
    """The probability that a charged particle becomes a track (the real dataset's detector card): |eta| <= 1.5:
    70 % for 0.1-1 GeV, 95 % above; 1.5-2.5: 60 % and 85 %; none below 0.1 GeV or beyond |eta| 2.5.
    """
    barrel, low = np.abs(eta) <= 1.5, pt < 1.0
    table = np.where(barrel, np.where(low, 0.70, 0.95), np.where(low, 0.60, 0.85))
    inside = (pt >= 0.1) & (np.abs(eta) <= 2.5)
    return np.where(inside, np.minimum(table * settings.efficiency_scale, 1.0), 0.0)


def measured(
    true: Perigee, rng: np.random.Generator, settings: TrackerSettings = TrackerSettings()
) -> tuple[Perigee, np.ndarray, np.ndarray]:
    """The measured impact parameters, d0 (plus ``d0_bias``) and z0 drawn around the true ones with their
    resolutions; the other parameters kept. Returns the measured perigee and sigma(d0), sigma(z0).
    """
    pt = np.abs(np.sin(true.theta) / true.qoverp)
    sigma_d0, sigma_z0 = resolutions(pt, true.theta, settings)
    d0 = true.d0 + settings.d0_bias + sigma_d0 * rng.standard_normal(len(pt))
    z0 = true.z0 + sigma_z0 * rng.standard_normal(len(pt))
    return Perigee(d0, z0, true.phi, true.theta, true.qoverp), sigma_d0, sigma_z0
