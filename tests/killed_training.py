"""A training run in its own process, killed with SIGKILL once a given epoch is checkpointed (the resume tests),
and the uninterrupted reference run beside it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq


def train_in_process(script: str, args: list[str], output: Path, kill_after_epoch=None, timeout=300) -> int:
    """Run ``script`` (Python, reading ``args`` from sys.argv) training into ``output``; with
    ``kill_after_epoch``, kill it -9 as soon as that epoch's checkpoint is in the state folder.

    Returns
    -------
    int
        The process's return code (-SIGKILL when killed).
    """
    process = subprocess.Popen([sys.executable, "-c", script, *args])
    state = Path(output).with_name(f".{Path(output).name}.in_progress")
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if kill_after_epoch and (state / f"epoch_{kill_after_epoch:03d}.pt").exists():
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                return process.returncode
            time.sleep(0.05)
        return process.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()


def first_jets(data: Path, folder: Path, jets: int) -> Path:
    """A copy of the preprocessed folder ``data`` in ``folder`` with the first ``jets`` rows of each Parquet
    file (the splits, a training variation's split, a target sample): the process pairs train on it, since a
    resume restores the same state whatever the number of batches, and each process costs seconds less. The
    rows stay aligned across the files (a variation's split is row for row the nominal one's)."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in data.iterdir():
        if file.suffix == ".parquet":
            pq.write_table(pq.read_table(file).slice(0, jets), folder / file.name)
        elif file.is_file():
            shutil.copy(file, folder / file.name)
    return folder


def started(script: str, args: list[str]) -> subprocess.Popen:
    """``script`` (as for :func:`train_in_process`) started in its own process and not waited for: the
    uninterrupted reference training, run beside the interrupted one on the other core (each process trains
    with one thread into its own folder, so neither depends on when the other runs)."""
    return subprocess.Popen([sys.executable, "-c", script, *args])


def finished(process: subprocess.Popen, timeout=300) -> int:
    """The return code of a :func:`started` process, killed if it runs past ``timeout`` s."""
    try:
        return process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
