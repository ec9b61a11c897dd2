"""The workflow (entry point, configurations, rules, environments) copied into
a test's own directory, so that its results/ and .snakemake/ stay there; and
configurations merged as Snakemake merges them."""

from __future__ import annotations

import copy
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


def merge(base: dict, extra: dict) -> dict:
    """``extra`` merged into a copy of ``base`` as Snakemake merges a --configfile into config/config.yaml."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
