"""ROOT ntuples in the dataset's branch convention (uproot)."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from robusttag.convert import convert
from robusttag.errors import DataFormatError
from robusttag.features import RAW_JET_FIELDS, TRACK_FIELDS
from robusttag.jets import JetBatch
from robusttag.sources.root import read_jets
from robusttag.sources.synthetic import generate, generate_file

N_JETS = 2000


@pytest.fixture(scope="module")
def root_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("root") / "jets.root"
    generate_file(path, N_JETS, seed=21)
    return path


def assert_same_jets(a: JetBatch, b: JetBatch) -> None:
    np.testing.assert_array_equal(a.offsets, b.offsets)
    for name in RAW_JET_FIELDS:
        np.testing.assert_array_equal(a.jets[name], b.jets[name], err_msg=name)
    for name in TRACK_FIELDS:
        np.testing.assert_array_equal(a.tracks[name], b.tracks[name], err_msg=name)


def test_branches_follow_the_convention(root_file):
    tree = uproot.open(root_file)["jets"]
    names = set(tree.keys())
    assert set(RAW_JET_FIELDS) <= names
    assert {f"track_{f}" for f in TRACK_FIELDS} <= names
    d0 = tree["track_d0"].array()
    assert d0.ndim == 2 and len(d0) == N_JETS  # jagged: one list of tracks per jet


def test_round_trip(root_file):
    assert_same_jets(JetBatch.concatenate(list(read_jets(root_file))), generate(N_JETS, seed=21))


def test_root_and_json_convert_to_the_same_table(root_file, tmp_path):
    generate_file(tmp_path / "jets.json.gz", N_JETS, seed=21)
    convert(root_file, tmp_path / "from_root.parquet")
    convert(tmp_path / "jets.json.gz", tmp_path / "from_json.parquet", workers=0)
    from_root, from_json = (pq.read_table(tmp_path / f"from_{kind}.parquet") for kind in ("root", "json"))
    assert from_root.schema == from_json.schema
    assert_same_jets(JetBatch.from_arrow(from_root), JetBatch.from_arrow(from_json))


def _user_ntuple(path, jets: JetBatch, *, drop=(), rename=None, extra=True, tree="jets", flavor=None) -> None:
    """An ntuple written directly with uproot, the way a physicist's own would be."""
    branches = {name: jets.jets[name] for name in RAW_JET_FIELDS if name not in drop}
    if flavor is not None:
        branches["flavor"] = flavor
    if extra:
        branches["event_number"] = np.arange(len(jets), dtype=np.int64)
    tracks = {f: ak.unflatten(jets.tracks[f], jets.n_tracks) for f in TRACK_FIELDS if f not in drop}
    if rename:
        tracks[rename[1]] = tracks.pop(rename[0])
    with uproot.recreate(path) as file:
        file[tree] = {**branches, **{f"track_{f}": values for f, values in tracks.items()}}


def test_own_ntuple_with_extra_branches(tmp_path):
    jets = generate(300, seed=4)
    _user_ntuple(tmp_path / "own.root", jets)
    assert_same_jets(JetBatch.concatenate(list(read_jets(tmp_path / "own.root"))), jets)


def _fails(path, tmp_path, **kwargs) -> DataFormatError:
    output = tmp_path / "out" / "jets.parquet"
    with pytest.raises(DataFormatError) as error:
        convert(path, output, **kwargs)
    assert str(path) in str(error.value)
    assert not output.parent.exists() or not list(output.parent.iterdir())
    return error.value


def test_missing_tree_names_the_trees_present(root_file, tmp_path):
    error = _fails(root_file, tmp_path, tree="events")
    assert "events" in str(error) and "'jets'" in str(error)


def test_missing_branch_is_named(tmp_path):
    _user_ntuple(tmp_path / "own.root", generate(100, seed=1), drop=("jet_prob", "weight"))
    error = _fails(tmp_path / "own.root", tmp_path)
    assert "jet_prob" in str(error) and "track_weight" in str(error)


def test_track_branches_of_unequal_length(tmp_path):
    jets = generate(100, seed=1)
    path = tmp_path / "own.root"
    _user_ntuple(path, jets)
    shorter = ak.unflatten(jets.tracks["z0"], jets.n_tracks)
    shorter = ak.concatenate([shorter[:7], shorter[7:8, :-1], shorter[8:]])  # jet 7 loses a z0
    branches = uproot.open(path)["jets"].arrays(library="ak")
    with uproot.recreate(path) as file:
        file["jets"] = {name: branches[name] if name != "track_z0" else shorter for name in branches.fields}
    error = _fails(path, tmp_path)
    assert "entry 7" in str(error) and "track_z0" in str(error)


def test_unknown_flavour_code(tmp_path):
    jets = generate(50, seed=1)
    flavor = jets.jets["flavor"].astype(np.int32)
    flavor[12] = 3
    _user_ntuple(tmp_path / "own.root", jets, flavor=flavor)
    error = _fails(tmp_path / "own.root", tmp_path)
    assert "entry 12" in str(error) and "flavour code 3" in str(error)


def test_not_a_root_file(tmp_path):
    path = tmp_path / "fake.root"
    path.write_bytes(b"this is not ROOT\n" * 100)
    assert "ROOT" in str(_fails(path, tmp_path))
