"""The Pythia source's detector (src/robusttag/sources/reconstruction.py) on a small chunk of Pythia jets: the file
it writes read back by the dataset's reader, every high-level feature of a jet against a hand computation from
its tracks, detector variations on the same jets, the flavours' physics, and the same bytes from the same seed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erfc, gammaincc

from robusttag.features import PION_MASS_GEV
from robusttag.sources import pythia, reconstruction, tracker, uci

SEED, CHUNK = 11, 3


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    path = tmp_path_factory.mktemp("pythia") / "events.npz"
    pythia.generate_events_file(path, pythia.Sample({"b": 0.4, "c": 0.2, "light": 0.4}), SEED, CHUNK, 250, "nominal")
    return path


def _written(events, tmp_path, settings=reconstruction.NOMINAL_TRACKER, name="jets.json.gz"):
    output = tmp_path / name
    reconstruction.simulate_chunk(events, output, SEED, CHUNK, settings)
    (batch,) = list(uci.read_jets(output, workers=0))
    return output, batch


@pytest.fixture(scope="module")
def nominal(events, tmp_path_factory):
    return _written(events, tmp_path_factory.mktemp("nominal"))


def test_the_same_seed_gives_the_same_bytes_and_the_reader_takes_them(events, nominal, tmp_path):
    output, batch = nominal
    again, _ = _written(events, tmp_path)
    assert again.read_bytes() == output.read_bytes()
    assert len(batch) == 250 and batch.n_tracks.max() <= reconstruction.MAX_TRACKS
    assert set(np.unique(batch.jets["flavor"])) == {0, 4, 5}


def _jet_by_hand(batch, i):
    """The eight tracking features and the vertex features of jet ``i`` from its tracks as the file holds them."""
    sl = slice(batch.offsets[i], batch.offsets[i + 1])
    t = {name: values[sl].astype(np.float64) for name, values in batch.tracks.items()}
    jet_eta = float(batch.jets["jet_eta"][i])
    theta = t["theta"] + 2 * np.arctan(np.exp(-jet_eta))
    pt = np.sin(theta) / np.abs(t["qoverp"])
    use = np.abs(t["d0"]) < reconstruction.HIGH_LEVEL_MAX_D0
    signed = np.abs(t["d0"]) * np.where(t["d0"] * np.sin(t["phi"]) >= 0, 1, -1) / np.sqrt(t["d0d0"])
    d0_sig, z0_sig = signed[use], (t["z0"] / np.sqrt(t["z0z0"]))[use]
    ranked = np.argsort(-np.abs(d0_sig), kind="stable")
    out = {}
    for rank, label in ((1, "2"), (2, "3")):
        present = len(ranked) > rank
        out[f"track_{label}_d0_significance"] = abs(d0_sig[ranked[rank]]) if present else -np.inf
        out[f"track_{label}_z0_significance"] = abs(z0_sig[ranked[rank]]) if present else -np.inf
    out["n_tracks_over_d0_threshold"] = (d0_sig > 1.8).sum()
    positive = d0_sig[d0_sig > 0]
    minus_log = -np.log(np.maximum(erfc(positive / np.sqrt(2)), 1e-300)).sum()  # -ln of the tracks' product
    out["jet_prob"] = gammaincc(len(positive), minus_log) if len(positive) else -1.0
    eta = -np.log(np.tan(theta / 2))
    weight = pt[use]
    out["jet_width_eta"] = np.sqrt((weight * (eta[use] - jet_eta) ** 2).sum() / weight.sum())
    out["jet_width_phi"] = np.sqrt((weight * t["phi"][use] ** 2).sum() / weight.sum())
    on_vertex = t["vertex_displacement"] > 0
    if on_vertex.any():
        first = np.flatnonzero(on_vertex & (t["vertex_mass"] == t["vertex_mass"][on_vertex][-1]))
        out["n_secondary_vertex_tracks"] = len(first)
        out["vertex_mass"] = t["vertex_mass"][first[0]]
    return out, t


def test_every_high_level_feature_of_a_jet_by_hand(nominal):
    """Ten jets with a secondary vertex and ten without: each tracking feature recomputed from the file's tracks
    (the lifetime sign from d0 and phi relative to the jet, pT from q/p and theta), the vertex features against
    the vertex fields its tracks carry; the dataset's defaults where a jet has no vertex."""
    _, batch = nominal
    jets = batch.jets
    with_vertex = np.flatnonzero(jets["n_secondary_vertices"] == 1)[:10]
    without = np.flatnonzero(jets["n_secondary_vertices"] == -1)[:10]
    assert len(with_vertex) == 10 and len(without) == 10
    for i in np.concatenate([with_vertex, without]):
        expected, tracks = _jet_by_hand(batch, i)
        for name in ("track_2_d0_significance", "track_3_d0_significance", "track_2_z0_significance"):
            assert jets[name][i] == pytest.approx(expected[name], rel=2e-4), (i, name)
        for name in ("n_tracks_over_d0_threshold", "jet_prob", "jet_width_eta", "jet_width_phi"):
            assert jets[name][i] == pytest.approx(expected[name], rel=2e-4, abs=1e-6), (i, name)
        primary = tracks["vertex_displacement"] == 0
        assert (tracks["vertex_mass"][primary] == np.float32(PION_MASS_GEV)).all()
        assert np.isnan(tracks["vertex_delta_eta_jet"][primary]).all()
        assert (tracks["vertex_n_tracks"][primary] == primary.sum()).all()
        if i in without:
            assert [jets[n][i] for n in ("vertex_significance", "n_secondary_vertex_tracks", "vertex_mass")] == [-1] * 3
            assert jets["delta_r_vertex"][i] == np.inf and jets["vertex_energy_fraction"][i] == -np.inf
        else:
            slots = np.unique(tracks["vertex_mass"][~primary])
            assert jets["vertex_mass"][i] in slots and jets["n_secondary_vertex_tracks"][i] >= 2
            assert 0 < jets["vertex_energy_fraction"][i] <= 1 and jets["vertex_significance"][i] > 0


def test_the_flavours_physics(nominal):
    """Secondary vertices in most b jets, fewer c jets, few light jets; the second-largest d0 significance's tail
    beyond 3 likewise; vertex masses below the hadrons'; 2 to 33 tracks per jet on average near 8."""
    _, batch = nominal
    jets, flavour = batch.jets, batch.jets["flavor"]
    vertex = {f: (jets["n_secondary_vertices"][flavour == f] == 1).mean() for f in (5, 4, 0)}
    assert vertex[5] > 0.5 and vertex[5] > vertex[4] > vertex[0] and vertex[0] < 0.1
    tail = {f: (jets["track_2_d0_significance"][flavour == f] > 3).mean() for f in (5, 4, 0)}
    assert tail[5] > 0.6 and tail[5] > tail[4] > tail[0]
    mass = jets["vertex_mass"][(flavour == 5) & (jets["vertex_mass"] > 0)]
    assert 0.5 < np.median(mass) < 5.3
    assert 4 < batch.n_tracks.mean() < 15


@pytest.mark.parametrize(
    "settings, changed",
    [
        (tracker.TrackerSettings(efficiency_scale=0.9), "fewer tracks"),
        (tracker.TrackerSettings(resolution_scale=1.3), "wider d0"),
        (tracker.TrackerSettings(fake_rate=0.1), "more tracks"),
    ],
)
def test_a_detector_variation_keeps_every_jet_and_changes_what_it_should(events, nominal, tmp_path, settings, changed):
    _, reference = nominal
    _, varied = _written(events, tmp_path, settings)
    for name in ("jet_pt", "jet_eta", "flavor"):
        np.testing.assert_array_equal(varied.jets[name], reference.jets[name])
    ratio = varied.n_tracks.sum() / reference.n_tracks.sum()
    if changed == "fewer tracks":
        assert 0.85 < ratio < 0.95
    elif changed == "more tracks":
        assert ratio > 1.05
    else:
        # the same tracks (the same q/p, drawn alike), their impact parameters 30 % further from the true ones
        assert np.isin(varied.tracks["qoverp"], reference.tracks["qoverp"]).mean() > 0.99
        ref_sig = np.abs(reference.tracks["d0"] / np.sqrt(reference.tracks["d0d0"]))
        var_sig = np.abs(varied.tracks["d0"] / np.sqrt(varied.tracks["d0d0"]))
        assert np.median(var_sig) / np.median(ref_sig) == pytest.approx(1.3, abs=0.1)


def test_joining_chunks_names_a_truncated_one(nominal, tmp_path):
    from robusttag.errors import DataFormatError

    output, _ = nominal
    whole, cut = tmp_path / "0.json.gz", tmp_path / "1.json.gz"
    whole.write_bytes(output.read_bytes())
    cut.write_bytes(output.read_bytes()[:-100])
    uci.concatenate_files([whole, whole], tmp_path / "two.json.gz")
    (joined,) = list(uci.read_jets(tmp_path / "two.json.gz", workers=0))
    assert len(joined) == 500
    with pytest.raises(DataFormatError, match=r"1\.json\.gz.*truncated"):
        uci.concatenate_files([whole, cut], tmp_path / "joined.json.gz")
    assert not (tmp_path / "joined.json.gz").exists()
