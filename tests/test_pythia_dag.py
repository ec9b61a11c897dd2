"""The Pythia source through the whole DAG (tests/dag_runs.py: 1,200 Pythia jets in three chunks, the nominal twin,
a generator and a detector variation): the report's tables and the inputs by source; a chunk made in the run
(two jobs at a time) has the bytes one process makes alone; a chunk job killed with SIGKILL leaves nothing
behind and its rerun gives the same bytes; a truncated events file is named by the job that reads it."""

from __future__ import annotations

import shutil
import time

import dag_runs
import pandas as pd
import snakemake_process
from workflow_copy import copy_workflow

from robusttag.config import NOMINAL_TWIN
from robusttag.sources import pythia, reconstruction


def test_the_study_on_pythia_jets_with_its_variations(pythia_run):
    auc = pd.read_csv(pythia_run / "results/tables/shifted_auc.csv")
    selected = auc[auc["selected"]]
    assert set(selected["sample"]) == {"fsr_up", "d0_resolution_up"}
    assert set(selected["reference"]) == {NOMINAL_TWIN}
    # the detector variation is the twin's jets (paired), the generator variation others (in quadrature): its
    # change's error is the larger
    error = selected.groupby("sample")["auc_change_err"].median()
    assert error["d0_resolution_up"] < error["fsr_up"]
    summary = (pythia_run / "results/tables/summary.md").read_text()
    assert "fsr_up" in summary and "d0_resolution_up" in summary
    statistics = pd.read_csv(pythia_run / "results/tables/inputs_by_source.csv").set_index(["source", "flavour"])
    assert statistics.loc[("Pythia 8", "b"), "jets"] + statistics.loc[("Pythia 8", "light"), "jets"] > 900
    pythia_b, pythia_light = (statistics.loc[("Pythia 8", f), "secondary_vertex_fraction"] for f in ("b", "light"))
    assert pythia_b > 0.4 > 0.15 > pythia_light
    for name in ("inputs_by_source", "premise"):
        assert (pythia_run / f"results/figures/{name}.png").stat().st_size > 10_000


def test_the_training_variations_remake_the_dataset(pythia_run):
    """A detector variation re-simulates the dataset's own events (the same jets, paired); a generator variation
    generates its own (other jets, from a seed of its own); augmented training reads both."""
    results = pythia_run / "results"
    assert not (results / "pythia/training_d0_resolution_down/events").exists()
    assert len(list((results / "pythia/training_isr_up/events").glob("*.npz"))) == 3
    train = pd.read_parquet(results / "preprocessed/train.parquet", columns=["label", "raw_jet_pt"])
    detector = pd.read_parquet(results / "variations/d0_resolution_down/preprocessed_train.parquet")
    generator = pd.read_parquet(results / "variations/isr_up/preprocessed_train.parquet")
    assert len(detector) == len(generator) == len(train)
    assert detector["raw_jet_pt"].equals(train["raw_jet_pt"]) and detector["label"].equals(train["label"])
    assert not generator["raw_jet_pt"].equals(train["raw_jet_pt"])
    assert (results / "models/augmented/seed_1/history.csv").exists()


def _chunk_alone(tmp_path, chunk: int) -> bytes:
    sample = pythia.Sample({"b": 0.393, "c": 0.120, "light": 0.487})
    events, jets = tmp_path / "events.npz", tmp_path / "jets.json.gz"
    pythia.generate_events_file(events, sample, 3, chunk, 400, "dataset")
    reconstruction.simulate_chunk(events, jets, 3, chunk)
    return jets.read_bytes()


def test_a_chunk_of_the_run_has_the_bytes_one_process_makes(pythia_run, tmp_path):
    made = (pythia_run / "results/pythia/dataset/jets/1.json.gz").read_bytes()
    assert made == _chunk_alone(tmp_path, 1)
    whole = (pythia_run / "results/pythia/dataset/jets.json.gz").read_bytes()
    parts = [(pythia_run / f"results/pythia/dataset/jets/{c}.json.gz").read_bytes() for c in range(3)]
    assert whole == b"".join(parts)


def test_a_killed_chunk_reruns_to_the_same_bytes_and_a_truncated_one_is_named(pythia_run, tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "pythia.yaml").write_text(dag_runs.PYTHIA)
    target = "results/pythia/dataset/jets/0.json.gz"
    events = workdir / "results/pythia/dataset/events/0.npz"
    args = (target, "--cores", "1", "--configfile", "pythia.yaml")
    running = snakemake_process.start(workdir, *args)
    log = workdir / "results/logs/pythia/dataset_events_0.log"
    deadline = time.monotonic() + 120
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # inside Pythia's generation
    running.kill()
    assert log.exists() and not events.exists()  # the job died without its output

    unlocked = snakemake_process.run(workdir, *args, "--unlock")  # what a user does after kill -9
    assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
    again = snakemake_process.run(workdir, *args, "--rerun-incomplete", timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (workdir / target).read_bytes() == (pythia_run / target).read_bytes()

    data = events.read_bytes()
    events.write_bytes(data[: len(data) // 3])
    (workdir / target).unlink()
    broken = snakemake_process.run(workdir, *args, timeout=300)
    output = broken.stdout + broken.stderr + (workdir / "results/logs/pythia/dataset_jets_0.log").read_text()
    assert broken.returncode != 0
    assert "events/0.npz" in output and "cannot read the Pythia events chunk" in output
    assert not (workdir / target).exists()
    shutil.rmtree(workdir / "results")
