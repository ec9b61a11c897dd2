"""A training run in its own process, killed with SIGKILL once a given epoch is checkpointed (the resume tests)."""

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
