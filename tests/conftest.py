"""Fixtures shared by several test files: the whole DAG of .test/config/config.yaml, run once per session, and
the SLURM run of tests/test_slurm.py, started with the session (the SLURM tests run last)."""

from __future__ import annotations

from pathlib import Path

import pytest
import slurm_run as slurm
import snakemake_process
from workflow_copy import copy_workflow

SLURM_TESTS = "test_slurm.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The SLURM tests last, so that the rest of the suite runs while their run (started with the session)
    waits for SLURM; the order is otherwise kept."""
    items.sort(key=lambda item: item.path.name == SLURM_TESTS)


@pytest.fixture(scope="session", autouse=True)
def slurm_run(request, tmp_path_factory):
    """Where SLURM tests are among those run: the one-node SLURM and rule all on it (tests/slurm_run.py),
    started now and stopped at the end of the session; None where they are not."""
    if not any(item.path.name == SLURM_TESTS for item in request.session.items):
        yield None
        return
    run = slurm.start(tmp_path_factory.mktemp("slurm"))
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="session")
def workflow(tmp_path_factory) -> Path:
    """A copy of the workflow in which rule all of .test/config/config.yaml has run once (2 cores; gpu=2:
    there is no GPU, the resource only caps how many GPU jobs run at once, here one per core).

    Shared by the pipeline's tests (test_workflow_pipeline.py, test_workflow_values.py) and the SLURM run's
    local reference (test_slurm.py): a test reads it or dry-runs in it; one that runs jobs copies it first
    (``shutil.copytree(workflow, ..., symlinks=True)``: the outputs keep their times, only the new jobs run).
    """
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    result = snakemake_process.run(
        workdir, "--resources", "gpu=2", "--cores", "2", "--configfile", slurm.TEST_CONFIG, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir
