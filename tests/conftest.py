"""Fixtures shared by several test files: the whole DAG of .test/config/config.yaml, run once per session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from workflow_copy import copy_workflow


@pytest.fixture(scope="session")
def workflow(tmp_path_factory) -> Path:
    """A copy of the workflow in which rule all of .test/config/config.yaml has run once (gpu=1, 2 cores).

    Shared by the pipeline's tests (test_workflow_pipeline.py, test_pipeline_values.py) and the SLURM run's
    local reference (test_slurm.py): a test reads it or dry-runs in it; one that runs jobs copies it first
    (``shutil.copytree(workflow, ..., symlinks=True)``: the outputs keep their times, only the new jobs run).
    """
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--resources",
            "gpu=1",
            "--cores",
            "2",
            "--configfile",
            ".test/config/config.yaml",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir
