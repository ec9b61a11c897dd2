"""The Pythia source's parametric tracker (src/robusttag/sources/tracker.py): perigee parameters on the helix
against hand computations, the resolutions' pulls, and the efficiency of the detector card."""

from __future__ import annotations

import numpy as np
import pytest

from robusttag.errors import ConfigError
from robusttag.sources import tracker


def test_a_particle_from_the_beam_line_has_no_impact_parameter():
    true = tracker.perigee(np.zeros((1, 3)), np.array([[3.0, 4.0, 12.0]]), np.array([-1]))
    assert true.d0[0] == pytest.approx(0.0, abs=1e-12) and true.z0[0] == pytest.approx(0.0, abs=1e-12)
    assert true.phi[0] == pytest.approx(np.arctan2(4.0, 3.0)) and true.theta[0] == pytest.approx(np.arctan2(5, 12))
    assert true.qoverp[0] == pytest.approx(-1 / 13.0)


def test_a_stiff_track_follows_the_straight_line():
    """At pT = 50 GeV (radius 83 m) the helix from a vertex 1 mm out is the straight line to 0.1 um (the
    curvature's correction, |x|^2 / 2R, is 7.5e-6 mm here; the resolution is 16 um)."""
    vertex, momentum = np.array([[1.0, 0.5, 3.0]]), np.array([[30.0, 40.0, 20.0]])
    for charge in (1, -1):
        true = tracker.perigee(vertex, momentum, np.array([charge]))
        ux, uy = 0.6, 0.8
        assert true.d0[0] == pytest.approx(1.0 * 0.8 - 0.5 * 0.6, abs=1e-4)  # (x py - y px) / pT
        assert true.z0[0] == pytest.approx(3.0 - (1.0 * ux + 0.5 * uy) * 20.0 / 50.0, abs=1e-4)


def test_a_soft_track_on_its_circle_by_hand():
    """pT = 0.6 GeV: radius 1 m. A positive track on the circle of centre (0, R + 2 mm), moving clockwise
    (leftwards at the bottom), passes 2 mm from the beam line at the circle's bottom, 0.3 rad of arc after
    its production point (z0: the production z plus that arc's share of pz)."""
    radius, miss, angle = 1000.0, 2.0, 0.3
    centre = np.array([0.0, radius + miss])
    where = centre + radius * np.array([np.sin(angle), -np.cos(angle)])  # 0.3 rad from the bottom, to the right
    direction = np.array([-np.cos(angle), -np.sin(angle)])  # clockwise there: leftwards and down, to the bottom
    pt, pz = 0.6, 0.3
    true = tracker.perigee(np.array([[*where, 5.0]]), np.array([[*(pt * direction), pz]]), np.array([1]))
    assert true.d0[0] == pytest.approx(miss, rel=1e-9)
    assert abs(true.phi[0]) == pytest.approx(np.pi, abs=1e-9)  # at the bottom the track runs along -x
    assert true.z0[0] == pytest.approx(5.0 + radius * angle * pz / pt, rel=1e-9)


@pytest.mark.parametrize("pt", [0.7, 3.0, 20.0, 200.0])
def test_the_pulls_of_all_five_parameters_have_unit_width(pt):
    """Measured minus true over the quoted error, per pT: unit width for d0, z0, phi, theta and q/p, and the
    quoted correlation of d0 with phi found in the draws."""
    rng = np.random.default_rng(1)
    n = 20_000
    eta = rng.uniform(-2.5, 2.5, n)
    theta = 2 * np.arctan(np.exp(-eta))
    true = tracker.Perigee(np.zeros(n), np.zeros(n), np.zeros(n), theta, np.sin(theta) / pt)
    seen, covariance = tracker.measured(true, rng.standard_normal((n, 5)))
    tolerance = 3 * np.sqrt(2 / n)  # three standard errors of a width
    pulls = {}
    for i, name in enumerate(tracker.PARAMETERS):
        pulls[name] = (getattr(seen, name) - getattr(true, name)) / np.sqrt(covariance[:, i, i])
        assert np.std(pulls[name]) == pytest.approx(1.0, abs=tolerance), name
    assert np.corrcoef(pulls["d0"], pulls["phi"])[0, 1] == pytest.approx(-0.6, abs=0.03)


def test_a_mismodelled_resolution_widens_the_spread_but_not_the_quoted_error():
    n = 20_000
    rng = np.random.default_rng(2)
    true = tracker.Perigee(np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, 1.0), np.full(n, 0.2))
    noise = rng.standard_normal((n, 5))
    nominal, quoted = tracker.measured(true, noise)
    worse, quoted_worse = tracker.measured(true, noise, tracker.TrackerSettings(resolution_scale=1.2, d0_bias=0.01))
    np.testing.assert_array_equal(quoted, quoted_worse)
    np.testing.assert_allclose(worse.d0 - 0.01, 1.2 * nominal.d0)  # the same draws, 20 % further out
    np.testing.assert_allclose(worse.z0, 1.2 * nominal.z0)
    np.testing.assert_array_equal(worse.phi, nominal.phi)


def test_the_resolutions_are_the_atlas_fit_at_ninety_degrees():
    sigma_d0, sigma_z0 = tracker.resolutions(np.array([1.0, 100.0]), np.full(2, np.pi / 2))
    np.testing.assert_allclose(sigma_d0, [np.hypot(0.016, 0.059), np.hypot(0.016, 0.00059)])
    np.testing.assert_allclose(sigma_z0, [np.hypot(0.057, 0.097), np.hypot(0.057, 0.00097)])


def test_the_efficiency_is_the_detector_cards():
    pt = np.array([0.05, 0.5, 5.0, 0.5, 5.0, 5.0])
    eta = np.array([0.0, 1.0, -1.0, 2.0, -2.4, 2.6])
    np.testing.assert_allclose(tracker.efficiency(pt, eta), [0, 0.70, 0.95, 0.60, 0.85, 0])
    lower = tracker.efficiency(pt, eta, settings=tracker.TrackerSettings(efficiency_scale=0.9))
    np.testing.assert_allclose(lower, 0.9 * tracker.efficiency(pt, eta))
    # a particle produced beyond the first strip layer leaves no track
    far = tracker.efficiency(pt[1:3], eta[1:3], np.array([299.0, 301.0]))
    np.testing.assert_allclose(far, [0.70, 0.0])


@pytest.mark.parametrize(
    "knobs, named",
    [({"resolution_scale": 0.0}, "resolution_scale"), ({"fake_rate": 1.5}, "fake_rate"), ({"d0_bais": 0.1}, "d0_bais")],
)
def test_a_tracker_knob_out_of_range_or_unknown_is_named(knobs, named):
    with pytest.raises(ConfigError, match=f"trk_down.*{named}"):
        tracker.TrackerSettings.from_config(knobs, "sample 'trk_down'")
