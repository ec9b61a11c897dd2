"""The child of tests/snakemake_process.py: Snakemake's command line in a process of its own. The forkserver
imports this module once, and with it what every Snakemake call would otherwise import and discover again."""

import os
import sys

import jsonschema  # noqa: F401  (the config's validation)
import nbformat  # noqa: F401  (the notebook directive's support, imported by the parser)
import requests  # noqa: F401
import smart_open  # noqa: F401  (Snakemake's sources)
import snakemake.cli
import snakemake.storage  # noqa: F401
import snakemake.utils  # noqa: F401

import robusttag.config  # noqa: F401  (the Snakefile's imports)
import robusttag.history  # noqa: F401
import robusttag.paths  # noqa: F401

snakemake.cli.get_argument_parser()  # discovers the executor, storage, report and logger plugins once


def main(workdir: str, args: list[str], env: dict[str, str], stdout: str, stderr: str, nice: int = 0) -> None:
    """The child: Snakemake's command line in ``workdir``, its output to the two files; exits with its status."""
    os.setsid()  # its own process group: a timeout kills Snakemake with the jobs it started
    os.nice(nice)
    os.chdir(workdir)
    os.environ.clear()  # the caller's environment now, not the forkserver's when it started
    os.environ.update(env)
    for path, stream in ((stdout, sys.stdout), (stderr, sys.stderr)):
        stream.flush()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(descriptor, stream.fileno())
        os.close(descriptor)
    sys.argv = ["snakemake", *args]
    try:
        snakemake.cli.main(args)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
