"""Preprocessing, checked against the raw jets by hand.

Track ordering, the 184 inputs and their "is default" mask, defaults below
every genuine value, a scaler fitted on the training jets only, the 72/8/20
split, the (eta, pT) flavour weights, degenerate columns, reproducibility and
the rejection of bad settings.

Jets are identified across files by (raw_jet_pt, raw_jet_eta), which is
unique in the generated samples used here (checked in the fixtures).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from robusttag.errors import ConfigError, DataFormatError
from robusttag.features import (
    INPUT_NAMES,
    INPUTS,
    RAW_JET_FIELDS,
    TRACK_FIELDS,
    Fixed,
    default_column,
    input_features,
)
from robusttag.jets import JetBatch
from robusttag.preprocess import (
    FlavourWeights,
    PreprocessSettings,
    preprocess,
    preprocess_like,
    raw_inputs,
    split_assignment,
)
from robusttag.sources.synthetic import Difficulty, generate

N_JETS = 20_003  # odd on purpose: the split sizes need rounding
SPLITS = ("train", "val", "test")
ROWS_PER_BATCH = 7_000  # several streaming batches per pass

# The two hand-made jets appended to the generated sample (unique kinematics).
THREE_TRACK_JET = (123.4567, 0.4321)
TWO_TRACK_JET = (234.5678, -0.8765)
# Per track, in file order: d0, d0d0 (significance d0/sqrt(d0d0)) and z0 (a tag that must travel with the track).
HAND_D0 = [0.2, -0.03, 0.05]  # significances 2, -3, 5
HAND_D0D0 = [0.01, 0.0001, 0.0001]
HAND_Z0 = [0.11, 0.22, 0.33]
EXPECTED_D0 = {
    "signed_d0_significance": [0.05, 0.2, -0.03],  # 5, 2, -3
    "abs_d0_significance": [0.05, -0.03, 0.2],  # |5|, |-3|, |2|
    "file": [0.2, -0.03, 0.05],
}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def write_raw(path: Path, batch: JetBatch) -> Path:
    pq.write_table(batch.to_arrow(), path)
    return path


def take(batch: JetBatch, rows) -> JetBatch:
    """The jets ``rows`` of ``batch`` (a copy), with their tracks."""
    rows = np.asarray(rows)
    counts = batch.n_tracks[rows]
    track_rows = np.concatenate([np.arange(batch.offsets[r], batch.offsets[r + 1]) for r in rows] or [[]]).astype(int)
    return JetBatch(
        {name: values[rows].copy() for name, values in batch.jets.items()},
        {name: values[track_rows].copy() for name, values in batch.tracks.items()},
        np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
    )


def hand_made(template: JetBatch, row: int, kinematics: tuple[float, float], **tracks) -> JetBatch:
    """A copy of jet ``row`` of ``template`` with new (pt, eta) and some track fields replaced."""
    jet = take(template, [row])
    jet.jets["jet_pt"][:] = kinematics[0]
    jet.jets["jet_eta"][:] = kinematics[1]
    for name, values in tracks.items():
        jet.tracks[name] = np.asarray(values, dtype=np.float32)
    return jet


def read_splits(directory: Path) -> dict[str, pd.DataFrame]:
    return {name: pq.read_table(directory / f"{name}.parquet").to_pandas() for name in SPLITS}


def jet_keys(pt, eta) -> list[tuple[float, float]]:
    return list(zip(np.asarray(pt, np.float32).tolist(), np.asarray(eta, np.float32).tolist()))


def rows_in(batch: JetBatch, table: pd.DataFrame) -> np.ndarray:
    """Row of ``batch`` of every jet of a preprocessed ``table``."""
    index = {key: i for i, key in enumerate(jet_keys(batch.jets["jet_pt"], batch.jets["jet_eta"]))}
    return np.array([index[key] for key in jet_keys(table.raw_jet_pt, table.raw_jet_eta)], dtype=int)


def columns_of(summary: dict) -> dict[str, dict]:
    return {column["name"]: column for column in summary["features"]}


def unscaled(table: pd.DataFrame, summary: dict, name: str) -> np.ndarray:
    column = columns_of(summary)[name]
    return table[name].to_numpy(np.float64) * column["std"] + column["mean"]


def expected_mask(raw: np.ndarray, n_tracks: np.ndarray, summary: dict) -> np.ndarray:
    """The "is default" mask from first principles, for every input column.

    Absent track slot, non-finite value, or a value below the column's
    default (the fixed constants of the reference note, or the data-driven
    default stored in preprocessing.json).
    """
    columns = columns_of(summary)
    mask = ~np.isfinite(raw)
    for i, feature in enumerate(INPUTS):
        default = feature.default.value if isinstance(feature.default, Fixed) else columns[feature.name]["default"]
        with np.errstate(invalid="ignore"):
            mask[:, i] |= raw[:, i] < default
        if feature.slot is not None:
            mask[:, i] |= n_tracks <= feature.slot
    return mask


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jets() -> JetBatch:
    """Generated jets plus two hand-made ones (3 and 2 tracks) at the end."""
    generated = generate(N_JETS - 2, seed=11)
    three = int(np.flatnonzero(generated.n_tracks == 3)[0])
    two = int(np.flatnonzero(generated.n_tracks == 2)[0])
    batch = JetBatch.concatenate(
        [
            generated,
            hand_made(generated, three, THREE_TRACK_JET, d0=HAND_D0, d0d0=HAND_D0D0, z0=HAND_Z0),
            hand_made(generated, two, TWO_TRACK_JET),
        ]
    )
    keys = jet_keys(batch.jets["jet_pt"], batch.jets["jet_eta"])
    assert len(set(keys)) == len(batch) == N_JETS, "(pt, eta) must identify a jet in this sample"
    return batch


@pytest.fixture(scope="module")
def raw_file(jets, tmp_path_factory) -> Path:
    return write_raw(tmp_path_factory.mktemp("raw") / "jets.parquet", jets)


@pytest.fixture(scope="module")
def done(raw_file, tmp_path_factory):
    """(output directory, preprocessing.json content, {split: table}) with the default settings."""
    out = tmp_path_factory.mktemp("preprocessed")
    preprocess(raw_file, out, rows_per_batch=ROWS_PER_BATCH)
    return out, json.loads((out / "preprocessing.json").read_text()), read_splits(out)


@pytest.fixture(scope="module")
def raw_matrix(jets):
    """Raw inputs (default track order) of every jet of ``jets``."""
    matrix, _ = raw_inputs(jets, INPUTS, "signed_d0_significance")
    return matrix


def find_jet(tables: dict[str, pd.DataFrame], kinematics: tuple[float, float]) -> pd.Series:
    pt, eta = np.float32(kinematics[0]), np.float32(kinematics[1])
    for table in tables.values():
        hit = table[(table.raw_jet_pt == pt) & (table.raw_jet_eta == eta)]
        if len(hit):
            assert len(hit) == 1
            return hit.iloc[0]
    raise AssertionError(f"jet {kinematics} is in no split")


# ---------------------------------------------------------------------------
# Track ordering
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(EXPECTED_D0))
def test_track_order_of_a_hand_made_jet(jets, order):
    jet = take(jets, [N_JETS - 2])  # the three-track jet
    matrix, absent = raw_inputs(jet, INPUTS, order)
    value = dict(zip(INPUT_NAMES, matrix[0]))
    d0 = [value[f"trk{slot}_d0"] for slot in range(3)]
    np.testing.assert_allclose(d0, EXPECTED_D0[order], rtol=1e-6)
    # whole tracks move, not just d0: d0d0 and z0 follow their d0
    by_d0 = {d: (cov, z) for d, cov, z in zip(HAND_D0, HAND_D0D0, HAND_Z0)}
    for slot, d in enumerate(EXPECTED_D0[order]):
        np.testing.assert_allclose([value[f"trk{slot}_d0d0"], value[f"trk{slot}_z0"]], by_d0[d], rtol=1e-6)
    absent_slots = [bool(absent[0, INPUT_NAMES.index(f"trk{slot}_d0")]) for slot in range(6)]
    assert absent_slots == [False, False, False, True, True, True]


def test_preprocessed_tracks_come_in_descending_signed_d0_significance(done):
    _, summary, tables = done
    jet = find_jet(tables, THREE_TRACK_JET).to_frame().T
    for slot, (d0, z0) in enumerate(zip(EXPECTED_D0["signed_d0_significance"], [0.33, 0.11, 0.22])):
        assert not jet[default_column(f"trk{slot}_d0")].iloc[0]
        np.testing.assert_allclose(unscaled(jet, summary, f"trk{slot}_d0"), d0, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(unscaled(jet, summary, f"trk{slot}_z0"), z0, rtol=1e-4, atol=1e-6)


def test_generated_jets_are_ordered_by_signed_d0_significance(jets, raw_matrix):
    d0 = raw_matrix[:, [INPUT_NAMES.index(f"trk{slot}_d0") for slot in range(6)]].astype(np.float64)
    d0d0 = raw_matrix[:, [INPUT_NAMES.index(f"trk{slot}_d0d0") for slot in range(6)]].astype(np.float64)
    significance = d0 / np.sqrt(d0d0)
    present = np.arange(6) < jets.n_tracks[:, None]
    assert np.isfinite(significance[present]).all()
    both = present[:, 1:]  # consecutive slots both filled
    assert (significance[:, :-1][both] >= significance[:, 1:][both]).all()
    # the first slot holds the jet's most significant track, whatever the file order
    best = np.maximum.reduceat(jets.tracks["d0"].astype(np.float64) / np.sqrt(jets.tracks["d0d0"]), jets.offsets[:-1])
    np.testing.assert_allclose(significance[:, 0], best, rtol=1e-6)


def test_two_track_jet_has_default_slots_two_to_five(done):
    _, summary, tables = done
    columns = columns_of(summary)
    jet = find_jet(tables, TWO_TRACK_JET).to_frame().T
    for field in TRACK_FIELDS:
        for slot in range(2, 6):  # the default value, flagged, and scaled like every other value
            name = f"trk{slot}_{field}"
            assert jet[default_column(name)].iloc[0], name
            np.testing.assert_allclose(unscaled(jet, summary, name), columns[name]["default"], rtol=1e-5, atol=1e-6)
    for slot in range(2):  # the two real tracks
        assert not jet[default_column(f"trk{slot}_d0")].iloc[0]


# ---------------------------------------------------------------------------
# Output layout
# ---------------------------------------------------------------------------


def test_output_columns_and_types(done):
    out, _, tables = done
    assert len(INPUT_NAMES) == 184
    for split in SPLITS:
        schema = pq.read_schema(out / f"{split}.parquet")
        assert schema.names[:184] == list(INPUT_NAMES)
        assert all(str(schema.field(name).type) == "float" for name in INPUT_NAMES)  # float32
        defaults = [default_column(name) for name in INPUT_NAMES]
        assert schema.names[184:368] == defaults == [f"default_{name}" for name in INPUT_NAMES]
        assert all(str(schema.field(name).type) == "bool" for name in defaults)
        assert set(schema.names[368:]) == {"label", "weight", "raw_jet_pt", "raw_jet_eta", "flavor"}
        table = tables[split]
        assert set(table.flavor.unique()) == {0, 4, 5}
        for code, label in ((5, 0), (4, 1), (0, 2)):
            assert (table.loc[table.flavor == code, "label"] == label).all()


def test_every_row_keeps_its_jets_flavour(jets, done):
    _, _, tables = done
    for table in tables.values():  # rows_in matches rows to raw jets by raw_jet_pt and raw_jet_eta
        rows = rows_in(jets, table)
        np.testing.assert_array_equal(table.flavor.to_numpy(), jets.jets["flavor"][rows])


# ---------------------------------------------------------------------------
# Defaults and their mask
# ---------------------------------------------------------------------------


def test_defaults_lie_below_every_genuine_value(done):
    _, summary, tables = done
    for name, column in columns_of(summary).items():
        scaled_default = (column["default"] - column["mean"]) / column["std"]
        for split, table in tables.items():
            is_default = table[default_column(name)].to_numpy()
            values = table[name].to_numpy()
            if (~is_default).any():
                assert scaled_default < values[~is_default].min(), (name, split)
            # every default sits at the same scaled value
            np.testing.assert_allclose(values[is_default], scaled_default, rtol=1e-5, atol=1e-6, err_msg=name)


def test_mask_is_exactly_non_finite_below_default_or_absent(jets, raw_matrix, done):
    _, summary, tables = done
    for split, table in tables.items():
        rows = rows_in(jets, table)
        expected = expected_mask(raw_matrix[rows], jets.n_tracks[rows], summary)
        actual = table[[default_column(name) for name in INPUT_NAMES]].to_numpy()
        wrong = [INPUT_NAMES[i] for i in np.flatnonzero((expected != actual).any(axis=0))]
        assert not wrong, (split, wrong)


def test_mask_of_a_few_columns_by_hand(jets, raw_matrix, done):
    _, summary, tables = done
    test = tables["test"]
    rows = rows_in(jets, test)
    raw = {name: jets.jets[name][rows] for name in RAW_JET_FIELDS}

    def mask(name):
        return test[default_column(name)].to_numpy()

    # missing significances are -inf; genuine ones are >= 0
    np.testing.assert_array_equal(mask("track_2_d0_significance"), np.isneginf(raw["track_2_d0_significance"]))
    # jet_prob: missing is -1; genuine zeros stay genuine
    np.testing.assert_array_equal(mask("jet_prob"), raw["jet_prob"] == -1)
    assert (raw["jet_prob"] == 0).any() and not mask("jet_prob")[raw["jet_prob"] == 0].any()
    # no vertex: -1 (or a NaN from a failed fit)
    np.testing.assert_array_equal(
        mask("vertex_significance"), (raw["vertex_significance"] == -1) | np.isnan(raw["vertex_significance"])
    )
    # no vertex: +inf
    np.testing.assert_array_equal(mask("delta_r_vertex"), np.isposinf(raw["delta_r_vertex"]))
    np.testing.assert_array_equal(mask("n_secondary_vertices"), raw["n_secondary_vertices"] == -1)
    # primary-vertex tracks: NaN vertex angle; absent slots
    column = INPUT_NAMES.index("trk1_vertex_delta_eta_jet")
    np.testing.assert_array_equal(
        mask("trk1_vertex_delta_eta_jet"), (jets.n_tracks[rows] < 2) | np.isnan(raw_matrix[rows, column])
    )
    # a data-driven default (training minimum - 0.001): absent slots and test values below it
    column = INPUT_NAMES.index("trk4_d0")
    default = columns_of(summary)["trk4_d0"]["default"]
    np.testing.assert_array_equal(mask("trk4_d0"), (jets.n_tracks[rows] < 5) | (raw_matrix[rows, column] < default))


def test_genuine_values_scale_back_to_the_raw_values(jets, raw_matrix, done):
    _, summary, tables = done
    table = tables["val"]
    rows = rows_in(jets, table)
    for name in ("jet_pt", "jet_prob", "trk0_d0", "trk2_z0d0", "trk1_weight", "trk5_vertex_n_tracks"):
        genuine = ~table[default_column(name)].to_numpy()
        raw = raw_matrix[rows, INPUT_NAMES.index(name)].astype(np.float64)
        std = columns_of(summary)[name]["std"]
        np.testing.assert_allclose(unscaled(table, summary, name)[genuine], raw[genuine], rtol=1e-5, atol=1e-5 * std)


def test_a_value_equal_to_a_fixed_default_is_treated_alike_by_mask_and_scaler(tmp_path):
    """jet_prob's default is -0.001; a raw value of exactly -0.001 is not *below* it.

    Whichever way it is classified, the scaler must be fitted on exactly the
    values the output mask calls genuine.
    """
    sample = generate(3_000, seed=4)
    sample.jets["jet_prob"][:300] = np.float32(-0.001)
    preprocess(write_raw(tmp_path / "raw.parquet", sample), tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "preprocessing.json").read_text())
    train = read_splits(tmp_path / "out")["train"]
    rows = rows_in(sample, train)
    assert (rows < 300).sum() > 100
    genuine = ~train[default_column("jet_prob")].to_numpy()
    raw = sample.jets["jet_prob"][rows].astype(np.float64)
    assert columns_of(summary)["jet_prob"]["mean"] == pytest.approx(raw[genuine].mean(), rel=1e-9)
    # the reference's rule: only values *below* the default are defaults
    assert genuine[rows < 300].all()


# ---------------------------------------------------------------------------
# Scaler: genuine training values only
# ---------------------------------------------------------------------------


def test_scaler_is_fitted_on_genuine_training_values(jets, raw_matrix, done):
    _, summary, tables = done
    rows = rows_in(jets, tables["train"])
    raw = raw_matrix[rows].astype(np.float64)
    genuine = ~expected_mask(raw_matrix[rows], jets.n_tracks[rows], summary)
    for i, name in enumerate(INPUT_NAMES):
        column = columns_of(summary)[name]
        values = raw[genuine[:, i], i]
        assert len(values) > 1, name
        std = values.std(ddof=1)
        assert column["mean"] == pytest.approx(values.mean(), rel=1e-6, abs=1e-6 * std), name
        assert column["std"] == pytest.approx(std if std > 0 else 1.0, rel=1e-5), name
    # a data-driven default: the smallest genuine training value minus 0.001, as float32 like the inputs
    for slot in range(6):
        name = f"trk{slot}_d0"
        values = raw[genuine[:, INPUT_NAMES.index(name)], INPUT_NAMES.index(name)]
        assert columns_of(summary)[name]["default"] == float(np.float32(values.min() - 0.001))


def test_changing_validation_and_test_jets_leaves_the_scaler_unchanged(jets, done, tmp_path):
    _, summary, tables = done
    changed = take(jets, np.arange(len(jets)))
    not_train = ~np.isin(np.arange(len(jets)), rows_in(jets, tables["train"]))
    changed.jets["jet_pt"][not_train] *= 10
    changed.jets["jet_prob"][not_train] = 0.5
    changed.tracks["d0"][np.repeat(not_train, jets.n_tracks)] *= 5  # moves the track minima of val/test
    other = preprocess(
        write_raw(tmp_path / "changed.parquet", changed), tmp_path / "out", rows_per_batch=ROWS_PER_BATCH
    )
    for key in ("default", "mean", "std"):
        assert [c[key] for c in other["features"]] == [c[key] for c in summary["features"]], key
    assert other["weights"]["training_histograms"] == summary["weights"]["training_histograms"]
    # the train split itself is unchanged
    assert pq.read_table(tmp_path / "out" / "train.parquet").equals(pq.read_table(done[0] / "train.parquet"))


# ---------------------------------------------------------------------------
# Split
# ---------------------------------------------------------------------------


def test_split_sizes(done):
    _, summary, tables = done
    n_train, n_val = round(0.72 * N_JETS), round(0.08 * N_JETS)
    expected = {"train": n_train, "val": n_val, "test": N_JETS - n_train - n_val}
    assert expected == {"train": 14402, "val": 1600, "test": 4001}
    assert summary["split_sizes"] == expected
    assert {split: len(table) for split, table in tables.items()} == expected


def test_split_is_disjoint_and_complete(jets, done):
    _, _, tables = done
    keys = {split: set(jet_keys(t.raw_jet_pt, t.raw_jet_eta)) for split, t in tables.items()}
    assert sum(len(k) for k in keys.values()) == N_JETS
    assert not keys["train"] & keys["val"] and not keys["train"] & keys["test"] and not keys["val"] & keys["test"]
    assert keys["train"] | keys["val"] | keys["test"] == set(jet_keys(jets.jets["jet_pt"], jets.jets["jet_eta"]))


def test_same_input_and_settings_give_identical_files(raw_file, done, tmp_path):
    out, _, _ = done
    preprocess(raw_file, tmp_path, rows_per_batch=ROWS_PER_BATCH)
    for name in ("train.parquet", "val.parquet", "test.parquet", "preprocessing.json"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_the_split_seed_sets_the_split(raw_file, done, tmp_path):
    _, summary, tables = done
    other = preprocess(
        raw_file, tmp_path, PreprocessSettings(seed=summary["settings"]["seed"] + 1), rows_per_batch=ROWS_PER_BATCH
    )
    assert other["split_sizes"] == summary["split_sizes"]
    other_tables = read_splits(tmp_path)
    for split in SPLITS:
        before = set(jet_keys(tables[split].raw_jet_pt, tables[split].raw_jet_eta))
        after = set(jet_keys(other_tables[split].raw_jet_pt, other_tables[split].raw_jet_eta))
        assert before != after, split


@pytest.mark.parametrize("rows_per_batch", [1, 3, 97])
def test_streaming_batch_size_does_not_change_the_result(rows_per_batch, tmp_path):
    """Batches holding no training jet at all (small trailing batches) must be handled too."""
    raw = write_raw(tmp_path / "raw.parquet", generate(200, seed=6))
    whole = preprocess(raw, tmp_path / "whole", rows_per_batch=1_000)
    streamed = preprocess(raw, tmp_path / "streamed", rows_per_batch=rows_per_batch)
    for key in ("default", "mean", "std"):
        np.testing.assert_allclose(
            [c[key] for c in streamed["features"]], [c[key] for c in whole["features"]], rtol=1e-6
        )
    for split in SPLITS:
        a = pq.read_table(tmp_path / "whole" / f"{split}.parquet").to_pandas()
        b = pq.read_table(tmp_path / "streamed" / f"{split}.parquet").to_pandas()
        pd.testing.assert_frame_equal(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# Flavour weights
# ---------------------------------------------------------------------------

# Coarse 5 x 5 bins whose edges are edges of the weights' histogram, so that no
# coarse bin cuts a weight bin (inside which the flavours' shapes still differ):
# eta every 1.0; pT in whole weight bins from 20 GeV, finer where the jets are.
COARSE_ETA = np.linspace(-2.5, 2.5, 6)
COARSE_PT_FOR_50_BINS = 20.0 + 17.6 * np.array([0, 1, 2, 4, 8, 50])
COARSE_PT_FOR_10_BINS = 20.0 + 88.0 * np.array([0, 1, 2, 3, 5, 10])


def shape_and_error(table: pd.DataFrame, weighted: bool, pt_edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coarse histogram and its statistical error (square root of the sum of w^2)."""
    w = table.weight.to_numpy(np.float64) if weighted else np.ones(len(table))
    eta, pt = table.raw_jet_eta.to_numpy(np.float64), np.clip(table.raw_jet_pt.to_numpy(np.float64), 20.0, 900.0)
    histogram = np.histogram2d(eta, pt, bins=[COARSE_ETA, pt_edges], weights=w)[0]
    squares = np.histogram2d(eta, pt, bins=[COARSE_ETA, pt_edges], weights=w**2)[0]
    return histogram / w.sum(), np.sqrt(squares) / w.sum()


def chi2_per_bin(a, b) -> float:
    (shape_a, error_a), (shape_b, error_b) = a, b
    variance = error_a**2 + error_b**2
    used = variance > 0
    return float(((shape_a - shape_b)[used] ** 2 / variance[used]).sum() / used.sum())


def pairwise_chi2(train: pd.DataFrame, weighted: bool, pt_edges: np.ndarray) -> dict[tuple[int, int], float]:
    shapes = {label: shape_and_error(train[train.label == label], weighted, pt_edges) for label in (0, 1, 2)}
    return {(a, b): chi2_per_bin(shapes[a], shapes[b]) for a, b in ((0, 1), (0, 2), (1, 2))}


@pytest.fixture(scope="module")
def weights_raw(tmp_path_factory) -> Path:
    """A sample big enough that the c jets (12 %) fill the (eta, pT) bins where most jets are."""
    return write_raw(tmp_path_factory.mktemp("weights") / "raw.parquet", generate(100_000, seed=8))


def weighted_training_set(raw: Path, out: Path, settings: PreprocessSettings) -> tuple[pd.DataFrame, dict]:
    preprocess(raw, out, settings)
    columns = ["label", "weight", "raw_jet_pt", "raw_jet_eta"]
    return pq.read_table(out / "train.parquet", columns=columns).to_pandas(), json.loads(
        (out / "preprocessing.json").read_text()
    )


def in_common_bins(train: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """The jets in weight bins that hold training jets of all three flavours.

    Elsewhere a flavour has no jet to carry the target's share: histogram
    reweighting cannot match the shapes there, whatever its implementation.
    """
    eta_edges = np.array(summary["weights"]["eta_edges"])
    pt_edges = np.array(summary["weights"]["pt_edges_gev"])
    populated = (np.array(summary["weights"]["training_histograms"]) > 0).all(axis=0)
    i = np.clip(np.searchsorted(eta_edges, train.raw_jet_eta, side="right") - 1, 0, len(eta_edges) - 2)
    j = np.clip(np.searchsorted(pt_edges, train.raw_jet_pt, side="right") - 1, 0, len(pt_edges) - 2)
    return train[populated[i, j]]


@pytest.fixture(scope="module")
def paper_weights(weights_raw, tmp_path_factory) -> tuple[pd.DataFrame, dict]:
    """Training set and preprocessing.json with the paper's 50 x 50 weight bins."""
    return weighted_training_set(weights_raw, tmp_path_factory.mktemp("paper_weights"), PreprocessSettings())


def test_weights_equalise_the_flavour_kinematics(paper_weights):
    """The paper's 50 x 50 bins: weighted shapes agree, unweighted ones do not."""
    train, summary = paper_weights
    common = in_common_bins(train, summary)
    assert len(common) > 0.95 * len(train)
    for pair, chi2 in pairwise_chi2(common, weighted=True, pt_edges=COARSE_PT_FOR_50_BINS).items():
        assert chi2 < 2.0, (pair, chi2)
    for pair, chi2 in pairwise_chi2(common, weighted=False, pt_edges=COARSE_PT_FOR_50_BINS).items():
        assert chi2 > 3.0, (pair, chi2)  # the weights do something


def test_weights_equalise_the_whole_range_when_the_bins_are_filled(weights_raw, tmp_path):
    """All training jets, with bins coarse enough for 100k jets (the paper's 50 x 50 were
    made for 11.5 M: here most high-pT bins hold no c jet and the c tail cannot be matched)."""
    train, summary = weighted_training_set(weights_raw, tmp_path, PreprocessSettings(weight_bins=(10, 10)))
    assert len(in_common_bins(train, summary)) > 0.99 * len(train)  # nearly every bin filled
    for pair, chi2 in pairwise_chi2(train, weighted=True, pt_edges=COARSE_PT_FOR_10_BINS).items():
        assert chi2 < 2.0, (pair, chi2)
    assert (
        pairwise_chi2(train, weighted=False, pt_edges=COARSE_PT_FOR_10_BINS)[0, 2] > 10.0
    )  # b and light differ unweighted


def test_each_class_carries_a_third_of_the_training_weight(paper_weights):
    train, _ = paper_weights
    assert (train.weight >= 0).all() and np.isfinite(train.weight).all()
    for label in (0, 1, 2):
        total = train.loc[train.label == label, "weight"].to_numpy(np.float64).sum()
        assert total == pytest.approx(len(train) / 3, rel=0.01), label


# ---------------------------------------------------------------------------
# Degenerate columns
# ---------------------------------------------------------------------------


def test_all_default_columns_are_finite_and_listed(tmp_path):
    sample = generate(6_000, seed=5)
    few = take(sample, np.flatnonzero(sample.n_tracks < 12))
    assert few.n_tracks.max() < 12 and len(few) > 5_000
    summary = preprocess(write_raw(tmp_path / "raw.parquet", few), tmp_path / "out", PreprocessSettings(n_tracks=12))
    names = [f.name for f in input_features(12)]
    assert len(names) == 16 + 12 * 28
    last_slot = [f"trk11_{field}" for field in TRACK_FIELDS]
    assert set(last_slot) <= set(summary["degenerate_columns"])
    columns = columns_of(summary)
    for name in last_slot:
        assert columns[name]["std"] == 1.0, name
        assert np.isfinite([columns[name]["mean"], columns[name]["default"]]).all(), name
    # no NaN or infinity anywhere: not in the tables, not in preprocessing.json
    for table in read_splits(tmp_path / "out").values():
        numeric = table.drop(columns=[c for c in table.columns if c.startswith("default_")])
        assert np.isfinite(numeric.to_numpy(np.float64)).all()
        assert table[[default_column(name) for name in last_slot]].to_numpy().all()
    json.loads((tmp_path / "out" / "preprocessing.json").read_text(), parse_constant=pytest.fail)


# ---------------------------------------------------------------------------
# Bad settings
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"track_order": "pt_descending"}, "pt_descending"),
        ({"split": (0.7, 0.2, 0.2)}, "split"),
        ({"split": (0.9, 0.1)}, "split"),
        ({"split": (1.2, -0.1, -0.1)}, "split"),
        ({"split": (float("nan"), 0.5, 0.5)}, "split"),
    ],
)
def test_bad_settings_raise_config_error(settings, named):
    with pytest.raises(ConfigError, match=named):
        PreprocessSettings(**settings)


# --- a sample preprocessed with the nominal statistics (no refit) ----------------------


def test_the_nominal_jets_preprocessed_like_themselves_give_the_test_split(raw_file, done, tmp_path):
    """The same transformation as the nominal preprocessing: its own test jets come out bit for bit."""
    out, summary, tables = done
    assert preprocess_like(raw_file, tmp_path / "like.parquet", summary, rows_per_batch=ROWS_PER_BATCH) == N_JETS
    like = pd.read_parquet(tmp_path / "like.parquet")
    settings = PreprocessSettings()
    test_rows = split_assignment(N_JETS, settings.split, settings.seed) == 2
    pd.testing.assert_frame_equal(like[test_rows].reset_index(drop=True), tables["test"], check_exact=True)
    assert pq.read_schema(tmp_path / "like.parquet") == pq.read_schema(out / "test.parquet")


def test_a_shifted_sample_is_scaled_with_the_nominal_statistics_not_its_own(done, tmp_path):
    _, summary, _ = done
    shifted = write_raw(
        tmp_path / "shifted.parquet", generate(3000, seed=12, difficulty=Difficulty(resolution_scale=4.0))
    )
    preprocess_like(shifted, tmp_path / "like.parquet", summary)
    like = pd.read_parquet(tmp_path / "like.parquet")
    refit = tmp_path / "refit"
    preprocess(shifted, refit, rows_per_batch=ROWS_PER_BATCH)
    own = json.loads((refit / "preprocessing.json").read_text())
    nominal, theirs = columns_of(summary)["trk0_d0"], columns_of(own)["trk0_d0"]
    assert abs(theirs["std"] - nominal["std"]) > 0.05 * nominal["std"]  # the shift shows in its own statistics
    genuine = ~like["default_trk0_d0"].to_numpy()
    raw = like["trk0_d0"].to_numpy(np.float64) * nominal["std"] + nominal["mean"]
    matrix, _ = raw_inputs(JetBatch.from_arrow(pq.read_table(shifted)), INPUTS, "signed_d0_significance")
    column = [f.name for f in INPUTS].index("trk0_d0")
    np.testing.assert_allclose(raw[genuine], matrix[genuine, column], rtol=1e-5, atol=1e-6)
    # and the flavour weights are the nominal training's, read off its histograms for each jet
    weights = FlavourWeights(
        np.array(summary["weights"]["eta_edges"]),
        np.array(summary["weights"]["pt_edges_gev"]),
        np.array(summary["weights"]["training_histograms"]),
    )
    expected = weights.weights(like["label"].to_numpy(), like["raw_jet_eta"].to_numpy(), like["raw_jet_pt"].to_numpy())
    np.testing.assert_array_equal(like["weight"].to_numpy(), expected)


def test_the_validation_and_test_jets_preprocessed_like_a_summary_are_those_splits(raw_file, done, tmp_path):
    """The audit's inputs: the nominal split's val and test jets, scaled as a (here: the nominal) summary says."""
    from robusttag.preprocess import preprocess_splits_like

    out, summary, tables = done
    outputs = {"val": tmp_path / "val.parquet", "test": tmp_path / "test.parquet"}
    counts = preprocess_splits_like(raw_file, outputs, summary, PreprocessSettings(), rows_per_batch=ROWS_PER_BATCH)
    assert counts == {"val": len(tables["val"]), "test": len(tables["test"])}
    for name, path in outputs.items():
        pd.testing.assert_frame_equal(pd.read_parquet(path), tables[name], check_exact=True)
    with pytest.raises(DataFormatError, match="no split"):
        preprocess_splits_like(raw_file, {"holdout": tmp_path / "x.parquet"}, summary, PreprocessSettings())
