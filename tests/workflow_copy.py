"""The workflow (entry point, configurations, rules, environments) copied into
a test's own directory, so that its results/ and .snakemake/ stay there."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_ITEMS = ("workflow", "config", ".test")


def copy_workflow(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    for item in WORKFLOW_ITEMS:
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, workdir / item)
    return workdir
