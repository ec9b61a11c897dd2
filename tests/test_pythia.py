"""The Pythia source's generator level (src/robusttag/sources/pythia.py): seeds per chunk, Pythia's settings
checked by Pythia, heavy-flavour hadrons from their PDG codes, the weakly decaying one of a decay chain,
and labelled truth jets from a few events."""

from __future__ import annotations

import numpy as np
import pytest

from robusttag.errors import ConfigError
from robusttag.sources import pythia


def test_the_heaviest_open_flavour_of_a_pdg_code():
    codes = [511, -521, 531, 5122, -5232, 513, 411, -421, 4122, 443, 553, 211, 2212, 22, 5, -4, 5101, 11, 1000060120]
    expected = [5, 5, 5, 5, 5, 5, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert pythia.heavy_flavour(np.array(codes)).tolist() == expected


def test_the_weakly_decaying_hadron_of_a_chain():
    """B*0 -> B0 gamma, B0 -> D- X, D- -> K: the B0 and the D- decay weakly, the B*0 does not; a J/psi is no
    open-flavour hadron; entry 0 is Pythia's system entry."""
    pdg_id = np.array([90, 513, 511, 22, -411, 321, 443])
    mother = np.array([0, 0, 1, 1, 2, 4, 0])
    assert pythia.weakly_decaying(pdg_id, mother).tolist() == [False, False, True, False, True, False, False]


def test_each_chunk_has_its_own_reproducible_seed_in_pythias_range():
    seeds = [pythia.chunk_seed(7, chunk) for chunk in range(50)]
    assert seeds == [pythia.chunk_seed(7, chunk) for chunk in range(50)]
    assert len(set(seeds)) == 50 and all(1 <= seed <= pythia.MAX_SEED for seed in seeds)
    assert pythia.chunk_seed(8, 0) != seeds[0]


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"TimeShower:renormMultFacc": 4.0}, ["fsr_up", "TimeShower:renormMultFacc", "does not know"]),
        ({"StringZ:rFactB": 50.0}, ["fsr_up", "StringZ:rFactB", "outside Pythia's range"]),
    ],
)
def test_a_setting_pythia_refuses_is_named_with_its_sample(settings, named):
    with pytest.raises(ConfigError) as error:
        pythia.configured(pythia.Process("b", settings=settings), 1, "fsr_up")
    assert all(part in str(error.value) for part in named), error.value


def test_a_variations_setting_reaches_pythia():
    generator = pythia.configured(pythia.Process("b", settings={"TimeShower:renormMultFac": 4.0}), 1, "fsr_up")
    assert generator.settings.parm("TimeShower:renormMultFac") == 4.0
    assert generator.settings.parm("PhaseSpace:pTHatMin") == 20.0


def test_a_chunk_of_bb_events_gives_the_same_labelled_jets_again():
    first = pythia.generate_truth_jets(pythia.Process("b"), 7, 0, 40, "nominal")
    again = pythia.generate_truth_jets(pythia.Process("b"), 7, 0, 40, "nominal")
    other = pythia.generate_truth_jets(pythia.Process("b"), 7, 1, 40, "nominal")
    for name in ("event", "pt", "eta", "phi", "flavor"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.pt, other.pt[: len(first.pt)])
    assert (first.pt > pythia.JET_MIN_PT).all() and (np.abs(first.eta) < pythia.JET_MAX_ABS_ETA).all()
    assert (np.diff(first.event) >= 0).all()
    # b-bbar production: most jets hold a weakly decaying B hadron (about 0.9 per event: the reference note)
    assert (first.flavor == pythia.B).mean() > 0.6


def test_each_jets_charged_particles_and_their_displacement():
    """The charged final-state particles a jet's tracks come from: within 0.4 of its axis, above 0.5 GeV; in
    b jets a good share comes from the B hadron's displaced decay (true |d0| > 0.1 mm), in light jets none
    (K0S and Lambda are left to the detector)."""
    from robusttag.sources import tracker

    generator = pythia.configured(pythia.Process("b"), pythia.chunk_seed(7, 0), "nominal")
    events = generator.nextBatch(40, errorMode="skip")
    jets = pythia.jets_of(events.prt)
    found = pythia.charged_near_jets(events.prt, jets, generator.particleData.charge)
    assert set(np.abs(found.charge)) == {1.0}
    pt = np.hypot(found.momentum[:, 0], found.momentum[:, 1])
    eta = np.arcsinh(found.momentum[:, 2] / pt)
    phi = np.arctan2(found.momentum[:, 1], found.momentum[:, 0])
    distance = pythia.delta_r(eta, phi, jets.eta[found.jet], jets.phi[found.jet])
    assert (distance < pythia.TRACK_RADIUS).all() and (pt > pythia.TRACK_MIN_PT).all()
    displaced = np.abs(tracker.perigee(found.vertex, found.momentum, found.charge).d0) > 0.1
    flavour = jets.flavor[found.jet]
    assert displaced[flavour == pythia.B].mean() > 0.2
    assert displaced[flavour == pythia.LIGHT].mean() < 0.05
