"""The training rules in the Snakemake DAG: both modes, gpu=1, what retrains them.

The data chain itself is tested in test_workflow.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, *args: str, check: bool = True, configs=("config/test.yaml",)) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "--cores", "2", "--configfile", *configs],
        cwd=workdir, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    """A copy of the workflow in which the data chain has run once."""
    workdir = tmp_path_factory.mktemp("workflow")
    for item in ("Snakefile", "config.yaml", "config", "workflow", "envs"):
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, workdir / item)
    snakemake(workdir, "--resources", "gpu=1")  # everything rule all asks for
    return workdir


def rules_to_run(workdir: Path, *args: str, **kwargs) -> set[str]:
    """Rules a dry run would execute (from its job table)."""
    out = snakemake(workdir, *args, "--dry-run", **kwargs).stdout
    return set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", out, flags=re.MULTILINE))



def test_both_modes_trained(workflow):
    for mode in ("nominal", "adversarial"):
        lines = (workflow / f"results/models/{mode}/history.csv").read_text().splitlines()
        assert len(lines) == 3  # header and the 2 epochs of config/test.yaml
        assert (workflow / f"results/models/{mode}/epoch_002.pt").exists()
        assert "epoch 2: train loss" in (workflow / f"results/logs/train_{mode}.log").read_text()


def test_nothing_to_do_the_second_time(workflow):
    assert rules_to_run(workflow) == set()


def test_training_rules_claim_one_gpu(workflow):
    out = snakemake(workflow, "--forcerun", "train_nominal", "train_adversarial", "--dry-run").stdout
    blocks = re.findall(r"^checkpoint (train_\w+):\n(.*?)(?=\n\n|\Z)", out, flags=re.MULTILINE | re.DOTALL)
    assert {name for name, _ in blocks} == {"train_nominal", "train_adversarial"}
    for name, block in blocks:
        assert re.search(r"resources: .*\bgpu=1\b", block), name


def test_changing_a_training_parameter_retrains_both_modes_only(workflow):
    (workflow / "lr.yaml").write_text("training:\n  lr: 0.002\n")
    assert rules_to_run(workflow, configs=("config/test.yaml", "lr.yaml")) - {"all"} == {"train_nominal", "train_adversarial"}



