"""Vertices from reconstructed tracks (src/robusttag/sources/vertexing.py): the helix's distance to a point, a
hand-built displaced vertex found with its position and mass, prompt jets and a K0S left without one, and the
primary vertex with the beam spot."""

from __future__ import annotations

import numpy as np
import pytest

from robusttag.sources import tracker, vertexing


def _tracks(vertex, momentum, charge, rng=None):
    """Tracks of particles from ``vertex``: exact, or measured with the tracker's resolution (``rng``)."""
    true = tracker.perigee(vertex, momentum, charge)
    if rng is None:
        covariance = tracker.covariance(true)
        seen = true
    else:
        seen, covariance = tracker.measured(true, rng.standard_normal((len(charge), 5)))
    values = (getattr(seen, name) for name in tracker.PARAMETERS)
    return vertexing.Tracks(*values, covariance[:, 0, 0], covariance[:, 1, 1])


def test_a_helix_passes_through_its_production_point_and_the_derivatives_are_right():
    """Soft tracks (0.6 GeV, a 1 m circle) produced 50 mm out: the residuals to their production point vanish
    (a straight line would miss by about a millimetre), and the Jacobian matches finite differences."""
    vertex = np.tile([50.0, 10.0, 3.0], (2, 1))
    momentum = np.array([[0.6, 0.2, 0.3], [0.5, -0.3, 0.1]])
    tracks = _tracks(vertex, momentum, np.array([1.0, -1.0]))
    residual, _ = vertexing.residuals(tracks, vertex)
    np.testing.assert_allclose(residual, 0.0, atol=1e-9)
    point = vertex + [0.3, -0.2, 0.5]
    residual, jacobian = vertexing.residuals(tracks, point)
    for axis in range(3):
        step = np.zeros(3)
        step[axis] = 1e-6
        moved, _ = vertexing.residuals(tracks, point + step)
        np.testing.assert_allclose((moved - residual) / 1e-6, jacobian[:, :, axis], atol=2e-4)


def _b_like_jet(rng, vertex=(1.5, 0.8, 3.0)):
    """Four decay tracks from ``vertex`` along (1, 0.5, 1) and five prompt tracks, all measured."""
    axis = np.array([1.0, 0.5, 1.0]) / 1.5
    decay = axis * rng.uniform(3, 12, (4, 1)) + rng.normal(0, 0.6, (4, 3))
    prompt = axis * rng.uniform(2, 15, (5, 1)) + rng.normal(0, 0.6, (5, 3))
    momentum = np.concatenate([decay, prompt])
    start = np.concatenate([np.tile(vertex, (4, 1)), np.zeros((5, 3))])
    charge = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0])
    return _tracks(start, momentum, charge, rng), decay


def _significance(tracks):
    return np.abs(tracks.d0) / np.sqrt(tracks.var_d0)


def test_a_hand_built_displaced_vertex_is_found_with_its_position_and_mass():
    """100 jets of four decay tracks from (1.5, 0.8, 3.0) mm and five prompt ones: the vertex is found in each
    jet with two decay tracks beyond the seeding's 2 sigma, with all of them and no prompt one in nearly every
    jet; its position pulls have unit width and its mass is the true mass of its tracks (pion masses) within 3 %."""
    rng = np.random.default_rng(3)
    pulls, masses, complete, with_prompt = [], [], 0, 0
    for _ in range(100):
        tracks, decay = _b_like_jet(rng)
        jet = np.zeros(9, int)
        significance = _significance(tracks)
        found = vertexing.secondary_vertices(tracks, jet, 1, np.zeros((1, 3)), significance, np.ones(9, bool))
        seeds = (significance[:4] > vertexing.SEED_SIGNIFICANCE).sum()
        assert found.found[0] == (seeds >= 2)  # a vertex needs two decay tracks beyond 2 sigma
        if not found.found[0]:
            continue
        with_prompt += found.member[4:].any()  # a prompt track beyond 2 sigma that happens to meet the decay
        complete += found.member[:4].tolist() == (significance[:4] > vertexing.SEED_SIGNIFICANCE).tolist()
        pulls.append((found.position[0] - [1.5, 0.8, 3.0]) / np.sqrt(np.diag(found.covariance[0])))
        members = found.member[:4]
        at_vertex = vertexing.momentum_at(
            tracks.take(np.flatnonzero(found.member)), found.position[[0] * members.sum()]
        )
        pions = [vertexing.PION] * members.sum()
        masses.append((vertexing.invariant_mass(at_vertex, pions), vertexing.invariant_mass(decay[members], pions)))
    assert len(pulls) >= 95 and complete >= len(pulls) - 5 and with_prompt <= 3
    assert np.abs(np.mean(pulls, axis=0)).max() < 0.3 and np.std(pulls, axis=0) == pytest.approx(1.0, abs=0.25)
    measured, true = np.array(masses).T
    np.testing.assert_allclose(measured, true, rtol=0.03)


def test_prompt_jets_rarely_get_a_vertex_and_a_k0s_never():
    """2,000 jets of eight prompt tracks measured with the tracker's resolution: a fake vertex needs two tracks
    beyond 2 sigma that meet downstream (a few per cent at most); a K0S's two pions (vetoed by their mass)
    give none."""
    rng = np.random.default_rng(4)
    n_jets, per_jet = 2000, 8
    momentum = np.array([1.0, 0.3, 0.5]) * rng.uniform(1, 20, (n_jets * per_jet, 1)) + rng.normal(
        0, 0.5, (n_jets * per_jet, 3)
    )
    charge = np.where(rng.random(n_jets * per_jet) < 0.5, -1.0, 1.0)
    tracks = _tracks(np.zeros((n_jets * per_jet, 3)), momentum, charge, rng)
    jet = np.repeat(np.arange(n_jets), per_jet)
    found = vertexing.secondary_vertices(
        tracks, jet, n_jets, np.zeros((n_jets, 3)), _significance(tracks), np.ones(len(jet), bool)
    )
    assert found.found.mean() < 0.03

    # K0S of 6 GeV decaying 20 mm out: two pions back to back in its rest frame, 206 MeV each
    p_star = 0.206
    direction = np.array([1.0, 0.0, 0.0])
    gamma_beta = 6.0 / vertexing.K0S_MASS
    energy_star = np.hypot(p_star, vertexing.PION)
    boost = lambda p_parallel: np.sqrt(1 + gamma_beta**2) * p_parallel + gamma_beta * energy_star  # noqa: E731
    pions = np.array([[boost(0.1), 0.18, 0.0], [boost(-0.1), -0.18, 0.0]])
    assert vertexing.invariant_mass(pions, [vertexing.PION] * 2) == pytest.approx(vertexing.K0S_MASS, rel=1e-3)
    k0s = _tracks(np.tile(20.0 * direction, (2, 1)), pions, np.array([1.0, -1.0]))
    found = vertexing.secondary_vertices(
        k0s, np.zeros(2, int), 1, np.zeros((1, 3)), _significance(k0s), np.ones(2, bool)
    )
    assert not found.found[0]


def test_the_primary_vertex_with_the_beam_spot():
    """Events of 30 prompt tracks from a displaced collision point and three from a decay 3 mm out: the fit finds
    the point within its errors (z to a few microns), and the decay tracks get low weights."""
    rng = np.random.default_rng(5)
    n_events = 200
    point = np.column_stack(
        [rng.normal(0, 0.015, n_events), rng.normal(0, 0.015, n_events), rng.normal(0, 46, n_events)]
    )
    per_event = 33
    event = np.repeat(np.arange(n_events), per_event)
    start = point[event].copy()
    decay = np.tile(np.arange(per_event) >= 30, n_events)
    start[decay] += [3.0, 0.0, 1.0]
    momentum = rng.normal(0, 1.5, (len(event), 3))
    momentum[decay] = [8.0, 0.5, 1.0] + rng.normal(0, 1.0, (decay.sum(), 3))
    charge = np.where(rng.random(len(event)) < 0.5, -1.0, 1.0)
    tracks = _tracks(start, momentum, charge, rng)
    vertex = vertexing.primary_vertices(tracks, event, n_events)
    pulls = (vertex.position - point) / np.sqrt(np.diagonal(vertex.covariance, axis1=1, axis2=2))
    assert np.std(pulls, axis=0).max() < 1.4 and np.abs(np.mean(pulls, axis=0)).max() < 0.3
    assert np.sqrt(vertex.covariance[:, 2, 2]).mean() < 0.03
    weight = vertexing.compatibility_weight(tracks, vertex.position[event])
    assert np.median(weight[~decay]) > 0.9 and np.median(weight[decay]) < 0.1


def test_pairs_within_jets():
    first, second = vertexing.same_jet_pairs(np.array([0, 0, 0, 2, 2, 3]))
    assert list(zip(first.tolist(), second.tolist())) == [(0, 1), (0, 2), (1, 2), (3, 4)]
