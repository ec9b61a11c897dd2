"""A training run in its own process, killed with SIGKILL once a given epoch is checkpointed (the resume tests),
and the uninterrupted reference run beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


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
