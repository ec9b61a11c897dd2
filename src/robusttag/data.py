"""The data layer below training and evaluation: the device, and a
preprocessed split as contiguous tensors on it.

Speed: each split is one contiguous tensor on the device; batches are slices
of a seeded permutation (no Dataset, no DataLoader workers, no per-batch
copies between host and device).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq
import torch

from .features import default_column


def choose_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU; or any torch device name.

    Matrix products stay in full float32 on every device: TF32 (10-bit
    mantissas on Ampere and later GPUs) is PyTorch's default off, set here so
    that no environment or library turns it on behind the user's back. The
    network has no convolutions, so cuDNN's own TF32 and autotuning switches
    do not apply.
    """
    torch.set_float32_matmul_precision("highest")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class Split:
    """One split as contiguous tensors on the device."""

    x: torch.Tensor  #: (n, features) float32, standardised
    labels: torch.Tensor  #: (n,) int64
    weights: torch.Tensor  #: (n,) float32
    movable: torch.Tensor | None = None  #: (n, features) bool, where an attack may move the input
    #: (n, features) float32: the attack box of every jet, [lo, hi] (PGD and NGM training)
    lo: torch.Tensor | None = None
    hi: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, index: torch.Tensor) -> Split:
        """The jets at ``index``, gathered into new contiguous tensors (a batch).

        ``index_select`` rather than ``x[index]``: the same result, about twice
        as fast on a CPU.
        """
        tensors = (self.x, self.labels, self.weights, self.movable, self.lo, self.hi)
        return Split(*(None if t is None else torch.index_select(t, 0, index) for t in tensors))

    @property
    def box(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(lo, hi), or None without a box."""
        return None if self.lo is None else (self.lo, self.hi)


def load_split(path: str | os.PathLike, summary: dict, device: torch.device, with_movable: bool = True) -> Split:
    """Read a preprocessed split; the movable mask (only what an attack needs)
    excludes integer features and defaults.

    Read row group by row group into arrays of the final size: the peak is
    the split itself (4 bytes per input, 1 more with the mask), not several
    copies of it, which matters for the full dataset (8.3 M training jets:
    6.1 GB of inputs). ``iter_batches`` would read ahead and keep gigabytes in
    Arrow's memory pool.
    """
    names = summary["feature_order"]
    integer = np.array([column["is_integer"] for column in summary["features"]])
    defaults = [default_column(n) for n in names] if with_movable else []
    parquet = pq.ParquetFile(path)
    n = parquet.metadata.num_rows
    x = np.empty((n, len(names)), dtype=np.float32)
    movable = np.empty((n, len(names)), dtype=bool) if with_movable else None
    labels, weights = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float32)
    start = 0
    for group in range(parquet.num_row_groups):
        part = parquet.read_row_group(group, columns=[*names, *defaults, "label", "weight"])
        rows = slice(start, start + part.num_rows)
        columns = [column.to_numpy(zero_copy_only=False) for column in part.columns]
        x[rows] = np.column_stack(columns[: len(names)])
        if with_movable:
            movable[rows] = ~np.column_stack(columns[len(names) : 2 * len(names)]) & ~integer
        labels[rows], weights[rows] = columns[-2], columns[-1]
        start = rows.stop
    return Split(
        torch.from_numpy(x).to(device),
        torch.from_numpy(labels).to(device),
        torch.from_numpy(weights).to(device),
        None if movable is None else torch.from_numpy(movable).to(device),
    )


def n_inputs(summary: dict) -> int:
    """The number of model inputs the preprocessing made (184 for the paper's 6 track slots)."""
    return len(summary["feature_order"])
