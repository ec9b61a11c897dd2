"""Fixtures shared by several test files: the suite's whole-DAG runs (tests/dag_runs.py: the session's run of
.test/config/config.yaml and the larger runs of one module each) and the SLURM run of tests/test_slurm.py,
all started with the session in the background. The tests that read a run come after the others, and the
SLURM tests last: the runs take the core that the rest of the suite leaves free."""

from __future__ import annotations

import os
from pathlib import Path

import dag_runs
import pytest
import slurm_run as slurm

SLURM_TESTS = "test_slurm.py"

# The suite's processes share two cores with the background runs: a thread of torch's OpenMP pool that waits
# at a barrier sleeps instead of spinning on a core another process needs (the numbers do not change).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _reads_a_run(item: pytest.Item) -> bool:
    return bool(dag_runs.RUNS.keys() & set(item.fixturenames))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules whose tests read a whole-DAG run after the others, the SLURM tests last; the order is
    otherwise kept (a module stays in one piece, so its module-scoped fixtures are made once)."""
    late = {item.path for item in items if _reads_a_run(item)}
    items.sort(key=lambda item: (item.path.name == SLURM_TESTS, item.path in late))


@pytest.fixture(scope="session", autouse=True)
def slurm_run(request, tmp_path_factory):
    """Where SLURM tests are among those run: the one-node SLURM and the test DAG on it (tests/slurm_run.py),
    started now and stopped at the end of the session; None where they are not."""
    if not any(item.path.name == SLURM_TESTS for item in request.session.items):
        yield None
        return
    run = slurm.start(tmp_path_factory.mktemp("slurm"))
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="session", autouse=True)
def background_runs(request, slurm_run, tmp_path_factory) -> dict[str, dag_runs.Started]:
    """The runs of tests/dag_runs.py that a selected test reads, started now (after the SLURM run), in the
    order of dag_runs.RUNS; killed, with their jobs, at the end of the session."""
    wanted = {name for item in request.session.items for name in item.fixturenames if name in dag_runs.RUNS}
    started = {name: run.start(tmp_path_factory.mktemp(name)) for name, run in dag_runs.RUNS.items() if name in wanted}
    try:
        yield started
    finally:
        for run in started.values():
            run.running.kill()


@pytest.fixture(scope="session")
def workflow(background_runs) -> Path:
    """A copy of the workflow in which rule all of .test/config/config.yaml has run once (2 cores; gpu=2:
    there is no GPU, the resource only caps how many GPU jobs run at once, here one per core).

    Shared by the pipeline's tests (test_workflow_pipeline.py, test_workflow_values.py) and the SLURM run's
    local reference (test_slurm.py): a test reads it or dry-runs in it; one that runs jobs copies it first
    (``shutil.copytree(workflow, ..., symlinks=True)``: the outputs keep their times, only the new jobs run).
    """
    return background_runs["workflow"].finish()


@pytest.fixture(scope="session")
def four_tracks(background_runs) -> Path:
    """The whole DAG with 4 flat track slots, the modes nominal, pgd and ngm, and every architecture
    (dag_runs.FOUR_TRACKS), up to dag_runs.FOUR_TARGETS."""
    return background_runs["four_tracks"].finish()


@pytest.fixture(scope="session")
def findings(background_runs) -> Path:
    """The reduced configuration of the paper's findings (dag_runs.FINDINGS), up to the AUC table."""
    return background_runs["findings"].finish()


@pytest.fixture(scope="session")
def pythia_run(background_runs) -> Path:
    """The whole study on 1,200 Pythia jets with two variations (dag_runs.PYTHIA), up to dag_runs.PYTHIA_TARGETS."""
    return background_runs["pythia_run"].finish()


@pytest.fixture(scope="session")
def defences_run(background_runs) -> Path:
    """The defences against mismodelling beside nominal and FGSM training (dag_runs.DEFENCES), up to the
    summary and the defences' figure."""
    return background_runs["defences_run"].finish()
