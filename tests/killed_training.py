"""A training run in its own process, killed with SIGKILL once a given epoch is checkpointed (the resume tests),
and the uninterrupted reference run beside it. Each process is forked from the server of
tests/snakemake_process.py, which has imported torch and robusttag's training once (tests/training_child.py):
a process of its own, killed for real, without the seconds of imports."""

from __future__ import annotations

import shutil
from multiprocessing.process import BaseProcess
from pathlib import Path

import pyarrow.parquet as pq
import snakemake_process
import training_child


def train_in_process(script: str, args: list[str], kill_after_epoch=None, timeout=300) -> int:
    """Run ``script`` (Python, reading ``args`` from sys.argv) and wait for it; with ``kill_after_epoch``,
    the process is killed -9 as soon as that epoch's checkpoint is in the training's state folder.

    Returns
    -------
    int
        The process's exit status (-SIGKILL when killed).
    """
    return finished(started(script, args, kill_after_epoch), timeout)


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


def started(script: str, args: list[str], kill_after_epoch: int | None = None) -> BaseProcess:
    """``script`` (as for :func:`train_in_process`) started in its own process and not waited for: the
    uninterrupted reference training, run beside the interrupted one on the other core (each process trains
    with one thread into its own folder, so neither depends on when the other runs)."""
    snakemake_process.ensure_forkserver()
    process = snakemake_process.CONTEXT.Process(target=training_child.main, args=(script, list(args), kill_after_epoch))
    process.start()
    return process


def finished(process: BaseProcess, timeout=300) -> int:
    """The exit status of a :func:`started` process (-9 when killed by SIGKILL), killed if it runs past
    ``timeout`` s."""
    process.join(timeout)
    if process.exitcode is None:
        process.kill()
        process.join()
    return process.exitcode
