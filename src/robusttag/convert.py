"""Conversion of any jet source to ``results/raw/jets.parquet``.

One row per jet, faithful to the source: the 17 jet-level values and one
list column ``track_<field>`` per track field, tracks in file order,
non-finite values kept. Streaming: one block at a time is in memory, so the
peak does not grow with the file size.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .config import H5Settings
from .errors import DataFormatError
from .features import FLAVOR, FLAVOR_CODES
from .io import atomic_output
from .jets import JetBatch, raw_schema

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
ROOT_SUFFIXES = (".root",)
H5_SUFFIXES = (".h5", ".hdf5")


def source_format(path: str | os.PathLike) -> str:
    """``"json"``, ``"root"`` or ``"h5"`` from the file name.

    Raises
    ------
    DataFormatError
        When the suffix is none of theirs.
    """
    name = Path(path).name.lower()
    for kind, suffixes in (("json", JSON_SUFFIXES), ("root", ROOT_SUFFIXES), ("h5", H5_SUFFIXES)):
        if name.endswith(suffixes):
            return kind
    known = ", ".join(JSON_SUFFIXES + ROOT_SUFFIXES + H5_SUFFIXES)
    raise DataFormatError(str(path), f"unknown file type; expected one of {known}")


def read_source(
    path: str | os.PathLike,
    *,
    tree: str = "jets",
    h5: H5Settings | None = None,
    block_bytes: int = 16 << 20,
    workers: int | None = None,
) -> Iterator[JetBatch]:
    """Stream the jets of one file, whatever its format, as :class:`JetBatch` es (``h5``: how an HDF5 file's
    fields map on robusttag's; None, its own names).
    """
    kind = source_format(path)
    if kind == "json":
        from .sources.uci import read_jets

        return read_jets(path, block_bytes=block_bytes, workers=workers)
    if kind == "h5":
        from .sources.h5 import read_jets as read_h5

        return read_h5(path, h5 or H5Settings())
    from .sources.root import read_jets as read_root

    return read_root(path, tree=tree)


@dataclass
class ConversionSummary:
    n_jets: int = 0
    n_tracks: int = 0
    jets_per_flavor: dict[str, int] = field(default_factory=lambda: {name: 0 for name in FLAVOR_CODES.values()})
    seconds: float = 0.0

    def add(self, batch: JetBatch) -> None:
        self.n_jets += len(batch)
        self.n_tracks += int(batch.offsets[-1])
        codes, counts = np.unique(batch.jets[FLAVOR], return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist()):
            self.jets_per_flavor[FLAVOR_CODES[code]] += count

    @property
    def jets_per_second(self) -> float:
        return self.n_jets / self.seconds if self.seconds else float("nan")


def convert(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    output: str | os.PathLike,
    *,
    tree: str = "jets",
    h5: H5Settings | None = None,
    block_bytes: int = 16 << 20,
    workers: int | None = None,
) -> ConversionSummary:
    """Convert one or more source files into one raw Parquet table.

    Parameters
    ----------
    inputs : ``.json``/``.json.gz`` files of the dataset format, ``.root`` or ``.h5`` files.
    output : the Parquet file; written under a temporary name, renamed when complete.
    tree : TTree name for ROOT inputs.
    h5 : how HDF5 inputs' fields map on robusttag's (``dataset.h5``).
    block_bytes : text read per block (bounds the memory of the JSON reader).
    workers : processes parsing JSON blocks in parallel (default: one per CPU; 0: none).

    Raises
    ------
    DataFormatError
        When an input is malformed (the message names file, line and fault) or
        holds no jets; nothing is left at ``output`` then.
    """
    paths = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    summary = ConversionSummary()
    start = time.perf_counter()
    with (
        atomic_output(output) as tmp,
        pq.ParquetWriter(tmp, raw_schema(), compression="zstd", use_dictionary=False, write_statistics=False) as writer,
    ):
        for path in paths:
            for batch in read_source(path, tree=tree, h5=h5, block_bytes=block_bytes, workers=workers):
                writer.write_table(batch.to_arrow())
                summary.add(batch)
                log.info(
                    "%s: %d jets converted (%.0f jets/s)",
                    path,
                    summary.n_jets,
                    summary.n_jets / (time.perf_counter() - start),
                )
        if summary.n_jets == 0:
            raise DataFormatError(", ".join(map(str, paths)), "no jets found")
    summary.seconds = time.perf_counter() - start
    return summary
