"""The whole DAG from rule all on config/test.yaml: both trainings, gpu=1,
what retrains them, the scores, tables, figures and the report.

The data chain itself is tested in test_workflow.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_copy import copy_workflow

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
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    snakemake(workdir, "--resources", "gpu=1")  # everything rule all asks for
    return workdir


def rules_to_run(workdir: Path, *args: str, **kwargs) -> set[str]:
    """Rules a dry run would execute (from its job table)."""
    out = snakemake(workdir, *args, "--dry-run", **kwargs).stdout
    return set(re.findall(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):", out, flags=re.MULTILINE))



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
    rules = rules_to_run(workflow, configs=("config/test.yaml", "lr.yaml"))
    assert {"train_nominal", "train_adversarial", "tables"} <= rules  # scores join once the epochs are known
    assert not rules & {"generate_synthetic", "convert_to_parquet", "preprocess"}


def test_changing_an_evaluation_parameter_does_not_retrain(workflow):
    (workflow / "eps.yaml").write_text("evaluation:\n  epsilons: [0.01, 0.03, 0.05]\n")
    rules = rules_to_run(workflow, configs=("config/test.yaml", "eps.yaml"))
    assert {"score_checkpoint", "score_extra_attacks", "tables"} <= rules
    assert not rules & {"train_nominal", "train_adversarial", "preprocess", "convert_to_parquet"}


def test_every_figure_and_table_is_made(workflow):
    for name in ("auc.csv", "roc.parquet", "summary.md"):
        assert (workflow / "results/tables" / name).stat().st_size > 0
    figures = sorted(p.name for p in (workflow / "results/figures").iterdir())
    assert len(figures) == 16 and all(p.endswith((".png", ".pdf")) for p in figures)
    for mode in ("nominal", "adversarial"):  # every trained epoch scanned (config: epochs all)
        assert sorted(p.name for p in (workflow / f"results/scores/{mode}").glob("epoch_???.parquet")) == [
            "epoch_001.parquet", "epoch_002.parquet"]  # fmt: skip


def test_scoring_jobs_are_grouped_and_claim_the_gpu(workflow):
    out = snakemake(workflow, "--forcerun", "score_checkpoint", "--dry-run").stdout
    blocks = re.findall(r"^\s*rule score_checkpoint:\n(.*?)(?=\n\n|\Z)", out, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 4  # 2 models x 2 epochs
    assert all(re.search(r"resources: .*\bgpu=1\b", block) for block in blocks)
    smk = (ROOT / "workflow/rules/evaluate.smk").read_text()
    assert smk.count("group:\n        \"scores\"") == 2  # both scoring rules, one group for a cluster


def test_the_report_builds_with_every_figure_captioned(workflow):
    result = subprocess.run([sys.executable, "-m", "snakemake", "--report", "report.html", "--configfile",
                             "config/test.yaml"], cwd=workflow, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    html = (workflow / "report.html").read_text(errors="replace")
    for figure in ("fig5_input_shifts", "fig9_auc_drop", "fig10_first_track_d0", "training_history"):
        assert f"{figure}.png" in html
    assert "selected checkpoint" in html  # a caption's words made it in
