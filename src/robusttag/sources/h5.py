"""HDF5 files in the ATLAS salt/UPP layout, read with h5py (``dataset.source: h5``).

The layout: a 1-D structured dataset of jets (one row per jet, default ``jets``) and a 2-D structured dataset
of tracks (jets x track slots, default ``tracks``) whose field ``valid`` flags the real tracks of a row (the
rest is padding). ``dataset.h5.fields`` says which field of the file each of robusttag's inputs reads (a unit
scale on the way), or which constant it takes where the file has no such field; an input not listed is read
under its own name (so a file written by :func:`write_jets` reads with no mapping at all). The flavour is one
jets' field with its own codes (``dataset.h5.flavour``). The file is read ``block_jets`` rows at a time.

Refused, naming the file, the dataset and the field: a file that is not HDF5, a missing dataset or field, a
dataset that is not a structured array of the right dimension, datasets of different lengths, a non-finite
jet pT or eta or track helix parameter (values the reader takes from the file: constants may be NaN), an
unknown flavour code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import h5py
import numpy as np

from ..config import H5Settings
from ..config.data import H5_FIELDS
from ..errors import DataFormatError
from ..features import FLAVOR, RAW_JET_FIELDS, TRACK_FIELDS, TRACK_HELIX, raw_track_column
from ..jets import JetBatch

#: the inputs read from the file that must be finite (a jet's kinematics, a track's perigee)
MUST_BE_FINITE = ("jet_pt", "jet_eta", *(raw_track_column(name) for name in TRACK_HELIX))
_TRACK_KEYS = {raw_track_column(name): name for name in TRACK_FIELDS}


def _dataset(file: h5py.File, name: str, ndim: int, path: str) -> h5py.Dataset:
    """A structured dataset of ``ndim`` dimensions.

    Raises
    ------
    DataFormatError
        When it is missing, not a dataset, not structured or of another dimension.
    """
    if name not in file or not isinstance(file[name], h5py.Dataset):
        found = sorted(key for key in file if isinstance(file[key], h5py.Dataset))
        raise DataFormatError(path, f"no dataset '{name}'; datasets in the file: {found or 'none'}")
    dataset = file[name]
    if dataset.dtype.names is None or dataset.ndim != ndim:
        shape = "jets x track slots" if ndim == 2 else "one row per jet"
        raise DataFormatError(
            path,
            f"dataset '{name}' must be a {ndim}-D structured array ({shape}), not {dataset.ndim}-D of {dataset.dtype}",
        )
    return dataset


def _check_fields(dataset: h5py.Dataset, wanted: Iterable[str], path: str) -> None:
    missing = sorted(set(wanted) - set(dataset.dtype.names))
    if missing:
        raise DataFormatError(
            path,
            f"dataset '{dataset.name.lstrip('/')}' lacks the fields {missing}; it has {list(dataset.dtype.names)} "
            "(map robusttag's inputs onto the file's fields, or give a constant, in dataset.h5.fields)",
        )


def _column(rows: np.ndarray, settings: H5Settings, name: str, shape) -> np.ndarray:
    field, scale, value = settings.source(name)
    if field is None:
        return np.full(shape, value, dtype=np.float32)
    return (rows[field].astype(np.float64) * scale).astype(np.float32)


def _finite(values: np.ndarray, name: str, dataset: str, first_jet: int, jets: np.ndarray | None, path: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        index = int(np.argmax(bad))
        jet = first_jet + (index if jets is None else int(jets[index]))
        raise DataFormatError(path, f"dataset '{dataset}': {name} is {values[index]} at jet {jet}; it must be finite")


def read_jets(path: str | os.PathLike, settings: H5Settings) -> Iterator[JetBatch]:
    """Stream the jets of an HDF5 file as :class:`JetBatch` es (jets of a skipped flavour left out).

    Raises
    ------
    DataFormatError
        While iterating, on any of the faults listed in the module's note.
    """
    path = str(path)
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise DataFormatError(path, f"cannot be opened as an HDF5 file ({error})") from None
    with file:
        jets, tracks = _dataset(file, settings.jets, 1, path), _dataset(file, settings.tracks, 2, path)
        if len(jets) != len(tracks):
            raise DataFormatError(
                path, f"dataset '{settings.tracks}' has {len(tracks)} rows, '{settings.jets}' {len(jets)}: one per jet"
            )
        read = {name: settings.source(name)[0] for name in H5_FIELDS}  # None: a constant
        jet_fields = [read[name] for name in H5_FIELDS if name not in _TRACK_KEYS and read[name]]
        _check_fields(jets, [settings.flavour.field, *jet_fields], path)
        _check_fields(tracks, [settings.valid, *(read[name] for name in _TRACK_KEYS if read[name])], path)
        for start in range(0, len(jets), settings.block_jets):
            stop = min(start + settings.block_jets, len(jets))
            yield _batch(jets[start:stop], tracks[start:stop], settings, start, path)


def _batch(jet_rows: np.ndarray, track_rows: np.ndarray, settings: H5Settings, start: int, path: str) -> JetBatch:
    codes = jet_rows[settings.flavour.field].astype(np.int64)
    known, skipped = settings.flavour.codes(), np.isin(codes, settings.flavour.skip)
    unknown = ~np.isin(codes, list(known)) & ~skipped
    if unknown.any():
        index = int(np.argmax(unknown))
        raise DataFormatError(
            path,
            f"dataset '{settings.jets}', field {settings.flavour.field}: unknown flavour code {codes[index]} at jet "
            f"{start + index}; expected b {settings.flavour.b}, c {settings.flavour.c}, light {settings.flavour.light} "
            f"or one of skip {list(settings.flavour.skip)}",
        )
    keep = ~skipped
    jet_rows, track_rows, codes = jet_rows[keep], track_rows[keep], codes[keep]
    kept = np.flatnonzero(keep)
    jets = {FLAVOR: np.select([codes == code for code in known], list(known.values())).astype(np.int8)}
    for name in RAW_JET_FIELDS:
        if name != FLAVOR:
            jets[name] = _column(jet_rows, settings, name, len(jet_rows))
            if name in MUST_BE_FINITE and settings.source(name)[0]:
                _finite(jets[name], name, settings.jets, start, kept, path)
    valid = track_rows[settings.valid].astype(bool)
    real = track_rows[valid]  # row-major: each jet's tracks in slot order
    jet_of_track = np.repeat(np.arange(len(track_rows)), valid.sum(1))
    tracks = {}
    for key, name in _TRACK_KEYS.items():
        tracks[name] = _column(real, settings, key, len(real))
        if key in MUST_BE_FINITE and settings.source(key)[0]:
            _finite(tracks[name], key, settings.tracks, start, kept[jet_of_track], path)
    offsets = np.concatenate([[0], np.cumsum(valid.sum(1))]).astype(np.int64)
    return JetBatch(jets, tracks, offsets)


def write_jets(path: str | os.PathLike, batches: Iterable[JetBatch], max_tracks: int | None = None) -> None:
    """Write jets in the layout :func:`read_jets` reads with no mapping: robusttag's field names, the flavour as
    ``flavor`` (5, 4, 0), the tracks padded to ``max_tracks`` slots (default: the most any jet has).
    """
    batch = JetBatch.concatenate(list(batches))
    slots = max_tracks or int(batch.n_tracks.max(initial=1))
    jet_type = np.dtype([(name, np.int8 if name == FLAVOR else np.float32) for name in RAW_JET_FIELDS])
    track_type = np.dtype([*((raw_track_column(name), np.float32) for name in TRACK_FIELDS), ("valid", bool)])
    jets = np.zeros(len(batch), jet_type)
    for name in RAW_JET_FIELDS:
        jets[name] = batch.jets[name]
    tracks = np.zeros((len(batch), slots), track_type)
    jet = np.repeat(np.arange(len(batch)), batch.n_tracks)
    slot = np.arange(len(jet)) - batch.offsets[:-1][jet]
    inside = slot < slots
    for name in TRACK_FIELDS:
        tracks[raw_track_column(name)][jet[inside], slot[inside]] = batch.tracks[name][inside]
    tracks["valid"][jet[inside], slot[inside]] = True
    with h5py.File(path, "w") as file:
        file.create_dataset("jets", data=jets)
        file.create_dataset("tracks", data=tracks)
