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


def _event(*particles):
    """A hand-built event as Pythia's batch record gives it (one event): (id, status, mother, px, py, pz)."""
    import awkward as ak

    rows = [(90, -11, 0, 0.0, 0.0, 0.0), *particles]
    record = [
        {
            "id": r[0],
            "status": r[1],
            "mother1": r[2],
            "p": {"px": r[3], "py": r[4], "pz": r[5], "e": float(np.linalg.norm(r[3:6]))},
            "vProd": {"px": 0.0, "py": 0.0, "pz": 0.0, "e": 0.0},
        }
        for r in rows
    ]
    return pythia.FlatEvents.of(ak.Array([record]))


def test_hadron_and_parton_labels_of_hand_built_jets():
    """Three jets along x, y and -x: the first holds a B0 (40 GeV) from a b quark, the second a D+ of only 4 GeV
    (below the hadron rule's 5 GeV) beside a c quark, the third a gluon splitting's b quark 0.45 away (within
    the parton rule's 0.5, no hadron): the hadron rule says b, light, light; the parton rule b, c, b."""
    flat = _event(
        (5, -62, 0, 40.0, 0.0, 0.0),
        (511, -91, 1, 40.0, 0.0, 1.0),
        (4, -62, 0, 0.0, 30.0, 0.0),
        (411, -91, 3, 0.0, 4.0, 0.0),
        (5, -51, 0, -20.0, -20.0 * np.tan(0.45), 0.0),
    )
    jets = pythia.TruthJets(np.zeros(3, int), np.full(3, 50.0), np.zeros(3), np.array([0.0, np.pi / 2, np.pi]), None)
    assert pythia.hadron_labels(flat, jets).tolist() == [5, 0, 0]
    assert pythia.parton_labels(flat, jets).tolist() == [5, 4, 5]


def test_same_event_pairs():
    first, second = pythia.same_event_pairs(np.array([0, 2, 2, 3]), np.array([0, 0, 1, 2]))
    assert list(zip(first.tolist(), second.tolist())) == [(0, 0), (0, 1), (1, 3), (2, 3)]


SHARES = {"b": 0.4, "c": 0.2, "light": 0.4}


@pytest.fixture(scope="module")
def chunk():
    return pythia.generate_chunk(pythia.Sample(SHARES), 7, 0, 60, "nominal")


def test_a_chunk_holds_its_flavour_quotas(chunk):
    """Its flavours' counts exactly (the same chunk again from its seed, byte for byte through the detector, is
    test_pythia_dag's and test_reconstruction's), its jets in the dataset's selection, its particles' events
    those of its jets."""
    counts = np.bincount(chunk.jets.flavor, minlength=6)
    assert (counts[5], counts[4], counts[0]) == (24, 12, 24)
    assert pythia.Sample(SHARES).quotas(7) == {"b": 3, "c": 1, "light": 3}  # rounded so that they add up
    jets = chunk.jets
    assert ((jets.pt > 20) & (jets.pt < 900) & (np.abs(jets.eta) < 2.5)).all()
    # every event holds a jet, every particle's event is one of them
    assert set(np.unique(chunk.particles.event)) <= set(jets.event) == set(range(jets.event.max() + 1))


def test_b_jets_hold_displaced_charged_particles_light_jets_hardly(chunk):
    """Within 0.4 of a b jet's axis (above 1 GeV) a good share of the charged particles comes from the B hadron's
    decay (true |d0| > 50 um, produced within 20 mm of the beam line), fewer in c jets, hardly any in light jets
    (their displaced particles come from K0S, Lambda and their like, mostly decaying further out)."""
    from robusttag.sources import tracker

    p, jets = chunk.particles, chunk.jets
    first, near = pythia.same_event_pairs(p.event, np.sort(jets.event))
    near = np.argsort(jets.event, kind="stable")[near]
    pt = np.hypot(p.momentum[:, 0], p.momentum[:, 1])
    eta, phi = np.arcsinh(p.momentum[:, 2] / pt), np.arctan2(p.momentum[:, 1], p.momentum[:, 0])
    close = (pythia.delta_r(eta[first], phi[first], jets.eta[near], jets.phi[near]) < 0.4) & (pt[first] > 1.0)
    first, near = first[close], near[close]
    d0 = tracker.perigee(p.vertex[first], p.momentum[first], p.charge[first]).d0
    radius = np.hypot(p.vertex[first, 0], p.vertex[first, 1])
    heavy_decay = (np.abs(d0) > 0.05) & (radius < 20.0)  # a B or D decays within millimetres, a K0S mostly beyond
    share = {f: heavy_decay[jets.flavor[near] == f].mean() for f in (pythia.B, pythia.C, pythia.LIGHT)}
    assert share[pythia.B] > 0.25 and share[pythia.C] > share[pythia.LIGHT] and share[pythia.LIGHT] < 0.05


def test_the_events_file_round_trips_and_a_truncated_one_is_named(chunk, tmp_path):
    from robusttag.errors import DataFormatError

    path = tmp_path / "events" / "0.npz"
    pythia.write_chunk(path, chunk)
    back = pythia.read_chunk(path)
    np.testing.assert_array_equal(back.jets.pt, chunk.jets.pt)
    np.testing.assert_array_equal(back.particles.vertex, chunk.particles.vertex.astype(np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"0\.npz.*cannot read the Pythia events chunk"):
        pythia.read_chunk(path)
