"""The in-memory form of a batch of jets, shared by every reader and writer.

A :class:`JetBatch` is columnar and jagged: one float32 array per jet-level
field and, for the tracks, one flat float32 array per track field plus the
offsets that cut them into jets (``tracks[f][offsets[i]:offsets[i+1]]`` are
the tracks of jet ``i``, in file order). It converts to and from the Arrow
table written to ``results/raw/jets.parquet`` (list columns ``track_<field>``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .features import FLAVOR, RAW_JET_FIELDS, TRACK_FIELDS, raw_track_column


@dataclass
class JetBatch:
    jets: dict[str, np.ndarray]  #: field -> (n_jets,) float32; ``flavor`` int8
    tracks: dict[str, np.ndarray]  #: field -> (n_tracks_total,) float32
    offsets: np.ndarray  #: (n_jets + 1,) int64, offsets[0] == 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tracks(self) -> np.ndarray:
        """Number of tracks of each jet."""
        return np.diff(self.offsets)

    def to_arrow(self) -> pa.Table:
        """The raw Parquet schema: jet columns, then one list column per track field."""
        schema = raw_schema()
        offsets = pa.array(self.offsets.astype(np.int32, copy=False))
        columns = [pa.array(self.jets[name]) for name in RAW_JET_FIELDS]
        columns += [
            pa.ListArray.from_arrays(offsets, pa.array(self.tracks[f]), type=schema.field(raw_track_column(f)).type)
            for f in TRACK_FIELDS
        ]
        return pa.Table.from_arrays(columns, schema=schema)

    @classmethod
    def from_arrow(cls, table: pa.Table) -> JetBatch:
        """Inverse of :meth:`to_arrow` (any chunking of the table)."""
        jets = {name: table.column(name).to_numpy() for name in RAW_JET_FIELDS}
        first = table.column(raw_track_column(TRACK_FIELDS[0])).combine_chunks()
        offsets = first.offsets.to_numpy().astype(np.int64)
        offsets = offsets - offsets[0]
        tracks = {
            field: table.column(raw_track_column(field)).combine_chunks().flatten().to_numpy() for field in TRACK_FIELDS
        }
        return cls(jets, tracks, offsets)

    def slice(self, start: int, stop: int) -> JetBatch:
        """Jets ``start`` to ``stop`` (clipped to the batch) with their tracks."""
        stop = min(stop, len(self))
        low, high = self.offsets[start], self.offsets[stop]
        return JetBatch(
            {k: v[start:stop] for k, v in self.jets.items()},
            {k: v[low:high] for k, v in self.tracks.items()},
            self.offsets[start : stop + 1] - low,
        )

    @classmethod
    def concatenate(cls, batches: list[JetBatch]) -> JetBatch:
        jets = {name: np.concatenate([b.jets[name] for b in batches]) for name in RAW_JET_FIELDS}
        tracks = {f: np.concatenate([b.tracks[f] for b in batches]) for f in TRACK_FIELDS}
        counts = np.concatenate([b.n_tracks for b in batches])
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(jets, tracks, offsets)


def raw_schema() -> pa.Schema:
    """Schema of ``results/raw/jets.parquet``.

    Values are float32, the precision of the detector quantities and of the
    model inputs; the flavour code is an int8 (0, 4 or 5). Non-finite values
    are kept as NaN / +inf / -inf.
    """
    fields = [pa.field(name, pa.int8() if name == FLAVOR else pa.float32(), nullable=False) for name in RAW_JET_FIELDS]
    fields += [
        pa.field(raw_track_column(f), pa.list_(pa.field("item", pa.float32(), nullable=False)), nullable=False)
        for f in TRACK_FIELDS
    ]
    return pa.schema(fields)
