"""The synthetic generator: determinism, the real dataset's file format, physics.

The numbers asserted here are orderings and ranges that any sensible setting of
:class:`robusttag.sources.synthetic.Difficulty` satisfies, or facts of the real
file (``../shared/reference/jet-flavor-dataset.md``); none depends on the exact
value of a knob.
"""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from robusttag import cli
from robusttag.convert import convert
from robusttag.errors import ConfigError
from robusttag.features import (
    COVARIANCE_DIAGONAL,
    JET_TRACKING,
    JET_VERTEX,
    PION_MASS_GEV,
    RAW_JET_FIELDS,
    TRACK_FIELDS,
    TRACK_GROUPS,
    TRACK_HELIX,
)
from robusttag.jets import JetBatch, raw_schema
from robusttag.sources import synthetic
from robusttag.sources.synthetic import generate, generate_file

N_PHYSICS = 30_000
PHYSICS_SEED = 11
N_FORMAT = 3_000
FORMAT_SEED = 4
D0_THRESHOLD = 1.8
# Values are stored as float32 printed to 6 significant digits: a quantity
# recomputed from stored values agrees to about 1e-5 relative.
STORED_RTOL = 1e-4


# --- helpers -------------------------------------------------------------------


def assert_same_jets(a: JetBatch, b: JetBatch) -> None:
    """Exact equality: offsets, every value, NaN in the same places, same dtypes."""
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    for name in RAW_JET_FIELDS:
        assert a.jets[name].dtype == b.jets[name].dtype, name
        np.testing.assert_array_equal(a.jets[name], b.jets[name], err_msg=name)
    for name in TRACK_FIELDS:
        assert a.tracks[name].dtype == b.tracks[name].dtype == np.float32, name
        np.testing.assert_array_equal(a.tracks[name], b.tracks[name], err_msg=name)


def track_jet(jets: JetBatch) -> np.ndarray:
    """Index of the jet of every flat track."""
    return np.repeat(np.arange(len(jets)), jets.n_tracks)


def d0_significance(jets: JetBatch) -> np.ndarray:
    """Signed d0 significance of every track, from the stored d0 and d0d0."""
    return jets.tracks["d0"].astype(np.float64) / np.sqrt(jets.tracks["d0d0"].astype(np.float64))


def z0_significance(jets: JetBatch) -> np.ndarray:
    return jets.tracks["z0"].astype(np.float64) / np.sqrt(jets.tracks["z0z0"].astype(np.float64))


def kth_track_by(values: np.ndarray, jets: JetBatch, k: int) -> np.ndarray:
    """Flat index of each jet's track with the k-th largest value (k = 1: the largest); -1 if fewer tracks."""
    order = np.lexsort((-values, track_jet(jets)))  # by jet, then descending value
    out = np.full(len(jets), -1)
    has = jets.n_tracks >= k
    out[has] = order[jets.offsets[:-1][has] + k - 1]
    return out


def all_values(jets: JetBatch) -> np.ndarray:
    return np.concatenate(
        [jets.jets[n].astype(np.float32) for n in RAW_JET_FIELDS] + [jets.tracks[f] for f in TRACK_FIELDS]
    )


def to_float(value) -> float:
    """A number of the JSON file; non-finite values are the quoted strings of the real file."""
    if isinstance(value, str):
        return {"NaN": math.nan, "inf": math.inf, "-inf": -math.inf}[value]
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return float(value)


def read_lines(path) -> list[list]:
    """Every line of a generated .json.gz, parsed by the standard library (bare NaN/Infinity rejected)."""

    def reject(token):
        raise AssertionError(f"bare non-finite token {token} in the file")

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="ascii") as lines:
        return [json.loads(line, parse_constant=reject) for line in lines]


# --- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def physics() -> JetBatch:
    return generate(N_PHYSICS, seed=PHYSICS_SEED)


@pytest.fixture(scope="module")
def flavor(physics) -> np.ndarray:
    return physics.jets["flavor"]


@pytest.fixture(scope="module")
def track_flavor(physics) -> np.ndarray:
    return np.repeat(physics.jets["flavor"], physics.n_tracks)


@pytest.fixture(scope="module")
def format_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("format") / "jets.json.gz"
    generate_file(path, N_FORMAT, seed=FORMAT_SEED)
    return path


@pytest.fixture(scope="module")
def format_lines(format_file) -> list[list]:
    return read_lines(format_file)


# --- determinism -----------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b, c = (tmp_path / f"{name}.json.gz" for name in "abc")
    generate_file(a, 1500, seed=5)
    generate_file(b, 1500, seed=5)
    generate_file(c, 1500, seed=6)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert gzip.decompress(a.read_bytes()) != gzip.decompress(c.read_bytes())


def test_gzip_header_holds_no_time_stamp_or_name(tmp_path):
    path = tmp_path / "jets.json.gz"
    generate_file(path, 50, seed=1)
    header = path.read_bytes()[:10]
    assert header[:2] == b"\x1f\x8b"
    assert header[4:8] == b"\0\0\0\0"  # MTIME 0
    assert not header[3] & 0x08  # no FNAME field


def test_plain_and_gzipped_files_hold_the_same_text(tmp_path):
    generate_file(tmp_path / "jets.json", 400, seed=8)
    generate_file(tmp_path / "jets.json.gz", 400, seed=8)
    assert (tmp_path / "jets.json").read_bytes() == gzip.decompress((tmp_path / "jets.json.gz").read_bytes())


def test_determinism_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "CHUNK_JETS", 1000)
    first, second = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    generate_file(first, 2500, seed=3)
    generate_file(second, 2500, seed=3)
    assert first.read_bytes() == second.read_bytes()
    assert gzip.decompress(first.read_bytes()).count(b"\n") == 2500

    # The file holds exactly the jets of generate(), chunk after chunk...
    jets = generate(2500, seed=3)
    assert len(jets) == 2500
    assert_same_jets(JetBatch.concatenate(list(synthetic.iter_chunks(2500, 3))), jets)
    convert(first, tmp_path / "raw.parquet", workers=0)
    assert_same_jets(JetBatch.from_arrow(pq.read_table(tmp_path / "raw.parquet")), jets)
    # ... each chunk from its own stream: a chunk does not depend on how many jets follow it,
    assert_same_jets(generate(2000, seed=3), jets.slice(0, 2000))
    # and the chunks are not copies of each other.
    assert not np.array_equal(jets.jets["jet_pt"][:500], jets.jets["jet_pt"][1000:1500])


def test_generate_rejects_no_jets(tmp_path):
    with pytest.raises(ConfigError, match="n_jets must be at least 1"):
        generate(0, seed=1)
    with pytest.raises(ConfigError, match="n_jets must be at least 1"):
        generate_file(tmp_path / "jets.json.gz", 0, seed=1)
    assert not list(tmp_path.iterdir())


# --- the real file format -----------------------------------------------------------


def test_every_line_has_the_structure_of_the_real_file(format_lines):
    assert len(format_lines) == N_FORMAT
    group_sizes = [len(group) for group in TRACK_GROUPS]
    assert group_sizes == [5, 15, 1, 7]
    for number, jet in enumerate(format_lines, start=1):
        where = f"line {number}"
        assert isinstance(jet, list) and len(jet) == 6, where
        assert jet[2] in (0, 4, 5) and isinstance(jet[2], int), where
        assert isinstance(jet[3], list) and len(jet[3]) == 8, where
        assert isinstance(jet[4], list) and len(jet[4]) == 6, where
        assert 1 <= len(jet[5]) <= 33, where
        for track in jet[5]:
            assert [len(group) for group in track] == group_sizes, where
        for value in (jet[0], jet[1], *jet[3], *jet[4], *(v for t in jet[5] for g in t for v in g)):
            to_float(value)  # a number, or one of the quoted non-finite markers


def test_non_finite_values_appear_only_as_quoted_strings(format_file, format_lines):
    quoted: set[str] = set()

    def collect(value):
        if isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, str):
            quoted.add(value)

    collect(format_lines)
    assert quoted == {"NaN", "inf", "-inf"}  # every marker occurs, nothing else is a string
    text = gzip.decompress(format_file.read_bytes())
    for token in (b"Infinity", b"nan", b"NaN", b"inf"):  # no bare token anywhere
        assert text.count(token) == text.count(b'"' + token + b'"') + text.count(b'"-' + token + b'"'), token


def test_integer_fields_are_written_as_integer_values(format_lines):
    n_tracks_over = JET_TRACKING.index("n_tracks_over_d0_threshold")
    n_vertices = JET_VERTEX.index("n_secondary_vertices")
    n_vertex_tracks = JET_VERTEX.index("n_secondary_vertex_tracks")
    for jet in format_lines:
        for value in (jet[2], jet[3][n_tracks_over], jet[4][n_vertices], jet[4][n_vertex_tracks]):
            assert float(value).is_integer()
        for track in jet[5]:
            assert float(track[3][TRACK_GROUPS[3].index("vertex_n_tracks")]).is_integer()


def test_file_read_by_the_standard_library_equals_the_generated_jets(format_lines):
    """Independent of the project's parser: Python's json gives back every float32."""
    jets = generate(N_FORMAT, seed=FORMAT_SEED)
    np.testing.assert_array_equal([len(jet[5]) for jet in format_lines], jets.n_tracks)
    head = np.array([[to_float(v) for v in (*jet[:3], *jet[3], *jet[4])] for jet in format_lines])
    for i, name in enumerate(RAW_JET_FIELDS):
        np.testing.assert_array_equal(head[:, i].astype(np.float32), jets.jets[name].astype(np.float32), err_msg=name)
    tracks = np.array([[to_float(v) for group in track for v in group] for jet in format_lines for track in jet[5]])
    for i, name in enumerate(TRACK_FIELDS):
        np.testing.assert_array_equal(tracks[:, i].astype(np.float32), jets.tracks[name], err_msg=name)


@pytest.mark.parametrize(
    "workers, block_bytes", [(0, 16 << 20), (2, 64 << 10)], ids=["one-block", "many-blocks-2-workers"]
)
def test_generate_convert_read_back_is_exact(format_file, tmp_path, workers, block_bytes):
    output = tmp_path / "raw.parquet"
    summary = convert(format_file, output, workers=workers, block_bytes=block_bytes)
    table = pq.read_table(output)
    assert table.schema.equals(raw_schema())
    read = JetBatch.from_arrow(table)
    made = generate(N_FORMAT, seed=FORMAT_SEED)
    assert_same_jets(read, made)
    assert summary.n_jets == N_FORMAT and summary.n_tracks == int(made.offsets[-1])
    # The round trip covered every non-finite marker of the real file.
    values = all_values(made)
    assert np.isnan(values).any() and np.isposinf(values).any() and np.isneginf(values).any()


# --- physics: kinematics and class balance --------------------------------------------


def test_class_fractions_are_those_of_the_real_file(flavor):
    assert set(np.unique(flavor).tolist()) == {0, 4, 5}
    for code, share in ((5, 0.393), (4, 0.120), (0, 0.487)):
        assert abs((flavor == code).mean() - share) < 0.01, code


def test_jet_pt_falls_within_the_range(physics):
    pt = physics.jets["jet_pt"]
    assert pt.min() >= 20.0 and pt.max() <= 900.0
    counts = np.histogram(pt, bins=[20, 40, 100, 120, 300, 320, 600, 620])[0][::2]
    assert counts[0] > counts[1] > counts[2] > counts[3]  # [20,40] > [100,120] > [300,320] > [600,620]
    assert counts[2] > 0  # the tail is populated


def test_jet_eta_within_the_tracker(physics):
    eta = physics.jets["jet_eta"]
    # [-2.5, 2.5] as in the real file: a value drawn just below 2.5 may print as 2.5.
    assert np.abs(eta).max() <= 2.5
    assert (np.abs(eta) == 2.5).mean() < 1e-3
    assert abs(eta.mean()) < 0.05  # symmetric
    assert (np.abs(eta) < 1).mean() > (np.abs(eta) > 1.5).mean()  # central jets dominate


def test_tracks_per_jet_and_angles_to_the_jet_axis(physics):
    assert physics.n_tracks.min() >= 1 and physics.n_tracks.max() <= 33
    assert (physics.n_tracks == 1).any()  # the -inf defaults below need one-track jets
    for name in ("phi", "theta"):  # relative to the jet axis
        assert np.abs(physics.tracks[name]).max() <= 0.4 + 1e-6, name


# --- physics: lifetime -----------------------------------------------------------------


def test_signed_d0_significance_ordered_b_c_light(physics, track_flavor):
    s = d0_significance(physics)
    median = {code: np.median(s[track_flavor == code]) for code in (5, 4, 0)}
    assert median[5] > median[4] > median[0]
    assert abs(median[0]) < 0.3  # light tracks are prompt: resolution only
    displaced = {code: (s[track_flavor == code] > 3).mean() for code in (5, 4, 0)}
    assert displaced[5] > displaced[4] > displaced[0]
    # Lifetime sign: heavy-flavour tracks lean to positive d0, light ones hardly.
    positive = {code: (s[track_flavor == code] > 0).mean() for code in (5, 0)}
    assert positive[5] > positive[0] and abs(positive[0] - 0.5) < 0.1


def test_secondary_vertex_rate_ordered_b_c_light(physics, flavor):
    has_vertex = physics.jets["n_secondary_vertices"] > 0
    rate = {code: has_vertex[flavor == code].mean() for code in (5, 4, 0)}
    assert rate[5] > rate[4] > rate[0]
    assert 0 < rate[0] < 0.5


def test_vertex_masses_bounded_by_the_hadron_masses(physics, flavor):
    mass = physics.jets["vertex_mass"]
    has_vertex = physics.jets["n_secondary_vertices"] > 0
    b_mass, c_mass = mass[has_vertex & (flavor == 5)], mass[has_vertex & (flavor == 4)]
    assert (b_mass > 3.0).mean() > 0.1  # b vertices reach well above the charm mass
    assert b_mass.max() < 5.3  # B hadron mass 5.28 GeV
    assert c_mass.max() < 1.9  # D meson mass 1.87 GeV
    assert np.median(b_mass) > np.median(c_mass)
    assert (mass[has_vertex] > 0).all()
    # The same bounds on the per-track copy of the vertex mass.
    track_mass = physics.tracks["vertex_mass"]
    track_flavor = np.repeat(flavor, physics.n_tracks)
    assert track_mass[track_flavor == 5].max() < 5.3 and track_mass[track_flavor == 4].max() < 1.9


def test_jet_probability_ordered_b_c_light(physics, flavor):
    """JetProb, the chance that the tracks come from the primary vertex: lowest for b."""
    jet_prob = physics.jets["jet_prob"]
    defined = jet_prob != -1
    assert ((jet_prob[defined] >= 0) & (jet_prob[defined] <= 1)).all()
    median = {code: np.median(jet_prob[defined & (flavor == code)]) for code in (5, 4, 0)}
    assert median[5] < median[4] < median[0]
    # Missing (-1) exactly when no track has a positive impact parameter.
    n_positive = np.bincount(track_jet(physics), physics.tracks["d0"] > 0, minlength=len(physics))
    np.testing.assert_array_equal(~defined, n_positive == 0)


# --- missing values as in the real file ------------------------------------------------------


def test_jets_without_secondary_vertex_carry_the_real_defaults(physics):
    j = physics.jets
    none = j["n_secondary_vertices"] == -1
    assert none.any() and (~none).any()
    assert set(np.unique(j["n_secondary_vertices"]).tolist()) <= {-1, 1, 2}  # never 0: none is -1
    significance = j["vertex_significance"][none]
    assert ((significance == -1) | np.isnan(significance)).all()
    assert (j["n_secondary_vertex_tracks"][none] == -1).all()
    assert np.isposinf(j["delta_r_vertex"][none]).all()
    assert (j["vertex_mass"][none] == -1).all()
    assert np.isneginf(j["vertex_energy_fraction"][none]).all()
    # Jets with a vertex have genuine values: no default leaks in.
    some = ~none
    assert (j["n_secondary_vertex_tracks"][some] >= 1).all()
    assert np.isfinite(j["delta_r_vertex"][some]).all() and (j["delta_r_vertex"][some] >= 0).all()
    fraction = j["vertex_energy_fraction"][some]
    assert ((fraction > 0) & (fraction <= 1 + 1e-6)).all()
    assert np.isnan(j["vertex_significance"][some]).any()  # failed fits occur, as in the real file
    assert (j["vertex_significance"][some & ~np.isnan(j["vertex_significance"])] > 0).all()


def test_track_significances_of_jets_with_too_few_tracks_are_minus_inf(physics):
    j = physics.jets
    for rank, count in (("2", 2), ("3", 3)):
        few = physics.n_tracks < count
        assert few.any()
        for kind in ("d0", "z0"):
            values = j[f"track_{rank}_{kind}_significance"]
            assert np.isneginf(values[few]).all(), (rank, kind)
            assert (values[~few] >= 0).all(), (rank, kind)  # otherwise never negative


def test_primary_vertex_tracks_carry_the_pion_mass_and_nan_angles(physics):
    t = physics.tracks
    primary = t["vertex_displacement"] == 0
    assert primary.any() and (~primary).any()
    assert (t["vertex_displacement"] >= 0).all()
    np.testing.assert_array_equal(t["vertex_mass"][primary], np.float32(PION_MASS_GEV))
    for name in ("vertex_delta_eta_jet", "vertex_delta_phi_jet", "vertex_displacement_significance"):
        assert np.isnan(t[name][primary]).all(), name
        assert not np.isnan(t[name][~primary]).any(), name
    assert (t["vertex_displacement_significance"][~primary] > 0).all()


# --- high-level features are computed from the tracks -------------------------------------------


def test_n_tracks_over_d0_threshold_counts_the_tracks(physics):
    s = d0_significance(physics)
    jet = track_jet(physics)
    stored = physics.jets["n_tracks_over_d0_threshold"]
    recount = np.bincount(jet, s > D0_THRESHOLD, minlength=len(physics))
    # A track within the storage precision of the threshold may fall either side.
    surely = np.bincount(jet, s > D0_THRESHOLD * (1 + STORED_RTOL), minlength=len(physics))
    maybe = np.bincount(jet, s > D0_THRESHOLD * (1 - STORED_RTOL), minlength=len(physics))
    assert ((surely <= stored) & (stored <= maybe)).all()
    assert (recount == stored).mean() > 0.999
    assert (stored > 0).any() and (stored == 0).any()


@pytest.mark.parametrize("rank", [2, 3])
def test_nth_track_significances_are_recomputed_from_the_tracks(physics, rank):
    """As the real producer (delphes-rave) fills them: rank the tracks by d0 significance;
    track_N_d0_significance is the N-th |d0 / sigma|, track_N_z0_significance the |z0 / sigma|
    of that same track; -inf for jets with fewer than N tracks."""
    s_d0, s_z0 = np.abs(d0_significance(physics)), np.abs(z0_significance(physics))
    pick = kth_track_by(s_d0, physics, rank)
    has = pick >= 0
    stored_d0 = physics.jets[f"track_{rank}_d0_significance"].astype(np.float64)
    stored_z0 = physics.jets[f"track_{rank}_z0_significance"].astype(np.float64)
    np.testing.assert_array_equal(np.isneginf(stored_d0), ~has)
    np.testing.assert_array_equal(np.isneginf(stored_z0), ~has)
    np.testing.assert_allclose(stored_d0[has], s_d0[pick[has]], rtol=STORED_RTOL, atol=1e-6)
    # The z0 of the N-th track: a near-tie in d0 significance (within the storage
    # precision) may swap which track is N-th; otherwise the values agree.
    agree = np.isclose(stored_z0[has], s_z0[pick[has]], rtol=STORED_RTOL, atol=1e-6)
    neighbours = [kth_track_by(s_d0, physics, k)[has] for k in (rank - 1, rank + 1)]
    near_tie = np.zeros(has.sum(), dtype=bool)
    for other in neighbours:
        valid = other >= 0
        near_tie[valid] |= np.isclose(s_d0[other[valid]], s_d0[pick[has]][valid], rtol=STORED_RTOL, atol=1e-6)
    assert (agree | near_tie).all()
    assert agree.mean() > 0.999


def test_jet_widths_are_momentum_weighted_track_spreads(physics):
    t = {k: v.astype(np.float64) for k, v in physics.tracks.items()}
    jet = track_jet(physics)
    p = 1.0 / np.abs(t["qoverp"])
    weight = np.bincount(jet, p)
    width_phi = np.sqrt(np.bincount(jet, p * t["phi"] ** 2) / weight)
    # d(eta) = -cosh(eta) d(theta)
    width_eta = np.cosh(physics.jets["jet_eta"].astype(np.float64)) * np.sqrt(
        np.bincount(jet, p * t["theta"] ** 2) / weight
    )
    np.testing.assert_allclose(physics.jets["jet_width_phi"], width_phi, rtol=STORED_RTOL)
    np.testing.assert_allclose(physics.jets["jet_width_eta"], width_eta, rtol=STORED_RTOL)


def test_vertex_features_agree_with_the_tracks_on_vertices(physics):
    j, t = physics.jets, physics.tracks
    jet = track_jet(physics)
    on_vertex = t["vertex_displacement"] > 0
    n_on_vertex = np.bincount(jet, on_vertex, minlength=len(physics))
    has_vertex = j["n_secondary_vertices"] > 0
    np.testing.assert_array_equal(has_vertex, n_on_vertex > 0)
    np.testing.assert_array_equal(j["n_secondary_vertex_tracks"][has_vertex], n_on_vertex[has_vertex])
    # Number of distinct vertices: distinct displacements among the jet's vertex tracks.
    pairs = np.unique(np.stack([jet[on_vertex], t["vertex_displacement"][on_vertex]]), axis=1)
    np.testing.assert_array_equal(
        j["n_secondary_vertices"][has_vertex], np.bincount(pairs[0].astype(int), minlength=len(physics))[has_vertex]
    )
    # vertex_n_tracks of a vertex track: the tracks of the jet on that vertex.
    _, inverse, counts = np.unique(
        np.stack([jet[on_vertex], t["vertex_displacement"][on_vertex]], axis=1),
        axis=0,
        return_inverse=True,
        return_counts=True,
    )
    np.testing.assert_array_equal(t["vertex_n_tracks"][on_vertex], counts[inverse.ravel()])
    # Primary-vertex tracks: at least this jet's primary tracks.
    n_primary = np.bincount(jet, ~on_vertex, minlength=len(physics))
    assert (t["vertex_n_tracks"][~on_vertex] >= n_primary[jet[~on_vertex]]).all()
    # One-vertex jets: the jet's vertex mass is its tracks' vertex mass, and its energy
    # fraction is the vertex tracks' share of the jet's track momenta.
    single = j["n_secondary_vertices"] == 1
    single_tracks = single[jet] & on_vertex
    np.testing.assert_array_equal(j["vertex_mass"][jet[single_tracks]], t["vertex_mass"][single_tracks])
    p = 1.0 / np.abs(t["qoverp"].astype(np.float64))
    share = np.bincount(jet, p * on_vertex, minlength=len(physics)) / np.bincount(jet, p, minlength=len(physics))
    np.testing.assert_allclose(j["vertex_energy_fraction"][single], share[single], rtol=STORED_RTOL)
    np.testing.assert_allclose(t["vertex_energy_fraction"][single_tracks], share[jet[single_tracks]], rtol=STORED_RTOL)


# --- track covariance and order ------------------------------------------------------------------


def test_covariance_diagonals_positive_and_correlations_below_one(physics):
    t = {k: v.astype(np.float64) for k, v in physics.tracks.items()}
    for name in COVARIANCE_DIAGONAL:
        assert (t[name] > 0).all(), name
    helix = TRACK_HELIX
    for i, row in enumerate(helix):
        for col in helix[:i]:
            correlation = np.abs(t[row + col]) / np.sqrt(t[row + row] * t[col + col])
            assert (correlation < 1).all(), row + col


def test_covariance_matrices_are_positive_definite(physics):
    t = {k: v.astype(np.float64) for k, v in physics.tracks.items()}
    helix = TRACK_HELIX
    matrix = np.empty((len(t["d0"]), 5, 5))
    for i, row in enumerate(helix):
        for j, col in enumerate(helix[: i + 1]):
            entry = t[row + col] if i != j else t[row + row]
            matrix[:, i, j] = matrix[:, j, i] = entry
    sigma = np.sqrt(np.diagonal(matrix, axis1=1, axis2=2))
    correlation = matrix / (sigma[:, :, None] * sigma[:, None, :])
    assert (np.linalg.eigvalsh(correlation)[:, 0] > 0).all()


def test_track_weights_are_fit_weights(physics):
    weight = physics.tracks["weight"]
    assert ((weight >= 0) & (weight <= 1)).all()


def test_tracks_in_file_order(physics):
    """Within a jet: primary-vertex tracks first, then secondary-vertex tracks, each ascending in d0."""
    t = physics.tracks
    on_vertex = (t["vertex_displacement"] > 0).astype(int)
    order = np.lexsort((t["d0"], on_vertex, track_jet(physics)))
    np.testing.assert_array_equal(t["d0"][order], t["d0"])
    np.testing.assert_array_equal(on_vertex[order], on_vertex)


# --- command line ------------------------------------------------------------------------


def test_cli_generate_writes_the_library_file(tmp_path, capsys):
    output = tmp_path / "cli.json.gz"
    assert cli.main(["generate", "--n-jets", "300", "--seed", "2", "--output", str(output)]) == 0
    assert str(output) in capsys.readouterr().out
    generate_file(tmp_path / "lib.json.gz", 300, seed=2)
    assert output.read_bytes() == (tmp_path / "lib.json.gz").read_bytes()


def test_cli_generate_rejects_an_unknown_suffix(tmp_path, capsys):
    output = tmp_path / "jets.txt"
    assert cli.main(["generate", "--n-jets", "10", "--seed", "1", "--output", str(output)]) != 0
    err = capsys.readouterr().err
    assert "jets.txt" in err and ".json.gz" in err
    assert not list(tmp_path.iterdir())


def test_cli_generate_rejects_no_jets(tmp_path, capsys):
    assert cli.main(["generate", "--n-jets", "0", "--output", str(tmp_path / "jets.json.gz")]) != 0
    assert "n_jets" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_difficulty_knobs_change_the_separation():
    easy = generate(5000, seed=2, difficulty=synthetic.Difficulty(lifetime_scale=3.0))
    hard = generate(5000, seed=2, difficulty=synthetic.Difficulty(lifetime_scale=0.3))

    def displaced_tail_of_b_tracks(batch: JetBatch) -> float:
        flavor = np.repeat(batch.jets["flavor"], batch.n_tracks)
        significance = batch.tracks["d0"] / np.sqrt(batch.tracks["d0d0"])
        return float(np.percentile(significance[flavor == 5], 90))

    assert displaced_tail_of_b_tracks(easy) > 2 * displaced_tail_of_b_tracks(hard)


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


def test_generator_knobs_out_of_range_are_refused_by_name():
    with pytest.raises(ConfigError, match="sv_efficiency_b"):
        synthetic.Difficulty(sv_efficiency_b=1.2)
    with pytest.raises(ConfigError, match="resolution_scale"):
        synthetic.Difficulty(resolution_scale=0.0)
    with pytest.raises(ConfigError, match="unknown generator knob.*resolution"):
        synthetic.Difficulty.from_config({"resolution": 2.0})
    with pytest.raises(ConfigError, match="sample 'x'.*light_fake_sv_rate"):
        synthetic.Difficulty().scaled({"light_fake_sv_rate": 20.0}, "sample 'x'")


def test_a_scaled_knob_changes_only_that_knob_and_keeps_the_jets_kinematics():
    nominal = synthetic.Difficulty()
    worse = nominal.scaled({"resolution_scale": 1.1}, "test")
    assert worse.resolution_scale == pytest.approx(3.3) and repr(worse.resolution_scale) == "3.3"
    assert {k: v for k, v in worse.to_dict().items() if k != "resolution_scale"} == {
        k: v for k, v in nominal.to_dict().items() if k != "resolution_scale"
    }
    a, b = generate(2000, seed=5, difficulty=nominal), generate(2000, seed=5, difficulty=worse)
    # the jets are drawn before their tracks: the same jets, their impact parameters measured worse
    for name in ("jet_pt", "jet_eta", "flavor"):
        np.testing.assert_array_equal(a.jets[name], b.jets[name])
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert np.std(b.tracks["d0"]) > np.std(a.tracks["d0"])


def test_a_mismodelled_sample_holds_the_same_jets_as_its_nominal_twin():
    """Flavour, pT and eta are drawn before any knob acts: a shifted sample of the same seed and size is
    the twin's jets seen through another simulation (the pairing of the shifted samples' errors)."""
    nominal = synthetic.Difficulty()
    twin = synthetic.generate(3000, seed=1001, difficulty=nominal)
    for factors in ({"resolution_scale": 1.2}, {"lifetime_scale": 0.9}, {"light_fake_sv_rate": 1.5}):
        shifted = synthetic.generate(3000, seed=1001, difficulty=nominal.scaled(factors, "test"))
        for field in ("flavor", "jet_pt", "jet_eta"):
            np.testing.assert_array_equal(shifted.jets[field], twin.jets[field])
        assert not np.array_equal(shifted.tracks["d0"][:1000], twin.tracks["d0"][:1000])  # the knob acted
