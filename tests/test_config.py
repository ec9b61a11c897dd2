"""The config schema (src/robusttag/config/schema.yaml) stops a wrong
configuration before any job runs, and says what is wrong.

Two levels: Snakemake itself on a copy of the workflow (``--dry-run
--configfile BAD.yaml``: non-zero exit, the culprit named, no ``results/``),
and ``snakemake.utils.validate`` directly for the finer cases.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import snakemake_process
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from workflow_copy import copy_workflow, merge

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "src" / "robusttag" / "config" / "schema.yaml")
SHIPPED = (
    "config/config.yaml",
    ".test/config/config.yaml",
    "config/paper.yaml",
    "config/architectures.yaml",
    "config/pythia.yaml",
)


def dry_run(workdir: Path, configfile: str) -> subprocess.CompletedProcess:
    # --configfile takes several values: keep it last so that it swallows nothing else
    return snakemake_process.run(workdir, "--dry-run", "--cores", "1", "--configfile", configfile)


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A fresh copy of the workflow (a module global named `workflow` would confuse snakemake.utils.validate)."""
    return copy_workflow(tmp_path)


# ---------------------------------------------------------------------------
# Through Snakemake: rejected before any job runs
# ---------------------------------------------------------------------------

BAD_CONFIGS = {
    "misspelt top-level key": ("preprocesss:\n  seed: 1\n", ["preprocesss"]),
    "misspelt nested key": ("dataset:\n  synthetic:\n    n_jet: 1000\n", ["n_jet"]),
    "wrong type": ("dataset:\n  synthetic:\n    n_jets: many\n", ["n_jets", "'many'", "integer"]),
    "unknown source": ("dataset:\n  source: hdf5\n", ["source", "'hdf5'"]),
    "sha256 too short": ("dataset:\n  uci:\n    sha256: abc123\n", ["sha256", "'abc123'"]),
    "sha256 not hex": (f"dataset:\n  uci:\n    sha256: {'g' * 64}\n", ["sha256", "g" * 64]),
    "sha256 too long": (f"dataset:\n  uci:\n    sha256: {'a' * 65}\n", ["sha256", "a" * 65]),
    "root source without files": ("dataset:\n  source: root\n", ["files"]),
    "root source with an empty file list": ("dataset:\n  source: root\n  root:\n    files: []\n", ["files"]),
    "invisible p-value out of range": ("evaluation:\n  invisible_p_value: 1.5\n", ["invisible_p_value", "1.5"]),
    "exact budget of zero": ("evaluation:\n  exact_domains: 0\n", ["exact_domains", "minimum"]),
    "no bisection": ("evaluation:\n  distance_bisections: 0\n", ["distance_bisections", "minimum"]),
}


@pytest.mark.parametrize("text, named", list(BAD_CONFIGS.values()), ids=list(BAD_CONFIGS))
def test_snakemake_rejects_a_bad_config_before_any_job(workdir, text, named):
    (workdir / "bad.yaml").write_text(text)
    result = dry_run(workdir, "bad.yaml")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Error validating config file" in output, output
    for word in named:
        assert word in output, (word, output)
    assert not (workdir / "results").exists()


@pytest.mark.parametrize("name", SHIPPED)
def test_snakemake_accepts_the_shipped_configs(workdir, name):
    result = dry_run(workdir, name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (workdir / "results").exists()  # a dry run builds nothing


# ---------------------------------------------------------------------------
# Directly against the schema
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_are_valid(name):
    validate(merge(load("config/config.yaml"), load(name)), SCHEMA)


def test_the_printed_defaults_are_a_config_file_that_changes_nothing(capsys):
    """`robusttag defaults` prints every key the schema gives a default: as a config file it passes the schema
    and the checks, and it is what the workflow's validation fills into the shipped config/config.yaml."""
    from robusttag import cli
    from robusttag.config import check_config

    assert cli.main(["defaults"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["training"]["seeds"] == [1, 2, 3] and printed["dataset"]["synthetic"]["n_jets"] == 200_000
    validate(printed, SCHEMA)
    check_config(printed)
    shipped = load("config/config.yaml")
    validate(shipped, SCHEMA)  # fills the defaults in
    assert printed == shipped


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"preprocesss": {"seed": 1}}, "preprocesss"),
        ({"dataset": {"synthetic": {"n_jet": 1000}}}, "n_jet"),
        ({"dataset": {"synthetic": {"n_jets": "many"}}}, "many"),
        ({"dataset": {"synthetic": {"n_jets": 10}}}, "n_jets"),  # below the minimum of 100
        ({"dataset": {"synthetic": {"seed": 1.5}}}, "seed"),
        ({"dataset": {"synthetic": {"difficulty": {"lifetime_scal": 1.0}}}}, "lifetime_scal"),
        ({"dataset": {"source": "hdf5"}}, "hdf5"),
        ({"dataset": {"source": None}}, "source"),
        ({"dataset": {"uci": {"sha256": "abc123"}}}, "abc123"),
        ({"dataset": {"uci": {"sha256": "0" * 63 + "z"}}}, "sha256"),
        ({"dataset": {"uci": {"url": "ftp://example.org/dataset.json.gz"}}}, "ftp://"),
        ({"dataset": {"source": "root", "root": {"files": []}}}, "files"),
        ({"dataset": {"root": {"files": "jets.root"}}}, "jets.root"),
        ({"preprocess": {"track_order": "pt"}}, "pt"),
        ({"preprocess": {"split": [0.8, 0.2]}}, "split"),
        ({"preprocess": {"n_tracks": 0}}, "n_tracks"),
        ({"training": {"device": "gpu"}}, "gpu"),
    ],
)
def test_schema_rejects_naming_the_culprit(override, named):
    with pytest.raises(WorkflowError) as error:
        validate(merge(load("config/config.yaml"), override), SCHEMA)
    assert named in str(error.value)


def test_root_source_without_a_root_section_is_rejected():
    with pytest.raises(WorkflowError, match="files"):
        validate({"dataset": {"source": "root"}}, SCHEMA)


@pytest.mark.parametrize("sha256", [None, "0123456789abcdef" * 4, "0123456789ABCDEF" * 4])
def test_schema_accepts_a_pinned_or_unpinned_checksum(sha256):
    validate(merge(load("config/config.yaml"), {"dataset": {"source": "uci", "uci": {"sha256": sha256}}}), SCHEMA)


def test_schema_accepts_root_files():
    validate(
        merge(load("config/config.yaml"), {"dataset": {"source": "root", "root": {"files": ["a.root", "b.root"]}}}),
        SCHEMA,
    )


def test_schema_fills_in_the_defaults():
    config = {"dataset": {"source": "synthetic"}}
    validate(config, SCHEMA)
    assert config["dataset"]["synthetic"]["n_jets"] == 200000
    assert config["dataset"]["root"] == {"files": [], "tree": "jets"}
    assert config["preprocess"] == {
        "n_tracks": 6,
        "max_tracks": 25,
        "track_order": "signed_d0_significance",
        "split": [0.72, 0.08, 0.20],
        "seed": 42,
    }
