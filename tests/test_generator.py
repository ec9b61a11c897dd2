"""The embedded synthetic generator: determinism, the real format, physics."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from robusttag import cli
from robusttag.convert import convert
from robusttag.features import RAW_JET_FIELDS, TRACK_FIELDS, TRACK_GROUPS
from robusttag.jets import JetBatch
from robusttag.sources import synthetic
from robusttag.sources.synthetic import generate, generate_file

N_JETS = 30_000


@pytest.fixture(scope="module")
def jets() -> JetBatch:
    return generate(N_JETS, seed=11)


@pytest.fixture(scope="module")
def track_jet(jets) -> np.ndarray:
    """Index of the jet of every flat track."""
    return np.repeat(np.arange(len(jets)), jets.n_tracks)


def significance(jets: JetBatch) -> np.ndarray:
    return jets.tracks["d0"].astype(np.float64) / np.sqrt(jets.tracks["d0d0"].astype(np.float64))


# --- determinism -------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    paths = [tmp_path / name for name in ("a.json.gz", "b.json.gz", "c.json.gz")]
    generate_file(paths[0], 2000, seed=5)
    generate_file(paths[1], 2000, seed=5)
    generate_file(paths[2], 2000, seed=6)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_determinism_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "CHUNK_JETS", 1000)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    generate_file(first, 2500, seed=3)
    generate_file(second, 2500, seed=3)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().count(b"\n") == 2500


# --- the real format ---------------------------------------------------------


def _non_finite_tokens(value, found: set) -> None:
    if isinstance(value, list):
        for item in value:
            _non_finite_tokens(item, found)
    elif isinstance(value, str):
        found.add(value)
    elif isinstance(value, float) and not np.isfinite(value):
        raise AssertionError(f"bare non-finite token {value!r}")


def test_written_file_has_the_real_line_structure(tmp_path):
    path = tmp_path / "jets.json.gz"
    generate_file(path, 3000, seed=4)
    quoted: set[str] = set()
    with gzip.open(path, "rt") as lines:
        for line in lines:
            jet = json.loads(line, parse_constant=lambda token: pytest.fail(f"bare token {token}"))
            assert len(jet) == 6
            assert jet[2] in (0, 4, 5)
            assert len(jet[3]) == 8 and len(jet[4]) == 6
            assert 1 <= len(jet[5]) <= 33
            for track in jet[5]:
                assert [len(group) for group in track] == [len(g) for g in TRACK_GROUPS]
            _non_finite_tokens(jet, quoted)
    assert quoted == {"NaN", "inf", "-inf"}  # every marker occurs, and only quoted


def test_generate_convert_round_trip_is_exact(tmp_path):
    path = tmp_path / "jets.json.gz"
    generate_file(path, 4000, seed=9)
    convert(path, tmp_path / "raw.parquet", workers=0)
    read = JetBatch.from_arrow(pq.read_table(tmp_path / "raw.parquet"))
    made = generate(4000, seed=9)
    np.testing.assert_array_equal(read.offsets, made.offsets)
    for name in RAW_JET_FIELDS:
        np.testing.assert_array_equal(read.jets[name], made.jets[name], err_msg=name)
    for name in TRACK_FIELDS:
        np.testing.assert_array_equal(read.tracks[name], made.tracks[name], err_msg=name)
    values = np.concatenate([made.jets[n].astype(np.float32) for n in RAW_JET_FIELDS] + list(made.tracks.values()))
    assert np.isnan(values).any() and np.isposinf(values).any() and np.isneginf(values).any()


# --- physics -------------------------------------------------------------------


def test_class_balance_and_kinematics(jets):
    flavor = jets.jets["flavor"]
    for code, share in ((5, 0.393), (4, 0.120), (0, 0.487)):
        assert abs((flavor == code).mean() - share) < 0.01
    pt, eta = jets.jets["jet_pt"], jets.jets["jet_eta"]
    assert pt.min() >= 20 and pt.max() <= 900
    assert np.abs(eta).max() < 2.5
    counts = np.histogram(pt, bins=[20, 40, 100, 120, 300, 320])[0]
    assert counts[0] > counts[2] > counts[4] > 0  # falling spectrum
    for code in (5, 4):  # heavy flavour harder than light
        assert np.median(pt[flavor == code]) > np.median(pt[flavor == 0])
    assert jets.n_tracks.min() >= 1 and jets.n_tracks.max() <= 33


def test_lifetime_ordering_of_impact_parameters(jets, track_jet):
    flavor = jets.jets["flavor"][track_jet]
    median = {code: np.median(significance(jets)[flavor == code]) for code in (5, 4, 0)}
    assert median[5] > median[4] > median[0]
    assert abs(median[0]) < 0.3
    positive = {code: (significance(jets)[flavor == code] > 3).mean() for code in (5, 4, 0)}
    assert positive[5] > positive[4] > positive[0]


def test_secondary_vertices_by_flavour(jets):
    flavor = jets.jets["flavor"]
    has_vertex = jets.jets["n_secondary_vertices"] > 0
    rate = {code: has_vertex[flavor == code].mean() for code in (5, 4, 0)}
    assert rate[5] > rate[4] > rate[0]
    assert rate[0] < 0.2
    mass = jets.jets["vertex_mass"]
    b_mass, c_mass = mass[has_vertex & (flavor == 5)], mass[has_vertex & (flavor == 4)]
    assert (b_mass > 3.0).mean() > 0.2 and b_mass.max() < 5.3 * 2  # two vertices may add up
    assert c_mass.max() < 1.9
    single_b = has_vertex & (flavor == 5) & (jets.jets["n_secondary_vertices"] == 1)
    assert mass[single_b].max() < 5.3


def test_missing_values_follow_the_real_file(jets, track_jet):
    j = jets.jets
    none = j["n_secondary_vertices"] == -1
    assert none.any() and (~none).any()
    assert np.all((j["vertex_significance"][none] == -1))
    assert np.all(j["n_secondary_vertex_tracks"][none] == -1)
    assert np.all(np.isposinf(j["delta_r_vertex"][none]))
    assert np.all(j["vertex_mass"][none] == -1)
    assert np.all(np.isneginf(j["vertex_energy_fraction"][none]))
    assert np.isnan(j["vertex_significance"][~none]).any()  # failed fits, as in the real file
    one_track = jets.n_tracks < 2
    assert one_track.any()
    assert np.all(np.isneginf(j["track_2_d0_significance"][one_track]))
    t = jets.tracks
    primary = t["vertex_displacement"] == 0
    assert primary.any() and (~primary).any()
    np.testing.assert_allclose(t["vertex_mass"][primary], 0.13957, rtol=1e-6)
    for name in ("vertex_delta_eta_jet", "vertex_delta_phi_jet", "vertex_displacement_significance"):
        assert np.all(np.isnan(t[name][primary])) and not np.isnan(t[name][~primary]).any()


def test_high_level_features_are_computed_from_the_tracks(jets, track_jet):
    s = significance(jets)
    over = np.bincount(track_jet, s > 1.8, minlength=len(jets))
    np.testing.assert_array_equal(jets.jets["n_tracks_over_d0_threshold"], over)
    second = np.full(len(jets), -np.inf)
    for i in np.flatnonzero(jets.n_tracks >= 2)[:3000]:
        ranked = np.sort(np.abs(s[jets.offsets[i] : jets.offsets[i + 1]]))[::-1]
        second[i] = ranked[1]
    check = np.isfinite(second)
    np.testing.assert_allclose(jets.jets["track_2_d0_significance"][check], second[check], rtol=2e-3)


def test_covariances_are_consistent(jets):
    t = {k: v.astype(np.float64) for k, v in jets.tracks.items()}
    for diagonal in ("d0d0", "z0z0", "phiphi", "thetatheta", "qoverpqoverp"):
        assert (t[diagonal] > 0).all(), diagonal
    for off, (a, b) in {"phid0": ("phiphi", "d0d0"), "thetaz0": ("thetatheta", "z0z0"), "z0d0": ("z0z0", "d0d0")}.items():
        assert (np.abs(t[off]) / np.sqrt(t[a] * t[b]) < 1).all(), off


def test_tracks_in_file_order(jets, track_jet):
    """Primary-vertex tracks first, then secondary-vertex tracks, each ascending in d0."""
    on_vertex = (jets.tracks["vertex_displacement"] > 0).astype(int)
    key = np.lexsort((jets.tracks["d0"], on_vertex, track_jet))
    np.testing.assert_array_equal(key, np.arange(len(key)))


def test_difficulty_knobs_change_the_separation():
    easy = generate(5000, seed=2, difficulty=synthetic.Difficulty(lifetime_scale=3.0))
    hard = generate(5000, seed=2, difficulty=synthetic.Difficulty(lifetime_scale=0.3))

    def b_displacement(batch):
        flavor = np.repeat(batch.jets["flavor"], batch.n_tracks)
        return np.percentile(significance(batch)[flavor == 5], 90)  # the displaced tail

    assert b_displacement(easy) > 2 * b_displacement(hard)


# --- command line ---------------------------------------------------------------


def test_cli_generate_matches_the_library(tmp_path):
    assert cli.main(["generate", "--n-jets", "300", "--seed", "2", "--output", str(tmp_path / "a.json.gz")]) == 0
    generate_file(tmp_path / "b.json.gz", 300, seed=2)
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()


def test_cli_rejects_an_unknown_format(tmp_path, capsys):
    assert cli.main(["generate", "--n-jets", "10", "--output", str(tmp_path / "jets.txt")]) != 0
    assert "jets.txt" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cli_convert_and_preprocess(tmp_path, capsys):
    generate_file(tmp_path / "jets.root", 500, seed=3)
    assert cli.main(["convert", str(tmp_path / "jets.root"), "--output", str(tmp_path / "raw.parquet")]) == 0
    assert "wrote 500 jets" in capsys.readouterr().out
    assert cli.main(["preprocess", str(tmp_path / "raw.parquet"), "--output-dir", str(tmp_path / "pre")]) == 0
    assert pq.read_metadata(tmp_path / "pre" / "train.parquet").num_rows == 360
    (tmp_path / "bad.json").write_text("[1, 2]\n")
    assert cli.main(["convert", str(tmp_path / "bad.json"), "--output", str(tmp_path / "bad.parquet")]) == 1
    assert "bad.json, line 1" in capsys.readouterr().err
    assert not (tmp_path / "bad.parquet").exists()
