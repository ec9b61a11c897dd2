"""ROOT ntuples in the dataset's branch convention, written and read with uproot.

Note: since uproot 5.7, ``file[name] = {...}`` writes an RNTuple, not a TTree;
a TTree is written with ``mktree`` + ``extend``. Both are covered.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot

from robusttag.convert import convert
from robusttag.errors import DataFormatError
from robusttag.features import FLAVOR, RAW_JET_FIELDS, TRACK_FIELDS, raw_track_column
from robusttag.jets import JetBatch
from robusttag.sources import synthetic
from robusttag.sources.root import BRANCHES, TRACK_BRANCHES, read_jets
from robusttag.sources.synthetic import generate, generate_file

N_JETS = 2_000
SEED = 21


# --- helpers -------------------------------------------------------------------


def assert_same_jets(a: JetBatch, b: JetBatch) -> None:
    """Exact equality: offsets, every value, NaN in the same places."""
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    for name in RAW_JET_FIELDS:
        np.testing.assert_array_equal(a.jets[name], b.jets[name], err_msg=name)
    assert a.jets[FLAVOR].dtype == b.jets[FLAVOR].dtype == np.int8
    for name in TRACK_FIELDS:
        assert a.tracks[name].dtype == b.tracks[name].dtype == np.float32, name
        np.testing.assert_array_equal(a.tracks[name], b.tracks[name], err_msg=name)


def read_all(path, **kwargs) -> JetBatch:
    return JetBatch.concatenate(list(read_jets(path, **kwargs)))


def read_parquet(path) -> JetBatch:
    return JetBatch.from_arrow(pq.read_table(path))


def jagged(jets: JetBatch, field: str) -> ak.Array:
    return ak.unflatten(jets.tracks[field], jets.n_tracks)


def user_branches(jets: JetBatch, *, drop=(), flavor=None, extra=True) -> dict:
    """A physicist's own ntuple: doubles, an int32 flavour, unrelated extra branches."""
    branches = {name: jets.jets[name].astype(np.float64) for name in RAW_JET_FIELDS if name not in drop}
    if FLAVOR in branches:
        branches[FLAVOR] = (jets.jets[FLAVOR] if flavor is None else flavor).astype(np.int32)
    for field in TRACK_FIELDS:
        if field not in drop:
            branches[raw_track_column(field)] = ak.values_astype(jagged(jets, field), np.float64)
    if extra:
        n = len(jets)
        branches["event_number"] = np.arange(n, dtype=np.int64)
        branches["jet_phi"] = np.linspace(-3, 3, n)
        branches["muon_pt"] = ak.unflatten(np.arange(n % 7 + 3 * n, dtype=np.float32), [3] * (n - 1) + [n % 7 + 3])
        branches["track_charge_sign"] = ak.unflatten(np.ones(n, dtype=np.float32), [1] * n)  # unrelated, other lengths
    return branches


def write_ttree(path, branches: dict, tree: str = "jets") -> None:
    """A TTree (mktree + extend), every jagged branch with its own counter as uproot makes them."""
    with uproot.recreate(path) as file:
        file.mktree(
            tree, {name: value.type if isinstance(value, ak.Array) else value.dtype for name, value in branches.items()}
        )
        file[tree].extend(branches)


def write_rntuple(path, branches: dict, tree: str = "jets") -> None:
    with uproot.recreate(path) as file:
        file[tree] = branches


def assert_convert_fails(path, tmp_path, *expected: str, **kwargs) -> DataFormatError:
    """convert() raises DataFormatError naming the file and every expected fragment,
    and leaves nothing behind where the Parquet file would have been."""
    output = tmp_path / "out" / "jets.parquet"
    with pytest.raises(DataFormatError) as caught:
        convert(path, output, **kwargs)
    message = str(caught.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message, (fragment, message)
    assert not output.exists()
    assert not output.parent.exists() or not list(output.parent.iterdir())  # no partial file either
    return caught.value


# --- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated() -> JetBatch:
    return generate(N_JETS, seed=SEED)


@pytest.fixture(scope="module")
def root_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("root") / "jets.root"
    generate_file(path, N_JETS, seed=SEED)
    return path


@pytest.fixture(scope="module")
def small() -> JetBatch:
    return generate(120, seed=1)


# --- files written by the generator ----------------------------------------------------


def test_tree_has_the_convention_branches(root_file, generated):
    with uproot.open(root_file) as file:
        assert {key.split(";")[0] for key, cls in file.classnames().items() if cls == "TTree"} == {"jets"}
        tree = file["jets"]
        assert tree.num_entries == N_JETS
        names = set(tree.keys())
        assert set(BRANCHES) <= names
        assert len(BRANCHES) == 17 + 28
        counters = names - set(BRANCHES)
        assert counters <= {"n_tracks"}  # at most the shared track counter besides the convention
        assert "jet_pt" in names and "track_2_d0_significance" in names and "vertex_energy_fraction" in names
        assert "track_d0" in names and "track_vertex_energy_fraction" in names
        for name in RAW_JET_FIELDS:  # scalars, one per jet
            values = tree[name].array(library="np")
            assert values.shape == (N_JETS,), name
        np.testing.assert_array_equal(tree["flavor"].array(library="np"), generated.jets["flavor"])
        np.testing.assert_array_equal(tree["jet_pt"].array(library="np"), generated.jets["jet_pt"])
        for name in TRACK_BRANCHES:  # jagged, one list of tracks per jet, all of the same length
            values = tree[name].array()
            assert values.ndim == 2, name
            np.testing.assert_array_equal(ak.to_numpy(ak.num(values, axis=1)), generated.n_tracks, err_msg=name)
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(tree["track_d0"].array())), generated.tracks["d0"])


def test_read_jets_returns_the_generated_jets(root_file, generated):
    assert_same_jets(read_all(root_file), generated)


def test_read_jets_in_small_steps(root_file, generated):
    batches = list(read_jets(root_file, step_size=333))
    assert len(batches) > 1
    assert [len(b) for b in batches][:-1] == [333] * (len(batches) - 1)
    assert_same_jets(JetBatch.concatenate(batches), generated)


def test_root_file_spanning_generator_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "CHUNK_JETS", 400)  # several baskets, one per chunk
    generate_file(tmp_path / "jets.root", 1000, seed=7)
    assert_same_jets(read_all(tmp_path / "jets.root", step_size=250), generate(1000, seed=7))


def test_non_finite_values_survive_root(root_file, generated):
    read = read_all(root_file)
    values = np.concatenate([read.jets[n].astype(np.float32) for n in RAW_JET_FIELDS] + list(read.tracks.values()))
    assert np.isnan(values).any() and np.isposinf(values).any() and np.isneginf(values).any()


def test_root_and_json_convert_to_the_same_parquet(root_file, tmp_path):
    generate_file(tmp_path / "jets.json.gz", N_JETS, seed=SEED)
    root_summary = convert(root_file, tmp_path / "from_root.parquet")
    json_summary = convert(tmp_path / "jets.json.gz", tmp_path / "from_json.parquet", workers=0)
    from_root, from_json = pq.read_table(tmp_path / "from_root.parquet"), pq.read_table(tmp_path / "from_json.parquet")
    assert from_root.schema.equals(from_json.schema)
    assert from_root.num_rows == from_json.num_rows == N_JETS
    for name in from_root.column_names:  # column by column: values and NaN positions
        a, b = from_root.column(name).combine_chunks(), from_json.column(name).combine_chunks()
        if pa.types.is_list(a.type):
            np.testing.assert_array_equal(a.offsets.to_numpy(), b.offsets.to_numpy(), err_msg=name)
            a, b = a.flatten(), b.flatten()
        np.testing.assert_array_equal(a.to_numpy(), b.to_numpy(), err_msg=name)
    assert root_summary.n_jets == json_summary.n_jets and root_summary.jets_per_flavor == json_summary.jets_per_flavor


def test_several_root_files_convert_into_one_table(tmp_path):
    generate_file(tmp_path / "a.root", 300, seed=1)
    generate_file(tmp_path / "b.root", 200, seed=2)
    summary = convert([tmp_path / "a.root", tmp_path / "b.root"], tmp_path / "raw.parquet")
    assert summary.n_jets == 500
    assert_same_jets(read_parquet(tmp_path / "raw.parquet"), JetBatch.concatenate([generate(300, 1), generate(200, 2)]))


# --- a user's own ntuple ------------------------------------------------------------


@pytest.mark.parametrize("writer", [write_ttree, write_rntuple], ids=["ttree", "rntuple"])
def test_own_ntuple_with_extra_branches_converts(tmp_path, small, writer):
    path = tmp_path / "own.root"
    writer(path, user_branches(small))
    convert(path, tmp_path / "raw.parquet")
    assert_same_jets(read_parquet(tmp_path / "raw.parquet"), small)


def test_own_ntuple_under_another_tree_name(tmp_path, small):
    path = tmp_path / "own.root"
    write_ttree(path, user_branches(small), tree="Events")
    convert(path, tmp_path / "raw.parquet", tree="Events")
    assert_same_jets(read_parquet(tmp_path / "raw.parquet"), small)


def test_own_ntuple_with_float_flavour_codes(tmp_path, small):
    path = tmp_path / "own.root"
    branches = user_branches(small)
    branches[FLAVOR] = small.jets[FLAVOR].astype(np.float32)  # 5.0, 4.0, 0.0
    write_ttree(path, branches)
    assert_same_jets(read_all(path), small)


# --- errors ------------------------------------------------------------------------


def test_missing_tree_lists_the_trees_present(root_file, tmp_path):
    error = assert_convert_fails(root_file, tmp_path, "'events'", "'jets'", tree="events")
    assert error.path == str(root_file)


def test_missing_tree_lists_other_trees(tmp_path, small):
    path = tmp_path / "own.root"
    write_ttree(path, user_branches(small), tree="Events")
    assert_convert_fails(path, tmp_path, "'jets'", "Events")


def test_missing_tree_lists_rntuples_too(tmp_path, small):
    path = tmp_path / "own.root"
    write_rntuple(path, user_branches(small), tree="Events")
    assert_convert_fails(path, tmp_path, "'jets'", "Events")


@pytest.mark.parametrize("writer", [write_ttree, write_rntuple], ids=["ttree", "rntuple"])
def test_missing_branches_are_named(tmp_path, small, writer):
    path = tmp_path / "own.root"
    writer(path, user_branches(small, drop=("jet_prob", "weight")))
    assert_convert_fails(path, tmp_path, "jet_prob", "track_weight")


def test_track_branch_of_another_length_names_the_entry(tmp_path, small):
    branches = user_branches(small)
    z0 = jagged(small, "z0")
    branches["track_z0"] = ak.values_astype(ak.concatenate([z0[:37], z0[37:38, :-1], z0[38:]]), np.float64)
    assert small.n_tracks[37] >= 1
    path = tmp_path / "own.root"
    write_ttree(path, branches)
    assert_convert_fails(path, tmp_path, "entry 37", "track_z0")
    # The entry number counts from the start of the file, not of the step read.
    with pytest.raises(DataFormatError, match="entry 37"):
        read_all(path, step_size=10)


def test_track_branch_with_an_extra_track_names_the_entry(tmp_path, small):
    branches = user_branches(small)
    vertex_mass = jagged(small, "vertex_mass")
    longer = ak.concatenate([vertex_mass[5:6], ak.Array([[1.0]])], axis=1)
    branches["track_vertex_mass"] = ak.concatenate(
        [vertex_mass[:5], ak.values_astype(longer, np.float32), vertex_mass[6:]]
    )
    path = tmp_path / "own.root"
    write_ttree(path, branches)
    assert_convert_fails(path, tmp_path, "entry 5", "track_vertex_mass")


@pytest.mark.parametrize("code", [3, 15, -1])
def test_unknown_flavour_code_names_the_entry(tmp_path, small, code):
    flavor = small.jets[FLAVOR].astype(np.int32)
    flavor[64] = code
    path = tmp_path / "own.root"
    write_ttree(path, user_branches(small, flavor=flavor))
    assert_convert_fails(path, tmp_path, "entry 64", f"flavour code {code}")
    with pytest.raises(DataFormatError, match="entry 64"):
        read_all(path, step_size=25)


def test_not_a_root_file(tmp_path):
    path = tmp_path / "fake.root"
    path.write_bytes(b"this is not ROOT\n" * 100)
    assert_convert_fails(path, tmp_path, "ROOT")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.root"
    path.write_bytes(b"")
    assert_convert_fails(path, tmp_path)


def test_json_file_named_root(tmp_path):
    generate_file(tmp_path / "jets.json.gz", 20, seed=1)
    path = tmp_path / "jets.root"
    path.write_bytes((tmp_path / "jets.json.gz").read_bytes())
    assert_convert_fails(path, tmp_path, "ROOT")


def test_tree_without_entries(tmp_path, small):
    path = tmp_path / "own.root"
    branches = user_branches(small, extra=False)
    with uproot.recreate(path) as file:
        file.mktree(
            "jets",
            {name: value.type if isinstance(value, ak.Array) else value.dtype for name, value in branches.items()},
        )
    assert_convert_fails(path, tmp_path, "no jets")


def test_failed_convert_keeps_an_earlier_output(tmp_path, small):
    """A failed convert leaves an existing Parquet file as it was."""
    good = tmp_path / "good.root"
    write_ttree(good, user_branches(small))
    output = tmp_path / "raw.parquet"
    convert(good, output)
    before = output.read_bytes()
    with pytest.raises(DataFormatError):
        convert(good, output, tree="missing")
    assert output.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.root", "raw.parquet"]


# --- library bugs found: inputs that escape as other exception types ---------------------------


def test_object_of_the_tree_name_that_is_not_a_tree(tmp_path):
    path = tmp_path / "hist.root"
    with uproot.recreate(path) as file:
        file["jets"] = np.histogram(np.arange(10.0))
    assert_convert_fails(path, tmp_path, "jets")


def test_track_branch_that_is_not_jagged(tmp_path, small):
    branches = user_branches(small)
    branches["track_weight"] = np.ones(len(small))  # one value per jet instead of one per track
    path = tmp_path / "own.root"
    write_ttree(path, branches)
    assert_convert_fails(path, tmp_path, "track_weight")


def test_jet_branch_that_is_jagged(tmp_path, small):
    branches = user_branches(small)
    branches["jet_pt"] = jagged(small, "d0")
    path = tmp_path / "own.root"
    write_ttree(path, branches)
    assert_convert_fails(path, tmp_path, "jet_pt")


def test_truncated_root_file(root_file, tmp_path):
    path = tmp_path / "truncated.root"
    data = root_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_convert_fails(path, tmp_path)
