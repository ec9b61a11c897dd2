"""Snakemake's command line for the tests, each call in a process forked from one that has already imported
Snakemake, its plugins and robusttag's configuration layer.

A test's Snakemake call costs about 3 s of CPU, of which 2.3 s are imports and the plugins' discovery,
the same for every call; the suite makes about 80 of them. Here a forkserver (multiprocessing's, started on
the first call) imports all that once, and every call is a fresh child of it: its own process, working
directory, environment, output files and exit status, as a ``python -m snakemake`` of its own would have
(the jobs Snakemake starts are new Python processes either way). What the forkserver imports holds no
state from one call to the next: each child starts from the server's memory as it was after the imports.

``run`` waits for the call and returns a CompletedProcess; ``start`` returns at once (a run in the
background, collected with ``Running.finish``).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import snakemake_child

CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["snakemake_child", "training_child"])  # training_child: tests/killed_training.py


@dataclass
class Running:
    """A Snakemake call under way, its output in two files of its own folder."""

    args: list[str]
    process: multiprocessing.process.BaseProcess
    folder: Path

    @property
    def stdout(self) -> Path:
        return self.folder / "stdout"

    @property
    def stderr(self) -> Path:
        return self.folder / "stderr"

    def wait(self, timeout: float) -> subprocess.CompletedProcess:
        """The finished call; past ``timeout`` s it is killed, with its jobs, and the test fails."""
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.kill()
            pytest.fail(f"snakemake {' '.join(self.args)} ran over {timeout:.0f} s:\n{self.output()[-5000:]}")
        result = subprocess.CompletedProcess(
            ["snakemake", *self.args],
            self.process.exitcode,
            self.stdout.read_text(errors="replace"),
            self.stderr.read_text(errors="replace"),
        )
        shutil.rmtree(self.folder, ignore_errors=True)
        return result

    def finish(self, timeout: float, context=lambda: "") -> str:
        """The output, once Snakemake has succeeded; a failure or a run past ``timeout`` s fails the test."""
        result = self.wait(timeout)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{output[-6000:]}\n{context()}"
        return output

    def output(self) -> str:
        return "".join(path.read_text(errors="replace") for path in (self.stdout, self.stderr) if path.exists())

    def kill(self) -> None:
        if self.process.exitcode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.join()


def ensure_forkserver() -> None:
    """The forkserver, started once with this folder on its path: the server of Python 3.11 imports what it
    preloads before it reads the tests' sys.path."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), before]))
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def start(workdir: Path, *args: str, env: dict[str, str] | None = None, nice: int = 0) -> Running:
    """``snakemake *args`` in ``workdir``, started now (``env``: its whole environment, default the tests';
    ``nice``: added to its priority and its jobs', a run in the background that yields to the suite)."""
    ensure_forkserver()
    folder = Path(tempfile.mkdtemp(prefix="snakemake-output-"))
    running = Running(list(args), None, folder)
    running.process = CONTEXT.Process(
        target=snakemake_child.main,
        args=(
            str(workdir),
            list(args),
            dict(os.environ if env is None else env),
            str(running.stdout),
            str(running.stderr),
            nice,
        ),
    )
    running.process.start()
    return running


def run(workdir: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None):
    """``snakemake *args`` in ``workdir``, waited for: a CompletedProcess (returncode, stdout, stderr)."""
    return start(workdir, *args, env=env).wait(timeout)
