"""HDF5 files in the ATLAS salt/UPP layout: written and read with h5py, the same jets as the generator made, a
declared mapping of another file's fields, and every refusal naming the file, the dataset and the field."""

from __future__ import annotations

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
from test_root import assert_same_jets

from robusttag.config import DatasetSettings, H5Settings
from robusttag.convert import convert
from robusttag.errors import ConfigError, DataFormatError
from robusttag.jets import JetBatch
from robusttag.sources.h5 import read_jets, write_jets
from robusttag.sources.synthetic import generate


@pytest.fixture(scope="module")
def jets() -> JetBatch:
    return generate(700, seed=9)


@pytest.fixture()
def file(jets, tmp_path):
    path = tmp_path / "jets.h5"
    write_jets(path, [jets])
    return path


def _read(path, settings=None) -> JetBatch:
    return JetBatch.concatenate(list(read_jets(path, settings or H5Settings())))


def test_written_jets_read_back_the_same_through_h5py_and_the_conversion(jets, file, tmp_path):
    with h5py.File(file) as stored:  # the layout salt reads
        assert stored["jets"].ndim == 1 and stored["tracks"].ndim == 2 and "valid" in stored["tracks"].dtype.names
        assert stored["tracks"].shape == (len(jets), int(jets.n_tracks.max()))
        assert int(stored["tracks"]["valid"].sum()) == len(jets.tracks["d0"])
    assert_same_jets(_read(file), jets)
    in_blocks = _read(file, H5Settings(block_jets=64))  # bounded memory: 64 jets at a time
    assert_same_jets(in_blocks, jets)
    summary = convert([file], tmp_path / "raw.parquet")
    assert summary.n_jets == len(jets)
    assert_same_jets(JetBatch.from_arrow(pq.read_table(tmp_path / "raw.parquet")), jets)


def _atlas_like(jets: JetBatch, path, tau_jets: int = 5) -> None:
    """The jets as another file names them: pT in MeV under pt_btagJes, eta_btagJes, the flavour as
    flavour_label 0 b, 1 c, 2 light, 3 tau (the first ``tau_jets`` jets), no track z0."""
    write_jets(path, [jets])
    with h5py.File(path, "a") as stored:
        old_jets, old_tracks = stored["jets"][:], stored["tracks"][:]
        del stored["jets"], stored["tracks"]
        names = {"jet_pt": "pt_btagJes", "jet_eta": "eta_btagJes", "flavor": "flavour_label"}
        jet_type = [(names.get(n, n), np.float32 if n != "flavor" else np.int32) for n in old_jets.dtype.names]
        new_jets = np.zeros(len(old_jets), jet_type)
        for name in old_jets.dtype.names:
            new_jets[names.get(name, name)] = old_jets[name]
        new_jets["pt_btagJes"] *= 1000.0
        label = {5: 0, 4: 1, 0: 2}
        new_jets["flavour_label"] = [label[int(c)] for c in old_jets["flavor"]]
        new_jets["flavour_label"][:tau_jets] = 3
        kept = [n for n in old_tracks.dtype.names if n != "track_z0"]
        new_tracks = np.zeros(old_tracks.shape, [(n, old_tracks.dtype[n]) for n in kept])
        for name in kept:
            new_tracks[name] = old_tracks[name]
        stored.create_dataset("jets", data=new_jets)
        stored.create_dataset("tracks", data=new_tracks)


ATLAS_LIKE = {
    "files": ["x.h5"],
    "flavour": {"field": "flavour_label", "b": 0, "c": 1, "light": 2, "skip": [3]},
    "fields": {
        "jet_pt": {"field": "pt_btagJes", "scale": 0.001},
        "jet_eta": "eta_btagJes",
        "track_z0": {"value": float("nan")},
    },
}


def test_a_declared_mapping_reads_another_files_names_units_and_codes(jets, tmp_path):
    _atlas_like(jets, tmp_path / "atlas.h5")
    settings = DatasetSettings.from_config({"source": "h5", "h5": ATLAS_LIKE}).h5
    read = _read(tmp_path / "atlas.h5", settings)
    assert len(read) == len(jets) - 5  # the tau jets left out
    kept = slice(5, None)
    np.testing.assert_allclose(read.jets["jet_pt"], jets.jets["jet_pt"][kept], rtol=1e-6)
    np.testing.assert_array_equal(read.jets["flavor"], jets.jets["flavor"][kept])
    np.testing.assert_array_equal(read.jets["jet_eta"], jets.jets["jet_eta"][kept])
    first_track = jets.offsets[5]
    np.testing.assert_array_equal(read.tracks["d0"], jets.tracks["d0"][first_track:])
    assert np.isnan(read.tracks["z0"]).all() and len(read.tracks["z0"]) == len(jets.tracks["z0"]) - first_track
    with pytest.raises(DataFormatError, match=r"dataset 'tracks' lacks the fields \['track_z0'\]"):
        _read(
            tmp_path / "atlas.h5",
            DatasetSettings.from_config(
                {
                    "source": "h5",
                    "h5": {
                        **ATLAS_LIKE,
                        "fields": {"jet_pt": {"field": "pt_btagJes", "scale": 0.001}, "jet_eta": "eta_btagJes"},
                    },
                }
            ).h5,
        )


def _rewritten(path, dataset: str, change) -> None:
    with h5py.File(path, "a") as stored:
        rows = stored[dataset][:]
        del stored[dataset]
        stored.create_dataset(dataset, data=change(rows))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: _rewritten(f, "jets", lambda r: r[:-1]), r"dataset 'tracks' has 700 rows, 'jets' 699"),
        (lambda f: _rewritten(f, "tracks", lambda r: r[:, 0]), r"dataset 'tracks' must be a 2-D structured array"),
        (lambda f: _rewritten(f, "jets", lambda r: _set(r, "jet_pt", 17, np.inf)), r"jet_pt is inf at jet 17"),
        (lambda f: _rewritten(f, "jets", lambda r: _set(r, "flavor", 3, 7)), r"unknown flavour code 7 at jet 3"),
        (lambda f: _rename(f, "tracks", "trk"), r"no dataset 'tracks'; datasets in the file: \['jets', 'trk'\]"),
        (lambda f: f.write_text("jets, as a table\n"), r"cannot be opened as an HDF5 file"),
    ],
)
def test_a_damaged_file_is_refused_naming_the_file_dataset_and_field_and_nothing_is_written(
    file, tmp_path, change, message
):
    change(file)
    with pytest.raises(DataFormatError, match=message) as refused:
        convert([file], tmp_path / "raw.parquet", h5=H5Settings(block_jets=256))
    assert str(file) in str(refused.value)
    assert not list(tmp_path.glob("*.parquet")) and not list(tmp_path.glob(".*.part"))


def _set(rows, field, index, value):
    rows[field][index] = value
    return rows


def _rename(path, old, new):
    with h5py.File(path, "a") as stored:
        stored.move(old, new)


def test_the_h5_settings_are_checked():
    with pytest.raises(ConfigError, match=r"dataset.h5.fields: \['pt'\] are not robusttag inputs"):
        H5Settings(fields={"pt": "pt_btagJes"})
    with pytest.raises(ConfigError, match="codes of b, c, light and skip must differ"):
        DatasetSettings.from_config({"h5": {"flavour": {"b": 0, "c": 1, "light": 1}}})
    with pytest.raises(ConfigError, match="dataset.source is 'h5' but dataset.h5.files names no file"):
        DatasetSettings.from_config({"source": "h5"})
    assert H5Settings().source("track_d0") == ("track_d0", 1.0, None)  # unlisted: read under its own name
