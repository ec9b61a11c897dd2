"""ROOT ntuples in the dataset's branch convention, read and written with uproot.

Branch convention (one TTree entry per jet, default tree name ``jets``):

* jet-level scalar branches named as the dataset's fields: ``jet_pt``,
  ``jet_eta``, ``flavor`` (0, 4 or 5), ``track_2_d0_significance``, ...,
  ``vertex_energy_fraction`` (17 branches);
* track-level jagged branches ``track_<field>``: ``track_d0``, ``track_z0``,
  ..., ``track_qoverpqoverp``, ``track_weight``, ``track_vertex_mass``, ...,
  ``track_vertex_energy_fraction`` (28 branches, all of the same length per
  jet, tracks in any order: preprocessing orders them).

Missing values follow the JSON file: -inf, -1, +inf, NaN as the reference
note lists them. Extra branches are ignored, so a physicist's own ntuple only
needs these names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import awkward as ak
import numpy as np
import uproot

from ..errors import DataFormatError
from ..features import FLAVOR, FLAVOR_CODES, RAW_JET_FIELDS, TRACK_FIELDS, raw_track_column
from ..jets import JetBatch

DEFAULT_TREE = "jets"
TRACK_BRANCHES = tuple(raw_track_column(f) for f in TRACK_FIELDS)
BRANCHES = (*RAW_JET_FIELDS, *TRACK_BRANCHES)


def read_jets(path: str | os.PathLike, tree: str = DEFAULT_TREE, step_size: int = 100_000) -> Iterator[JetBatch]:
    """Stream the jets of a ROOT file as :class:`JetBatch` es.

    Raises
    ------
    DataFormatError
        While iterating, when the file cannot be opened or read, the tree or a
        branch is missing, a branch has the wrong list depth, track branches
        disagree in length, or a flavour code is unknown.
    """
    path = str(path)
    try:
        file = uproot.open(path)
    except Exception as error:  # uproot raises many types for a bad file
        raise DataFormatError(path, f"cannot be opened as a ROOT file ({error})") from None
    with file:
        ttree = _find_tree(file, tree, path)
        missing = [name for name in BRANCHES if name not in ttree.keys()]
        if missing:
            raise DataFormatError(
                path,
                f"tree '{tree}' lacks the branches {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                f"({len(missing)} of {len(BRANCHES)}); see robusttag.sources.root for the branch convention",
            )
        first_entry = 0
        batches = ttree.iterate(list(BRANCHES), step_size=step_size, library="ak")
        while True:
            try:
                arrays = next(batches)
            except StopIteration:
                return
            except Exception as error:  # a damaged file fails only when its baskets are read
                raise DataFormatError(path, f"entries from {first_entry} on cannot be read ({error})") from None
            yield _to_batch(arrays, path, first_entry)
            first_entry += len(arrays)


_TREE_CLASSES = ("TTree", "ROOT::RNTuple", "ROOT::Experimental::RNTuple")


def _find_tree(file, tree: str, path: str):
    """The TTree (or RNTuple) ``tree`` of an open file.

    Raises
    ------
    DataFormatError
        When ``tree`` is absent or not a tree; the message lists the trees present.
    """
    classes = {key.split(";")[0]: cls for key, cls in file.classnames().items()}
    trees = sorted(name for name, cls in classes.items() if cls.startswith(_TREE_CLASSES))
    if classes.get(tree, "").startswith(_TREE_CLASSES):
        return file[tree]
    found = f"'{tree}' is a {classes[tree]}, not a tree" if tree in classes else f"no tree named '{tree}'"
    raise DataFormatError(path, f"{found}; trees in the file: {trees or 'none'}")


def _to_batch(arrays: ak.Array, path: str, first_entry: int) -> JetBatch:
    for name in BRANCHES:
        depth = arrays[name].ndim
        if depth != (2 if name in TRACK_BRANCHES else 1):
            kind = "jagged (one value per track)" if name in TRACK_BRANCHES else "one value per jet"
            raise DataFormatError(path, f"branch {name} must hold {kind}; it has {depth - 1} list levels")
    counts = ak.to_numpy(ak.num(arrays[TRACK_BRANCHES[0]], axis=1)).astype(np.int64)
    for name in TRACK_BRANCHES[1:]:
        other = ak.to_numpy(ak.num(arrays[name], axis=1))
        if not np.array_equal(other, counts):
            bad = int(np.argmax(other != counts))
            raise DataFormatError(
                path,
                f"entry {first_entry + bad}: branch {name} has {other[bad]} tracks, "
                f"{TRACK_BRANCHES[0]} has {counts[bad]}",
            )
    jets = {name: ak.to_numpy(arrays[name]).astype(np.float32) for name in RAW_JET_FIELDS}
    flavor = jets[FLAVOR]
    known = np.isin(flavor, list(FLAVOR_CODES))
    if not known.all():
        bad = int(np.argmin(known))
        raise DataFormatError(
            path,
            f"entry {first_entry + bad}: unknown flavour code {float(flavor[bad]):g}; expected 0 (light), 4 (c), 5 (b)",
        )
    jets[FLAVOR] = flavor.astype(np.int8)
    tracks = {f: ak.to_numpy(ak.flatten(arrays[raw_track_column(f)])).astype(np.float32) for f in TRACK_FIELDS}
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return JetBatch(jets, tracks, offsets)


def write_jets(path: str | os.PathLike, batches: Iterable[JetBatch], tree: str = DEFAULT_TREE) -> None:
    """Write jets as a TTree in the branch convention above (one basket per batch)."""
    with uproot.recreate(path) as file:
        for i, batch in enumerate(batches):
            arrays = _to_branches(batch)
            if i == 0:
                file.mktree(
                    tree,
                    {
                        name: value.type if isinstance(value, ak.Array) else value.dtype
                        for name, value in arrays.items()
                    },
                    counter_name=lambda _: "n_tracks",
                    field_name=lambda outer, inner: f"{outer}_{inner}",
                )
            file[tree].extend(arrays)


def _to_branches(batch: JetBatch) -> dict[str, np.ndarray | ak.Array]:
    counts = batch.n_tracks
    branches: dict[str, np.ndarray | ak.Array] = {name: batch.jets[name] for name in RAW_JET_FIELDS}
    # Zipped under "track": uproot names the branches track_<field> with one shared counter.
    branches["track"] = ak.zip({f: ak.unflatten(batch.tracks[f], counts) for f in TRACK_FIELDS}, depth_limit=2)
    return branches
