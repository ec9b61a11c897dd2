"""A parametric tracker for the Pythia source: each charged particle's perigee parameters at the beam line
(d0, z0, phi, theta, q/p) from its true production point and momentum on its helix in the solenoid's field,
then measured with a resolution that depends on pT and eta, and kept with the tracking efficiency.

Numbers from the reference note (../shared/reference/physics-generator.md): the ATLAS Run-2 fit
sigma(d0) = 16 um (+) 59 um GeV / pT and sigma(z0) = 57 um (+) 97 um GeV / pT at |eta| = 0, with the
multiple-scattering term growing as the track crosses more material, 1/sqrt(sin theta) for d0 and
1/sin(theta)^(3/2) for z0 at fixed p; phi, theta and q/p with ATLAS-like terms of the same form and the
impact parameters correlated with the angles (the same hits measure both); and the Delphes card of the
real dataset for the efficiency.
Lengths in mm, momenta in GeV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config.data import TrackerSettings

#: The solenoid's field (T), as the real dataset's detector card
FIELD_TESLA = 2.0
#: pT (GeV) x field (T) / 0.3 = radius (m): the helix radius in mm per GeV of pT
MM_PER_GEV = 1000.0 / (0.3 * FIELD_TESLA)


#: The perigee parameters, in the order of the dataset's helix and covariance fields
PARAMETERS = ("d0", "z0", "phi", "theta", "qoverp")
#: A charged particle produced beyond this transverse radius (mm: the first strip layer) leaves too few silicon
#: hits for a track
MAX_PRODUCTION_RADIUS = 300.0
#: Correlations of the track fit: the impact parameters with the angles measured by the same hits
CORRELATIONS = {("d0", "phi"): -0.6, ("z0", "theta"): -0.6}


#: The nominal detector's knobs
NOMINAL = TrackerSettings()
#: The resolutions' constant and multiple-scattering terms (at theta = 90 degrees; mm, rad, relative)
D0_CONSTANT, D0_SCATTERING = 0.016, 0.059
Z0_CONSTANT, Z0_SCATTERING = 0.057, 0.097
PHI_CONSTANT, PHI_SCATTERING = 8e-5, 1.8e-3
COT_THETA_CONSTANT, COT_THETA_SCATTERING = 7e-4, 2.0e-3
CURVATURE_CONSTANT, CURVATURE_SLOPE = 0.013, 3.6e-4  # sigma(q/p) / |q/p| = 0.013 (+) 0.00036 pT


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


def resolutions(pt: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sigma(d0) and sigma(z0) in mm: a constant (+) multiple scattering, 1/(p sqrt(sin theta)) for d0 and
    1/(p sin(theta)^(3/2)) for z0 (both 1/pT at theta = 90 degrees).
    """
    sin_theta = np.sin(theta)
    p = pt / sin_theta
    d0 = np.hypot(D0_CONSTANT, D0_SCATTERING / (p * np.sqrt(sin_theta)))
    z0 = np.hypot(Z0_CONSTANT, Z0_SCATTERING / (p * sin_theta**1.5))
    return d0, z0


def covariance(true: Perigee) -> np.ndarray:
    """The track fit's covariance of the five perigee parameters (n x 5 x 5, in :data:`PARAMETERS`' order): the
    impact parameters' resolutions (:func:`resolutions`), phi's and cot(theta)'s alike (ATLAS-like constant and
    scattering terms), q/p's from the curvature measurement, and :data:`CORRELATIONS`.
    """
    sin_theta = np.sin(true.theta)
    p = 1.0 / np.abs(true.qoverp)
    pt = p * sin_theta
    sigma = np.empty((len(p), 5))
    sigma[:, 0], sigma[:, 1] = resolutions(pt, true.theta)
    sigma[:, 2] = np.hypot(PHI_CONSTANT, PHI_SCATTERING / (p * np.sqrt(sin_theta)))
    sigma[:, 3] = sin_theta**2 * np.hypot(COT_THETA_CONSTANT, COT_THETA_SCATTERING / (p * np.sqrt(sin_theta)))
    sigma[:, 4] = np.abs(true.qoverp) * np.hypot(CURVATURE_CONSTANT, CURVATURE_SLOPE * pt)
    correlation = np.eye(5)
    for (row, col), rho in CORRELATIONS.items():
        i, j = PARAMETERS.index(row), PARAMETERS.index(col)
        correlation[i, j] = correlation[j, i] = rho
    return sigma[:, :, None] * correlation * sigma[:, None, :]


def efficiency(
    pt: np.ndarray, eta: np.ndarray, radius: np.ndarray | None = None, settings: TrackerSettings = NOMINAL
) -> np.ndarray:
    """The probability that a charged particle becomes a track (the real dataset's detector card): |eta| <= 1.5:
    70 % for 0.1-1 GeV, 95 % above; 1.5-2.5: 60 % and 85 %; none below 0.1 GeV, beyond |eta| 2.5, or when
    produced beyond :data:`MAX_PRODUCTION_RADIUS` (``radius``, mm, the production point's transverse distance).
    """
    barrel, low = np.abs(eta) <= 1.5, pt < 1.0
    table = np.where(barrel, np.where(low, 0.70, 0.95), np.where(low, 0.60, 0.85))
    inside = (pt >= 0.1) & (np.abs(eta) <= 2.5)
    if radius is not None:
        inside &= radius < MAX_PRODUCTION_RADIUS
    return np.where(inside, np.minimum(table * settings.efficiency_scale, 1.0), 0.0)


def measured(true: Perigee, noise: np.ndarray, settings: TrackerSettings = NOMINAL) -> tuple[Perigee, np.ndarray]:
    """The measured perigee and its quoted covariance: the true parameters moved by ``noise`` (n x 5 standard
    normal draws) through the covariance's Cholesky factor, d0 and z0's part widened by ``resolution_scale``
    and d0 shifted by ``d0_bias``. The quoted covariance stays the nominal one: a mismodelled resolution is one
    the track fit does not know about. ``noise`` is an argument so that every variation of the detector moves
    a particle by the same draws.
    """
    quoted = covariance(true)
    step = np.einsum("nij,nj->ni", np.linalg.cholesky(quoted), noise)
    step[:, :2] *= settings.resolution_scale
    values = [getattr(true, name) + step[:, i] for i, name in enumerate(PARAMETERS)]
    values[0] = values[0] + settings.d0_bias
    return Perigee(*values), quoted
