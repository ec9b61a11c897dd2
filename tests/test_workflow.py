"""The Snakemake data chain on .test/config/config.yaml, in a copy of the workflow:
source -> raw Parquet -> preprocessed splits, logs, up-to-date detection,
lint, parameter-change triggers, and a corrupted source file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import snakemake_process
from workflow_copy import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
TARGET = "results/preprocessed/test.parquet"
SOURCE = "results/source/synthetic.json.gz"
RAW = "results/raw/jets.parquet"
PREPROCESSED = [
    f"results/preprocessed/{name}" for name in ("train.parquet", "val.parquet", "test.parquet", "preprocessing.json")
]
DATA_RULES = ("generate_synthetic", "convert_to_parquet", "preprocess")


def snakemake(
    workdir: Path, *args: str, configs: tuple[str, ...] = (".test/config/config.yaml",)
) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir``; --configfile comes last since it takes several values."""
    return snakemake_process.run(workdir, *args, "--cores", "2", "--configfile", *configs)


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def jobs_in(text: str) -> list[str]:
    """Rule names of the job blocks Snakemake printed ("rule x:" / "localrule x:"), in order."""
    return re.findall(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):$", text, flags=re.MULTILINE)


def rules_a_dry_run_would_run(workdir: Path, *configs: str) -> set[str]:
    """Rules a dry run for TARGET would execute, with Snakemake's default rerun triggers (all of them)."""
    triggers = ("--rerun-triggers", "mtime", "params", "input", "software-env", "code")
    result = snakemake(workdir, TARGET, "--dry-run", *triggers, configs=(".test/config/config.yaml", *configs))
    assert result.returncode == 0, output_of(result)
    return set(jobs_in(output_of(result)))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A copy of the workflow in which the data chain for TARGET has run once."""
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    result = snakemake(workdir, TARGET)
    assert result.returncode == 0, output_of(result)[-5000:]
    return workdir, result


def test_the_chain_runs_in_order(built):
    workdir, result = built
    assert jobs_in(output_of(result)) == list(DATA_RULES)
    for path in (SOURCE, RAW, *PREPROCESSED):
        assert (workdir / path).stat().st_size > 0, path
    assert not (workdir / "results" / "models").exists()  # only what TARGET needs
    # each artifact is younger than the one it was made from
    times = [(workdir / path).stat().st_mtime for path in (SOURCE, RAW, PREPROCESSED[0])]
    assert times == sorted(times)


def test_the_artifacts_hold_the_configured_jets(built):
    workdir, _ = built
    assert pq.ParquetFile(workdir / RAW).metadata.num_rows == 5000  # .test/config/config.yaml: n_jets
    summary = json.loads((workdir / "results/preprocessed/preprocessing.json").read_text())
    assert summary["split_sizes"] == {"train": 3600, "val": 400, "test": 1000}
    assert summary["settings"]["seed"] == 3  # .test/config/config.yaml: preprocess.seed
    assert summary["provenance"]["dataset"]["synthetic"]["seed"] == 7
    for name, rows in summary["split_sizes"].items():
        assert pq.ParquetFile(workdir / f"results/preprocessed/{name}.parquet").metadata.num_rows == rows


def test_every_rule_wrote_its_log(built):
    workdir, _ = built
    logs = workdir / "results" / "logs"
    names = {"preprocess": "preprocessed"}  # the preprocessing's log is named by its folder (one per input layout)
    assert sorted(path.name for path in logs.iterdir()) == sorted(f"{names.get(r, r)}.log" for r in DATA_RULES)
    assert "5000 jets converted" in (logs / "convert_to_parquet.log").read_text()


def test_a_second_run_has_nothing_to_do(built):
    workdir, _ = built
    result = snakemake(workdir, TARGET)
    assert result.returncode == 0, output_of(result)
    assert "Nothing to be done" in output_of(result)
    assert jobs_in(output_of(result)) == []


def test_lint_passes(built):
    workdir, _ = built
    result = snakemake(workdir, "--lint")
    assert result.returncode == 0, output_of(result)


def test_a_new_split_seed_reruns_preprocess_only(built):
    workdir, _ = built
    (workdir / "split_seed.yaml").write_text("preprocess:\n  seed: 4\n")
    assert rules_a_dry_run_would_run(workdir, "split_seed.yaml") == {"preprocess"}
    result = snakemake(workdir, TARGET, "--dry-run", configs=(".test/config/config.yaml", "split_seed.yaml"))
    assert re.search(r"reason: Params have changed", output_of(result)), output_of(result)


def test_a_new_generator_seed_reruns_the_whole_chain(built):
    """The control for the test above: the dry-run parser does see upstream jobs."""
    workdir, _ = built
    (workdir / "generator_seed.yaml").write_text("dataset:\n  synthetic:\n    seed: 8\n")
    assert rules_a_dry_run_would_run(workdir, "generator_seed.yaml") == set(DATA_RULES)


def test_an_unchanged_config_wants_nothing(built):
    workdir, _ = built
    assert rules_a_dry_run_would_run(workdir) == set()


def test_a_corrupted_source_fails_the_conversion_naming_the_file(built, tmp_path):
    workdir = tmp_path / "broken"
    shutil.copytree(built[0], workdir)  # with .snakemake: the chain is complete and recorded
    source = workdir / SOURCE
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])  # a truncated gzip stream
    newer = (workdir / RAW).stat().st_mtime + 10
    os.utime(source, (newer, newer))

    result = snakemake(workdir, RAW)
    output = output_of(result)
    assert result.returncode != 0, output
    assert "Error in rule convert_to_parquet" in output, output
    assert "synthetic.json.gz" in output and "truncated" in output, output
    log = (workdir / "results/logs/convert_to_parquet.log").read_text()
    assert "synthetic.json.gz" in log and "truncated" in log, log
    assert not (workdir / RAW).exists()
    assert not [path.name for path in (workdir / "results").rglob("*.part")]  # no half-written leftovers


def test_an_hdf5_source_with_a_declared_mapping_feeds_the_chain(built, tmp_path):
    """The jets of the built chain written as another HDF5 file names them (pT in MeV, its own flavour codes,
    tau jets, no track z0), declared in dataset.h5: the conversion reads them back as the generator made them."""
    from test_h5 import ATLAS_LIKE, _atlas_like

    from robusttag.jets import JetBatch

    workdir = tmp_path / "h5"
    shutil.copytree(built[0], workdir)
    jets = JetBatch.from_arrow(pq.read_table(workdir / RAW))
    _atlas_like(jets, workdir / "atlas.h5", tau_jets=5)
    override = {"dataset": {"source": "h5", "h5": {**ATLAS_LIKE, "files": ["atlas.h5"]}}}
    override["evaluation"] = {"shifted_samples": {"samples": []}}  # the generator's knobs: not of an h5 dataset
    (workdir / "h5.yaml").write_text(json.dumps(override))
    result = snakemake(workdir, TARGET, configs=(".test/config/config.yaml", "h5.yaml"))
    assert result.returncode == 0, output_of(result)[-3000:]
    assert set(jobs_in(output_of(result))) == {"convert_to_parquet", "preprocess"}
    read = JetBatch.from_arrow(pq.read_table(workdir / RAW))
    assert len(read) == len(jets) - 5
    assert (read.jets["flavor"] == jets.jets["flavor"][5:]).all()
    assert pq.read_metadata(workdir / TARGET).num_rows > 0
    summary = json.loads((workdir / "results/preprocessed/preprocessing.json").read_text())
    assert summary["provenance"]["dataset"]["source"] == "h5"
