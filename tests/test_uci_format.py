"""Tests of the reader and writer of the Jet Flavor Dataset's JSON-lines format.

The layout is the one of ``../shared/reference/jet-flavor-dataset.md``: one
jet per line, ``[jet_pt, jet_eta, flavor, [8], [6], [track, ...]]`` with each
track ``[[5 helix], [15 covariance], [weight], [7 vertex]]``. Expected values
and column names are written out literally here, not taken from the package,
so that a mistake in the package's own declarations is caught too.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from robusttag.convert import convert
from robusttag.errors import DataFormatError
from robusttag.features import RAW_JET_FIELDS, TRACK_FIELDS
from robusttag.jets import JetBatch
from robusttag.sources.uci import encode_jets, explain_line, iter_blocks, parse_block, read_jets

INF, NAN = float("inf"), float("nan")

# ---------------------------------------------------------------------------
# One hand-written line with known values, and what it must read as
# ---------------------------------------------------------------------------

HAND_LINE = (
    "[57.25, -1.5, 5, "
    '[3.5, "-inf", 2, 1.25, 5.0, 0.0625, "inf", -Infinity], '
    '[NaN, 2, 3.0, Infinity, 1.75, "-NaN"], '
    "[[[0.0125, -0.025, 0.375, -0.25, 0.0005], "
    "[1e-4, -2e-5, 3e-4, 4e-6, -5e-6, 6e-5, 7e-7, -8e-7, 9e-8, 1e-5, 1.1e-9, -1.2e-9, 1.3e-9, -1.4e-9, 1.5e-10], "
    "[0.875], "
    '[0.13957, 0, "NaN", "NaN", "NaN", 5, 0.5]], '
    "[[-0.5, 1.5, -0.125, 0.0625, -0.001], "
    "[2e-4, 3e-5, 4e-4, -5e-6, 6e-6, 7e-5, -8e-7, 9e-7, -1e-7, 2e-5, -2.1e-9, 2.2e-9, -2.3e-9, 2.4e-9, 2.5e-10], "
    "[1], "
    '[2.5, 3.25, "-inf", -0.125, Infinity, 3.0, "nan"]]]]'
)

HAND_JET = {
    "jet_pt": 57.25,
    "jet_eta": -1.5,
    "flavor": 5,
    "track_2_d0_significance": 3.5,
    "track_3_d0_significance": -INF,
    "track_2_z0_significance": 2.0,
    "track_3_z0_significance": 1.25,
    "n_tracks_over_d0_threshold": 5.0,
    "jet_prob": 0.0625,
    "jet_width_eta": INF,
    "jet_width_phi": -INF,
    "vertex_significance": NAN,
    "n_secondary_vertices": 2.0,
    "n_secondary_vertex_tracks": 3.0,
    "delta_r_vertex": INF,
    "vertex_mass": 1.75,
    "vertex_energy_fraction": NAN,
}

HAND_TRACKS = {  # column -> (track 1, track 2)
    "track_d0": (0.0125, -0.5),
    "track_z0": (-0.025, 1.5),
    "track_phi": (0.375, -0.125),
    "track_theta": (-0.25, 0.0625),
    "track_qoverp": (0.0005, -0.001),
    "track_d0d0": (1e-4, 2e-4),
    "track_z0d0": (-2e-5, 3e-5),
    "track_z0z0": (3e-4, 4e-4),
    "track_phid0": (4e-6, -5e-6),
    "track_phiz0": (-5e-6, 6e-6),
    "track_phiphi": (6e-5, 7e-5),
    "track_thetad0": (7e-7, -8e-7),
    "track_thetaz0": (-8e-7, 9e-7),
    "track_thetaphi": (9e-8, -1e-7),
    "track_thetatheta": (1e-5, 2e-5),
    "track_qoverpd0": (1.1e-9, -2.1e-9),
    "track_qoverpz0": (-1.2e-9, 2.2e-9),
    "track_qoverpphi": (1.3e-9, -2.3e-9),
    "track_qoverptheta": (-1.4e-9, 2.4e-9),
    "track_qoverpqoverp": (1.5e-10, 2.5e-10),
    "track_weight": (0.875, 1.0),
    "track_vertex_mass": (0.13957, 2.5),
    "track_vertex_displacement": (0.0, 3.25),
    "track_vertex_delta_eta_jet": (NAN, -INF),
    "track_vertex_delta_phi_jet": (NAN, -0.125),
    "track_vertex_displacement_significance": (NAN, INF),
    "track_vertex_n_tracks": (5.0, 3.0),
    "track_vertex_energy_fraction": (0.5, NAN),
}

# Two more jets without tracks, to see every flavour code (4 written as a float).
C_JET_LINE = '[30, 0.25, 4.0, [1, 2, 3, 4, 0, -1, 0.5, 0.25], [-1, -1, -1, "inf", -1, "-inf"], []]'
LIGHT_JET_LINE = "[40.5, 2.0, 0, [0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 2, 0.5, 1.5, 0.75], []]"

# ---------------------------------------------------------------------------
# Valid lines built from parts, for the malformed-input variants
# ---------------------------------------------------------------------------

HELIX = "[0.01, -0.02, 0.1, -0.1, 0.001]"
COVARIANCE = "[" + ", ".join(str(i) for i in range(1, 16)) + "]"
WEIGHT = "[1.0]"
TRACK_VERTEX = '[0.13957, 0, "NaN", "NaN", "NaN", 4, 0.5]'
TRACK = f"[{HELIX}, {COVARIANCE}, {WEIGHT}, {TRACK_VERTEX}]"
TRACKING = "[1, 2, 3, 4, 5, 0.5, 0.1, 0.2]"
VERTEX = "[1, 2, 3, 0.4, 1.5, 0.6]"


def jet_line(pt="50.0", flavor="5", tracking=TRACKING, vertex=VERTEX, tracks=(TRACK,)) -> str:
    return f"[{pt}, 0.5, {flavor}, {tracking}, {vertex}, [{', '.join(tracks)}]]"


def numbered_lines(n: int, n_tracks: int = 1) -> list[str]:
    """``n`` valid jets whose jet_pt is the line number (so a jet names its line)."""
    return [jet_line(pt=str(i), flavor="054"[i % 3], tracks=(TRACK,) * n_tracks) for i in range(1, n + 1)]


def write_lines(path: Path, lines: list[str], *, newline: str = "\n", final_newline: bool = True) -> Path:
    text = newline.join(lines) + (newline if final_newline else "")
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def read_all(path: Path, **kwargs) -> JetBatch:
    return JetBatch.concatenate(list(read_jets(path, **kwargs)))


def assert_batches_equal(actual: JetBatch, expected: JetBatch) -> None:
    """Equal bit for bit (NaN matches NaN, -0.0 does not match 0.0)."""
    np.testing.assert_array_equal(actual.offsets, expected.offsets)
    for name in RAW_JET_FIELDS:
        assert_same_bits(actual.jets[name], expected.jets[name], name)
    for name in TRACK_FIELDS:
        assert_same_bits(actual.tracks[name], expected.tracks[name], name)


def assert_same_bits(actual: np.ndarray, expected: np.ndarray, name: str) -> None:
    assert actual.dtype == expected.dtype, name
    np.testing.assert_array_equal(actual, expected, err_msg=name)  # NaN positions and values
    if actual.dtype == np.float32:
        finite_or_inf = ~np.isnan(expected)
        np.testing.assert_array_equal(
            actual[finite_or_inf].view(np.uint32), expected[finite_or_inf].view(np.uint32), err_msg=name
        )


def output_leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def convert_fails(source: Path, tmp_path: Path, **kwargs) -> DataFormatError:
    """Run ``convert`` expecting a DataFormatError; check it leaves nothing behind."""
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    output = out_dir / "jets.parquet"
    with pytest.raises(DataFormatError) as caught:
        convert(source, output, **kwargs)
    assert not output.exists()
    assert output_leftovers(out_dir) == [], "a temporary .jets.parquet.part (or other file) was left behind"
    assert str(source) in str(caught.value)
    return caught.value


# ---------------------------------------------------------------------------
# 1. A hand-written line, field by field through convert() and Parquet
# ---------------------------------------------------------------------------


def test_hand_written_line_converts_field_by_field(tmp_path):
    source = write_lines(tmp_path / "jets.json", [HAND_LINE, C_JET_LINE, LIGHT_JET_LINE])
    output = tmp_path / "raw" / "jets.parquet"

    summary = convert(source, output)

    assert (summary.n_jets, summary.n_tracks) == (3, 2)
    assert summary.jets_per_flavor == {"b": 1, "c": 1, "light": 1}
    table = pq.read_table(output)
    assert table.column_names == [*HAND_JET, *HAND_TRACKS]
    assert table.num_rows == 3

    for name, value in HAND_JET.items():
        column = table.column(name)
        if name == "flavor":
            assert pa.types.is_integer(column.type)
            assert column.to_pylist() == [5, 4, 0]
        else:
            assert column.type == pa.float32(), name
            np.testing.assert_array_equal(column.to_numpy()[0], np.float32(value), err_msg=name)

    for name, values in HAND_TRACKS.items():
        column = table.column(name)
        assert column.type.value_type == pa.float32(), name
        per_jet = column.to_pylist()
        assert [len(tracks) for tracks in per_jet] == [2, 0, 0], name
        np.testing.assert_array_equal(
            np.array(per_jet[0], dtype=np.float32), np.array(values, dtype=np.float32), err_msg=name
        )


def test_hand_written_jets_without_tracks_read_their_values(tmp_path):
    batch = parse_block(f"{C_JET_LINE}\n{LIGHT_JET_LINE}\n".encode())
    assert batch.jets["flavor"].tolist() == [4, 0]
    np.testing.assert_array_equal(batch.jets["jet_pt"], np.float32([30, 40.5]))
    np.testing.assert_array_equal(batch.jets["delta_r_vertex"], np.float32([INF, 0.5]))
    np.testing.assert_array_equal(batch.jets["vertex_energy_fraction"], np.float32([-INF, 0.75]))
    np.testing.assert_array_equal(batch.jets["jet_prob"], np.float32([-1, 0]))
    assert batch.offsets.tolist() == [0, 0, 0]


def test_non_finite_signs_are_kept():
    batch = parse_block(HAND_LINE.encode())
    assert np.isposinf(batch.jets["jet_width_eta"][0]) and np.isneginf(batch.jets["jet_width_phi"][0])
    assert np.isneginf(batch.jets["track_3_d0_significance"][0])
    assert np.isnan(batch.jets["vertex_energy_fraction"][0])  # "-NaN"
    assert np.isneginf(batch.tracks["vertex_delta_eta_jet"][1])
    assert np.isposinf(batch.tracks["vertex_displacement_significance"][1])


# ---------------------------------------------------------------------------
# 2. Whitespace and line-ending variants
# ---------------------------------------------------------------------------


def test_compact_and_spaced_separators_parse_identically():
    spaced = parse_block(HAND_LINE.encode())
    compact = parse_block(HAND_LINE.replace(", ", ",").encode())
    very_spaced = parse_block(HAND_LINE.replace(",", " , ").replace("[", "[ ").replace("]", " ]").encode())
    tabbed = parse_block(HAND_LINE.replace(", ", ",\t").encode())
    for variant in (compact, very_spaced, tabbed):
        assert_batches_equal(variant, spaced)


def test_jet_with_no_tracks_has_an_empty_track_list():
    lines = [jet_line(pt="1"), jet_line(pt="2", tracks=()), jet_line(pt="3", tracks=(TRACK, TRACK))]
    batch = parse_block("\n".join(lines).encode())
    assert batch.n_tracks.tolist() == [1, 0, 2]
    assert batch.jets["jet_pt"].tolist() == [1, 2, 3]
    assert batch.tracks["d0"].tolist() == [np.float32(0.01)] * 3


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_file_without_final_newline(tmp_path, suffix):
    lines = numbered_lines(5)
    with_newline = read_all(write_lines(tmp_path / f"a{suffix}", lines), workers=0)
    without = read_all(write_lines(tmp_path / f"b{suffix}", lines, final_newline=False), workers=0)
    assert without.jets["jet_pt"].tolist() == [1, 2, 3, 4, 5]
    assert_batches_equal(without, with_newline)


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_crlf_line_endings(tmp_path, suffix):
    lines = [HAND_LINE, C_JET_LINE, *numbered_lines(4)]
    unix = read_all(write_lines(tmp_path / f"unix{suffix}", lines), workers=0)
    windows = read_all(write_lines(tmp_path / f"windows{suffix}", lines, newline="\r\n"), workers=0)
    assert len(windows) == 6
    assert_batches_equal(windows, unix)


def test_crlf_error_names_the_right_line(tmp_path):
    lines = numbered_lines(5)
    lines[3] = jet_line(flavor="3")
    error = convert_fails(write_lines(tmp_path / "jets.json", lines, newline="\r\n"), tmp_path)
    assert error.line == 4


# ---------------------------------------------------------------------------
# 3. Malformed input: the error names file, line and fault; nothing is left
# ---------------------------------------------------------------------------

COVARIANCE_14 = "[" + ", ".join(str(i) for i in range(1, 15)) + "]"
TRACK_COVARIANCE_14 = f"[{HELIX}, {COVARIANCE_14}, {WEIGHT}, {TRACK_VERTEX}]"
TRACK_3_LISTS = f"[{HELIX}, {COVARIANCE}, {WEIGHT}]"

MALFORMED_LINES = {
    # name: (bad line, substrings the message must contain)
    "not_json": ("[1.0, 2.0, oops", ["not valid JSON"]),
    "five_elements": (f"[50.0, 0.5, 5, {TRACKING}, {VERTEX}]", ["6 elements", "found 5 elements"]),
    "seven_tracking_values": (
        jet_line(tracking="[1, 2, 3, 4, 5, 0.5, 0.1]"),
        ["element 4", "expected 8 values", "found 7 values"],
    ),
    "five_vertex_values": (jet_line(vertex="[1, 2, 3, 0.4, 1.5]"), ["element 5", "expected 6", "found 5 values"]),
    "covariance_of_14": (
        jet_line(tracks=(TRACK_COVARIANCE_14,)),
        ["track 1", "expected 15 values", "found 14 values"],
    ),
    "track_of_3_lists": (jet_line(tracks=(TRACK, TRACK_3_LISTS)), ["track 2", "expected 4 lists", "found 3 lists"]),
    "unknown_flavour": (jet_line(flavor="3"), ["unknown flavour code", "3"]),
    "fractional_flavour": (jet_line(flavor="4.5"), ["unknown flavour code", "4.5"]),
    "empty_line": ("", ["empty line"]),
    "blank_line": (" \t ", ["empty line"]),
    "space_instead_of_comma": (jet_line(pt="1.5 2.5"), ["not valid JSON"]),
    "space_inside_a_list": (jet_line(tracking="[1, 2, 3, 4, 5, 0.5 0.7, 0.1, 0.2]"), ["not valid JSON"]),
    "missing_value": (jet_line(tracking="[1, 2, , 4, 5, 0.5, 0.1, 0.2]"), ["not valid JSON"]),
    "word_for_a_number": (jet_line(pt='"abc"'), ["jet_pt", '"abc" is not a number']),
    "empty_string_for_a_number": (jet_line(pt='""'), ["jet_pt", "is not a number"]),
    "boolean_for_a_number": (jet_line(vertex="[1, true, 3, 0.4, 1.5, 0.6]"), ["element 5", "expected a number"]),
    "null_for_a_number": (jet_line(pt="null"), ["jet_pt", "expected a number"]),
}


@pytest.mark.parametrize("name", MALFORMED_LINES)
@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_malformed_line_is_named(tmp_path, name, suffix):
    bad_line, fragments = MALFORMED_LINES[name]
    lines = numbered_lines(5)
    lines[2] = bad_line
    error = convert_fails(write_lines(tmp_path / f"jets{suffix}", lines), tmp_path)
    assert error.line == 3
    assert "line 3" in str(error)
    for fragment in fragments:
        assert fragment in str(error)


@pytest.mark.parametrize("name", MALFORMED_LINES)
def test_explain_line_finds_each_fault_and_accepts_good_lines(name):
    bad_line, fragments = MALFORMED_LINES[name]
    problem = explain_line(bad_line.encode())
    assert problem is not None and all(f in problem for f in fragments)
    for good in (HAND_LINE, C_JET_LINE, LIGHT_JET_LINE, *numbered_lines(3)):
        assert explain_line(good.encode()) is None


def test_split_number_is_not_hidden_by_an_empty_slot(tmp_path):
    # One slot holds two numbers, another none: the count of numbers is right,
    # but the line is not JSON and its values would be shifted by one.
    bad = jet_line(tracking="[1, 2, 3, 4, 5, 0.5 0.7, 0.1, 0.2]", vertex='[1, "", 3, 0.4, 1.5, 0.6]')
    lines = numbered_lines(5)
    lines[2] = bad
    error = convert_fails(write_lines(tmp_path / "jets.json", lines), tmp_path)
    assert error.line == 3


def test_split_number_and_empty_slot_on_different_lines_blame_the_right_line(tmp_path):
    lines = numbered_lines(5)
    lines[1] = jet_line(tracking="[1, 2, 3, 4, 5, 0.5 0.7, 0.1, 0.2]")
    lines[3] = jet_line(vertex='[1, "", 3, 0.4, 1.5, 0.6]')
    error = convert_fails(write_lines(tmp_path / "jets.json", lines), tmp_path)
    assert error.line == 2
    assert "not valid JSON" in str(error)


def test_number_the_fast_path_rejects_is_named_at_its_line(tmp_path):
    lines = numbered_lines(5)
    lines[2] = jet_line(pt='"1_0"')  # Python's float() reads it, the fast parser does not
    error = convert_fails(write_lines(tmp_path / "jets.json", lines), tmp_path)
    assert error.line == 3


def _lines_in_message(error: DataFormatError) -> int:
    match = re.search(r"(\d+) complete lines before the fault", str(error))
    assert match, str(error)
    return int(match[1])


def test_truncated_gzip(tmp_path):
    lines = numbered_lines(3000)
    source = write_lines(tmp_path / "jets.json.gz", lines)
    data = source.read_bytes()
    source.write_bytes(data[: len(data) * 2 // 3])

    error = convert_fails(source, tmp_path, block_bytes=1 << 12)

    assert "truncated" in str(error)
    assert error.line is None
    # The lines said to be read are complete and intact in what is left.
    recovered = zlib.decompressobj(wbits=31).decompress(source.read_bytes())
    n_read = _lines_in_message(error)
    assert 0 < n_read == recovered.count(b"\n")
    assert recovered.split(b"\n")[n_read - 1].decode() == lines[n_read - 1]


@pytest.mark.parametrize("cut", [1, 4, 8, 20])
def test_gzip_cut_in_its_last_bytes_is_truncated(tmp_path, cut):
    source = write_lines(tmp_path / "jets.json.gz", numbered_lines(50))
    source.write_bytes(source.read_bytes()[:-cut])  # inside the CRC / size trailer, or the data
    error = convert_fails(source, tmp_path)
    assert "truncated" in str(error)


def test_corrupt_gzip(tmp_path):
    source = write_lines(tmp_path / "jets.json.gz", numbered_lines(2000))
    data = bytearray(source.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 32] = bytes(b ^ 0xFF for b in data[middle : middle + 32])
    source.write_bytes(bytes(data))

    error = convert_fails(source, tmp_path)

    assert "corrupt gzip" in str(error)


def test_empty_plain_file(tmp_path):
    source = tmp_path / "jets.json"
    source.write_bytes(b"")
    error = convert_fails(source, tmp_path)
    assert "empty" in str(error)


def test_empty_gzip_file(tmp_path):
    source = tmp_path / "jets.json.gz"
    source.write_bytes(b"")  # zero bytes: not even a gzip header
    error = convert_fails(source, tmp_path)
    assert "empty" in str(error) or "truncated" in str(error)


def test_gzip_of_nothing(tmp_path):
    source = tmp_path / "jets.json.gz"
    source.write_bytes(gzip.compress(b""))
    error = convert_fails(source, tmp_path)
    assert "empty" in str(error)


def test_only_a_newline(tmp_path):
    source = tmp_path / "jets.json"
    source.write_bytes(b"\n")
    with pytest.raises(DataFormatError, match="empty"):
        list(read_jets(source, workers=0))


# Deep in a big file: the bad line lies in a later block (block_bytes 64 KiB,
# about 160 bytes a line, 40000 lines: several blocks before line 30001).

DEEP_LINES = 40_000
DEEP_BAD_LINE = 30_001
DEEP_FAULTS = {"not_json": ("[1.0, 2.0, oops", "not valid JSON"), "flavour": (jet_line(flavor="3"), "unknown flavour")}


@pytest.fixture(scope="module")
def deep_lines() -> list[str]:
    return numbered_lines(DEEP_LINES)


@pytest.mark.parametrize("fault", DEEP_FAULTS)
@pytest.mark.parametrize("workers", [0, 2])
def test_bad_line_deep_in_a_big_file(tmp_path, deep_lines, fault, workers):
    bad_line, fragment = DEEP_FAULTS[fault]
    lines = list(deep_lines)
    lines[DEEP_BAD_LINE - 1] = bad_line
    source = write_lines(tmp_path / "jets.json", lines)
    assert source.stat().st_size > 8 * (1 << 20) // 2  # several 1 MiB reads, so several blocks

    blocks = list(iter_blocks(source, block_bytes=1 << 16))
    first_lines = [first for first, _ in blocks]
    assert len(blocks) > 3 and first_lines[1] <= DEEP_BAD_LINE  # not in the first block

    with pytest.raises(DataFormatError) as caught:
        for _ in read_jets(source, block_bytes=1 << 16, workers=workers):
            pass
    error = caught.value
    assert error.line == DEEP_BAD_LINE
    assert f"line {DEEP_BAD_LINE}" in str(error) and str(source) in str(error) and fragment in str(error)


def test_bad_line_deep_in_a_big_file_through_convert(tmp_path, deep_lines):
    lines = list(deep_lines)
    lines[DEEP_BAD_LINE - 1] = jet_line(tracks=(TRACK_COVARIANCE_14,))
    error = convert_fails(write_lines(tmp_path / "jets.json", lines), tmp_path, block_bytes=1 << 16)
    assert error.line == DEEP_BAD_LINE and "found 14 values" in str(error)


@pytest.mark.parametrize("workers", [0, 2])
def test_big_file_reads_every_jet_in_order(tmp_path, deep_lines, workers):
    source = write_lines(tmp_path / "jets.json", deep_lines)
    batches = list(read_jets(source, block_bytes=1 << 16, workers=workers))
    assert len(batches) > 3
    jets = JetBatch.concatenate(batches)
    np.testing.assert_array_equal(jets.jets["jet_pt"], np.arange(1, DEEP_LINES + 1, dtype=np.float32))
    assert jets.jets["flavor"][:3].tolist() == [5, 4, 0]
    assert int(jets.offsets[-1]) == DEEP_LINES


# ---------------------------------------------------------------------------
# 4. encode_jets -> parse_block round trip, bit for bit
# ---------------------------------------------------------------------------


def random_batch(rng: np.random.Generator, n_tracks: list[int]) -> JetBatch:
    def values(n: int) -> np.ndarray:
        scale = 10.0 ** rng.integers(-12, 6, size=n)
        out = (rng.standard_normal(n) * scale).astype(np.float32)
        special = np.float32([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -3.4028235e38, 3.4028235e38, 1.0, 16777217])
        picks = rng.random(n) < 0.15
        out[picks] = rng.choice(special, size=int(picks.sum()))
        return out

    counts = np.asarray(n_tracks, dtype=np.int64)
    jets = {name: values(len(counts)) for name in RAW_JET_FIELDS}
    jets["flavor"] = rng.choice(np.int8([0, 4, 5]), size=len(counts))
    tracks = {name: values(int(counts.sum())) for name in TRACK_FIELDS}
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return JetBatch(jets, tracks, offsets)


@pytest.mark.parametrize(
    "n_tracks",
    [
        [0, 3, 33, 0, 0, 1, 33, 5, 0],  # ends without tracks
        [33, 0, 2, 7, 33],  # ends with tracks
        [0],
        [33],
        "random",
    ],
    ids=["ends_empty", "ends_with_tracks", "one_empty", "one_full", "random"],
)
def test_encode_then_parse_is_bit_exact(n_tracks):
    rng = np.random.default_rng(20160)
    if n_tracks == "random":
        n_tracks = [*rng.integers(0, 34, size=300).tolist(), 0, 33]
    batch = random_batch(rng, n_tracks)
    assert np.isnan(batch.tracks["d0"]).any() or len(batch.tracks["d0"]) < 20

    text = encode_jets(batch)

    assert text.endswith(b"\n") and text.count(b"\n") == len(n_tracks)
    for line in text.split(b"\n")[:-1]:
        assert explain_line(line) is None, line[:200]
    assert_batches_equal(parse_block(text), batch)


def test_encoded_text_uses_the_real_layout():
    batch = parse_block(f"{HAND_LINE}\n{C_JET_LINE}\n".encode())
    first, second = encode_jets(batch).decode().splitlines()
    assert first.startswith('[57.25, -1.5, 5, [3.5, "-inf", 2, 1.25, 5, 0.0625, "inf", "-inf"], ["NaN", 2, 3, "inf"')
    assert ", [[[0.0125, -0.025, 0.375, -0.25, 0.0005], [0.0001, " in first
    assert first.endswith('[2.5, 3.25, "-inf", -0.125, "inf", 3, "NaN"]]]]')
    assert second == '[30, 0.25, 4, [1, 2, 3, 4, 0, -1, 0.5, 0.25], [-1, -1, -1, "inf", -1, "-inf"], []]'


def test_encode_empty_batch_is_empty():
    batch = random_batch(np.random.default_rng(0), [])
    assert encode_jets(batch) == b""


def test_encode_write_read_round_trip_through_a_file(tmp_path):
    rng = np.random.default_rng(7)
    batch = random_batch(rng, rng.integers(0, 34, size=2000).tolist())
    source = tmp_path / "jets.json.gz"
    source.write_bytes(gzip.compress(encode_jets(batch)))
    for workers in (0, 2):
        assert_batches_equal(read_all(source, block_bytes=1 << 14, workers=workers), batch)


# ---------------------------------------------------------------------------
# 5. iter_blocks: complete lines that together are the file
# ---------------------------------------------------------------------------


def random_text(rng: np.random.Generator, n_lines: int, final_newline: bool) -> bytes:
    lengths = rng.integers(0, 400, size=n_lines)
    lines = [bytes(rng.integers(ord("!"), ord("~"), size=k, dtype=np.uint8)) for k in lengths]
    return b"\n".join(lines) + (b"\n" if final_newline else b"")


@pytest.mark.parametrize("block_bytes", [1, 1000, 1 << 16, (1 << 20) + 1, 3 << 20, 1 << 30])
@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
@pytest.mark.parametrize("final_newline", [True, False])
def test_iter_blocks_reproduces_the_file(tmp_path, block_bytes, suffix, final_newline):
    rng = np.random.default_rng(block_bytes)
    text = random_text(rng, 20_000, final_newline)  # about 4 MB
    source = tmp_path / f"text{suffix}"
    source.write_bytes(gzip.compress(text, compresslevel=1) if suffix.endswith(".gz") else text)

    blocks = list(iter_blocks(source, block_bytes=block_bytes))

    assert b"".join(block for _, block in blocks) == text
    expected_first = 1
    for i, (first_line, block) in enumerate(blocks):
        assert first_line == expected_first
        is_last = i == len(blocks) - 1
        assert block.endswith(b"\n") or (is_last and not final_newline)
        expected_first += block.count(b"\n")
    if block_bytes <= 1 << 20 and suffix == ".json":
        assert len(blocks) > 1


# ---------------------------------------------------------------------------
# 6. Multi-member gzip
# ---------------------------------------------------------------------------


def gzip_member(data: bytes, size: int | None = None) -> bytes:
    """One gzip member; with ``size``, padded to exactly that many bytes by a comment field."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = compressor.compress(data) + compressor.flush()
    trailer = struct.pack("<II", zlib.crc32(data), len(data))
    if size is None:
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + trailer
    padding = size - (10 + 1 + len(body) + len(trailer))
    assert padding >= 0
    return b"\x1f\x8b\x08\x10\x00\x00\x00\x00\x00\xff" + b"x" * padding + b"\x00" + body + trailer


def test_two_gzip_members_are_both_read(tmp_path):
    lines = numbered_lines(300)
    first = ("\n".join(lines[:120]) + "\n").encode()
    second = ("\n".join(lines[120:]) + "\n").encode()
    source = tmp_path / "jets.json.gz"
    source.write_bytes(gzip.compress(first) + gzip.compress(second))

    for workers in (0, 2):
        jets = read_all(source, workers=workers)
        np.testing.assert_array_equal(jets.jets["jet_pt"], np.arange(1, 301, dtype=np.float32))


def test_gzip_members_with_trailing_zero_padding(tmp_path):
    lines = numbered_lines(10)
    source = tmp_path / "jets.json.gz"
    source.write_bytes(
        gzip.compress(("\n".join(lines[:4]) + "\n").encode())
        + gzip_member(("\n".join(lines[4:]) + "\n").encode())
        + b"\x00" * 512
    )
    assert read_all(source, workers=0).jets["jet_pt"].tolist() == list(range(1, 11))


def test_second_gzip_member_after_a_first_ending_on_a_read_boundary(tmp_path):
    # The reader inflates 1 MiB reads; a first member of exactly 1 MiB ends
    # exactly at the end of a read, and the second member must still be read.
    lines = numbered_lines(20)
    first = gzip_member(("\n".join(lines[:10]) + "\n").encode(), size=1 << 20)
    second = gzip_member(("\n".join(lines[10:]) + "\n").encode())
    source = tmp_path / "jets.json.gz"
    source.write_bytes(first + second)
    assert gzip.decompress(source.read_bytes()).count(b"\n") == 20

    assert read_all(source, workers=0).jets["jet_pt"].tolist() == list(range(1, 21))


def test_garbage_after_a_gzip_member_is_an_error(tmp_path):
    source = tmp_path / "jets.json.gz"
    source.write_bytes(gzip.compress(("\n".join(numbered_lines(5)) + "\n").encode()) + b"not gzip at all")
    error = convert_fails(source, tmp_path)
    assert "gzip" in str(error)
