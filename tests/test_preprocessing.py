"""Preprocessing invariants: ordering, defaults and mask, split, scaler, weights."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from robusttag.errors import ConfigError
from robusttag.features import INPUT_NAMES, RAW_JET_FIELDS, TRACK_FIELDS, default_column, input_features
from robusttag.jets import JetBatch
from robusttag.preprocess import PreprocessSettings, preprocess, raw_inputs
from robusttag.sources.synthetic import generate

N_JETS = 20_000


def write_raw(path, batch: JetBatch):
    pq.write_table(batch.to_arrow(), path)
    return path


@pytest.fixture(scope="module")
def jets() -> JetBatch:
    return generate(N_JETS, seed=31)


@pytest.fixture(scope="module")
def done(jets, tmp_path_factory):
    """(output dir, preprocessing.json, {split: DataFrame}) of the default settings."""
    base = tmp_path_factory.mktemp("pre")
    summary = preprocess(write_raw(base / "raw.parquet", jets), base / "out", rows_per_batch=7000)
    tables = {split: pq.read_table(base / "out" / f"{split}.parquet").to_pandas() for split in ("train", "val", "test")}
    return base / "out", summary, tables


def hand_made_jet(d0s, d0d0s) -> JetBatch:
    """One b jet whose tracks differ only in d0 and d0d0."""
    n = len(d0s)
    jets = {name: np.array([1.0], np.float32) for name in RAW_JET_FIELDS}
    jets["jet_pt"][:] = 50.0
    jets["flavor"] = np.array([5], np.int8)
    tracks = {name: np.linspace(1, 2, n).astype(np.float32) for name in TRACK_FIELDS}
    tracks["d0"] = np.array(d0s, np.float32)
    tracks["d0d0"] = np.array(d0d0s, np.float32)
    return JetBatch(jets, tracks, np.array([0, n]))


# --- track ordering ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "expected_d0"),
    [
        ("signed_d0_significance", [0.1, -0.01, -0.3]),  # significances 1, -0.25, -3
        ("abs_d0_significance", [-0.3, 0.1, -0.01]),  # |significance| 3, 1, 0.25
        ("file", [-0.3, 0.1, -0.01]),
    ],
)
def test_track_order(order, expected_d0):
    jet = hand_made_jet([-0.3, 0.1, -0.01], [0.01, 0.01, 0.0016])
    features = input_features(6)
    matrix, absent = raw_inputs(jet, features, order)
    d0 = [matrix[0, INPUT_NAMES.index(f"trk{slot}_d0")] for slot in range(3)]
    np.testing.assert_allclose(d0, expected_d0, rtol=1e-6)
    absent_slots = [absent[0, INPUT_NAMES.index(f"trk{slot}_d0")] for slot in range(6)]
    assert absent_slots == [False, False, False, True, True, True]


# --- output layout --------------------------------------------------------------


def test_output_columns(done):
    out, _, tables = done
    schema = pq.read_schema(out / "train.parquet")
    assert schema.names[:184] == list(INPUT_NAMES)
    assert all(str(schema.field(name).type) == "float" for name in INPUT_NAMES)
    assert schema.names[184:368] == [default_column(name) for name in INPUT_NAMES]
    assert schema.names[368:] == ["label", "weight", "raw_jet_pt", "raw_jet_eta", "flavor"]
    train = tables["train"]
    for code, label in ((5, 0), (4, 1), (0, 2)):
        assert (train.loc[train.flavor == code, "label"] == label).all()
    for table in tables.values():
        assert np.isfinite(table[list(INPUT_NAMES)].to_numpy()).all()


# --- defaults and mask ----------------------------------------------------------


def test_defaults_lie_below_every_genuine_value(done):
    _, summary, tables = done
    for column in summary["features"]:
        name = column["name"]
        scaled_default = np.float32((column["default"] - column["mean"]) / column["std"])
        for table in tables.values():
            genuine = table.loc[~table[default_column(name)], name]
            defaulted = table.loc[table[default_column(name)], name]
            if len(genuine):
                assert scaled_default < genuine.min(), name
            np.testing.assert_allclose(defaulted, scaled_default, rtol=1e-5, atol=1e-6, err_msg=name)


def test_mask_is_computed_from_the_raw_values(jets, done):
    _, summary, tables = done
    test = tables["test"]
    identity = {(pt, eta): i for i, (pt, eta) in enumerate(zip(jets.jets["jet_pt"], jets.jets["jet_eta"]))}
    rows = np.array([identity[key] for key in zip(test.raw_jet_pt, test.raw_jet_eta)])
    raw = jets.jets
    # fixed default 0 for the d0 significance: missing (-inf) is a default, genuine values are not
    np.testing.assert_array_equal(test[default_column("track_2_d0_significance")], ~np.isfinite(raw["track_2_d0_significance"][rows]))
    # jet_prob: missing -1 lies below the default -0.001; genuine zeros are kept
    np.testing.assert_array_equal(test[default_column("jet_prob")], raw["jet_prob"][rows] < -0.001)
    # no secondary vertex: -1 below the default 0
    np.testing.assert_array_equal(test[default_column("vertex_mass")], raw["vertex_mass"][rows] < 0)
    # data-driven default of a track slot: absent slots, and values below the training minimum
    matrix, absent = raw_inputs(jets, input_features(6), "signed_d0_significance")
    column = INPUT_NAMES.index("trk3_d0")
    default = summary["features"][column]["default"]
    expected = absent[rows, column] | (matrix[rows, column] < default)
    np.testing.assert_array_equal(test[default_column("trk3_d0")], expected)
    assert (absent[rows, column] == (jets.n_tracks[rows] < 4)).all()


# --- scaler: training values only -------------------------------------------------


def test_scaler_uses_only_genuine_training_values(jets, done):
    _, summary, tables = done
    train = tables["train"]
    means = {c["name"]: c["mean"] for c in summary["features"]}
    stds = {c["name"]: c["std"] for c in summary["features"]}
    identity = {(pt, eta): i for i, (pt, eta) in enumerate(zip(jets.jets["jet_pt"], jets.jets["jet_eta"]))}
    rows = np.array([identity[key] for key in zip(train.raw_jet_pt, train.raw_jet_eta)])
    for name in ("jet_pt", "jet_prob", "vertex_mass", "track_2_d0_significance"):
        raw = jets.jets[name][rows].astype(np.float64)
        genuine = raw[~train[default_column(name)].to_numpy()]
        assert means[name] == pytest.approx(genuine.mean(), rel=1e-5)
        assert stds[name] == pytest.approx(genuine.std(ddof=1), rel=1e-4)


def test_validation_and_test_jets_do_not_leak_into_the_scaler(jets, done, tmp_path):
    _, summary, _ = done
    changed = generate(N_JETS, seed=31)
    settings = PreprocessSettings()
    from robusttag.preprocess import split_assignment

    not_train = split_assignment(N_JETS, settings.split, settings.seed) != 0
    changed.jets["jet_prob"] = np.where(not_train, changed.jets["jet_prob"] * 7 + 3, changed.jets["jet_prob"])
    other = preprocess(write_raw(tmp_path / "raw.parquet", changed), tmp_path / "out", rows_per_batch=7000)
    assert [c["mean"] for c in other["features"]] == [c["mean"] for c in summary["features"]]
    assert [c["std"] for c in other["features"]] == [c["std"] for c in summary["features"]]


# --- split ----------------------------------------------------------------------


def test_split_sizes_and_disjointness(done):
    _, summary, tables = done
    assert summary["split_sizes"] == {"train": round(0.72 * N_JETS), "val": round(0.08 * N_JETS), "test": N_JETS - round(0.72 * N_JETS) - round(0.08 * N_JETS)}
    keys = [set(zip(t.raw_jet_pt, t.raw_jet_eta)) for t in tables.values()]
    assert sum(len(k) for k in keys) == N_JETS  # (pt, eta) identifies a jet here
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])


def test_split_seed(jets, done, tmp_path):
    _, _, tables = done
    raw = write_raw(tmp_path / "raw.parquet", jets)
    preprocess(raw, tmp_path / "same", PreprocessSettings(seed=42), rows_per_batch=7000)
    preprocess(raw, tmp_path / "other", PreprocessSettings(seed=43), rows_per_batch=7000)
    same = pq.read_table(tmp_path / "same" / "val.parquet").to_pandas()
    other = pq.read_table(tmp_path / "other" / "val.parquet").to_pandas()
    assert same.equals(tables["val"])
    assert not set(zip(other.raw_jet_pt, other.raw_jet_eta)) == set(zip(same.raw_jet_pt, same.raw_jet_eta))


def test_same_input_gives_identical_output(jets, done, tmp_path):
    out, _, _ = done
    preprocess(write_raw(tmp_path / "raw.parquet", jets), tmp_path / "again", rows_per_batch=7000)
    for split in ("train", "val", "test"):
        assert pq.read_table(tmp_path / "again" / f"{split}.parquet").equals(pq.read_table(out / f"{split}.parquet"))


# --- weights ----------------------------------------------------------------------


def _histogram(table, weights):
    return np.histogram2d(table.raw_jet_eta, np.clip(table.raw_jet_pt, 20, 899), bins=[np.linspace(-2.5, 2.5, 4), [20, 40, 70, 900]], weights=weights)[0]


def test_weights_equalise_the_flavour_kinematics(tmp_path):
    # enough jets that few of the 50 x 50 bins are empty for the c jets (12 %)
    preprocess(write_raw(tmp_path / "raw.parquet", generate(100_000, seed=8)), tmp_path / "out")
    train = pq.read_table(tmp_path / "out" / "train.parquet", columns=["label", "weight", "raw_jet_pt", "raw_jet_eta"]).to_pandas()
    shapes, errors, raw_shapes = [], [], []
    for label in (0, 1, 2):
        part = train[train.label == label]
        total = part.weight.sum()
        shapes.append(_histogram(part, part.weight) / total)
        errors.append(np.sqrt(_histogram(part, part.weight**2)) / total)
        raw_shapes.append(_histogram(part, None) / len(part))
        assert total == pytest.approx(len(train) / 3, rel=0.05)  # class balance
    for a in range(3):
        for b in range(a + 1, 3):
            chi2 = ((shapes[a] - shapes[b]) ** 2 / (errors[a] ** 2 + errors[b] ** 2)).sum() / shapes[a].size
            assert chi2 < 2.0, (a, b, chi2)
    raw_chi2 = ((raw_shapes[0] - raw_shapes[2]) ** 2 / (errors[0] ** 2 + errors[2] ** 2)).sum() / shapes[0].size
    assert raw_chi2 > 10  # without weights, b and light differ clearly


# --- degenerate columns, bad settings ----------------------------------------------


def test_all_default_columns_are_finite_and_listed(tmp_path):
    few_tracks = generate(3000, seed=2)
    assert few_tracks.n_tracks.max() < 33
    n_slots = int(few_tracks.n_tracks.max()) + 1
    summary = preprocess(write_raw(tmp_path / "raw.parquet", few_tracks), tmp_path / "out", PreprocessSettings(n_tracks=n_slots))
    last = [c for c in summary["features"] if c["slot"] == n_slots - 1]
    assert {c["name"] for c in last} <= set(summary["degenerate_columns"])
    assert all(c["std"] == 1.0 for c in last)
    table = pq.read_table(tmp_path / "out" / "train.parquet").to_pandas()
    assert np.isfinite(table.drop(columns=[c for c in table.columns if c.startswith("default_")]).to_numpy(np.float64)).all()
    assert json.loads((tmp_path / "out" / "preprocessing.json").read_text())["settings"]["n_tracks"] == n_slots


@pytest.mark.parametrize("settings", [{"track_order": "pt"}, {"split": (0.7, 0.1, 0.1)}, {"n_tracks": 0}])
def test_bad_settings(settings):
    with pytest.raises(ConfigError):
        PreprocessSettings(**settings)
