"""The config schema stops a wrong configuration before any job runs."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def merged(override: dict) -> dict:
    """config.yaml with ``override`` merged in, as Snakemake's --configfile does."""

    def merge(base, extra):
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    return merge(copy.deepcopy(load("config.yaml")), copy.deepcopy(override))


@pytest.mark.parametrize("name", ["config.yaml", "config/test.yaml", "config/paper.yaml"])
def test_shipped_configs_are_valid(name):
    validate(merged(load(name)), str(SCHEMA))


def test_defaults_are_filled_in():
    config = {"dataset": {"source": "synthetic"}, "preprocess": {}}
    validate(config, str(SCHEMA))
    assert config["dataset"]["synthetic"]["n_jets"] == 300000
    assert config["preprocess"]["split"] == [0.72, 0.08, 0.20]
    assert config["dataset"]["uci"]["url"].startswith("http://mlphysics.ics.uci.edu/")


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"preprocesss": {"seed": 1}}, "preprocesss"),
        ({"dataset": {"synthetic": {"n_jet": 10}}}, "n_jet"),
        ({"dataset": {"synthetic": {"n_jets": "many"}}}, "many"),
        ({"dataset": {"source": "hdf5"}}, "hdf5"),
        ({"dataset": {"uci": {"sha256": "abc123"}}}, "abc123"),
        ({"dataset": {"source": "root"}}, "files"),
        ({"dataset": {"synthetic": {"difficulty": {"lifetime_scal": 2}}}}, "lifetime_scal"),
        ({"preprocess": {"split": [0.8, 0.2]}}, "0.8"),
        ({"preprocess": {"track_order": "pt"}}, "pt"),
    ],
)
def test_bad_configs_are_rejected_naming_the_culprit(override, named):
    with pytest.raises(WorkflowError) as error:
        validate(merged(override), str(SCHEMA))
    assert named in str(error.value)


def test_snakemake_stops_before_any_job(tmp_path):
    for item in ("Snakefile", "config.yaml", "config", "workflow", "envs"):
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / item)
    (tmp_path / "bad.yaml").write_text("dataset:\n  synthetic:\n    n_jet: 10\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "bad.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "n_jet" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()
