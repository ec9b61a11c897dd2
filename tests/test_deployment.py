"""The workflow deployed as the Snakemake catalog deploys it (what `snakedeploy deploy-workflow` writes, here
with a local path as there is no network): an empty folder with a Snakefile whose `module` points at this
repository's workflow/Snakefile and uses every rule, and a copy of config/. Snakemake's linter finds
nothing, and the whole DAG builds there."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import snakemake_process

ROOT = Path(__file__).resolve().parents[1]


def _deploy(folder: Path) -> Path:
    (folder / "workflow").mkdir(parents=True)
    shutil.copytree(ROOT / "config", folder / "config")
    module = os.path.relpath(ROOT / "workflow" / "Snakefile", folder / "workflow")  # no absolute path: lint
    (folder / "workflow" / "Snakefile").write_text(
        "from snakemake.utils import min_version\n\n"
        'min_version("9.0")\n\n\n'
        'configfile: "config/config.yaml"\n\n\n'
        "module robusttag:\n"
        "    snakefile:\n"
        f'        "{module}"\n'
        "    config:\n"
        "        config\n\n\n"
        "use rule * from robusttag\n"
    )
    return folder


def _snakemake(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return snakemake_process.run(folder, *args, timeout=600)


def test_the_deployed_workflow_lints_clean_and_builds_its_dag(tmp_path):
    folder = _deploy(tmp_path / "deployed")
    lint = _snakemake(folder, "--lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "your workflow is in a good condition" in lint.stdout + lint.stderr
    dry = _snakemake(folder, "--dry-run", "--cores", "1")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    jobs = dry.stdout + dry.stderr
    # the jobs before the trainings (checkpoints: the rest of the DAG follows from their histories)
    for rule in ("generate_synthetic", "convert_to_parquet", "preprocess", "train", "generate_shifted_sample"):
        assert f"rule {rule}:" in jobs or f"checkpoint {rule}:" in jobs, rule
    assert not (folder / "results").exists()  # a dry run builds nothing


def test_the_repository_workflow_lints_clean(tmp_path):
    folder = tmp_path / "repo"
    for item in ("workflow", "config", ".test"):
        shutil.copytree(ROOT / item, folder / item)
    lint = _snakemake(folder, "--lint")
    assert lint.returncode == 0 and "good condition" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
