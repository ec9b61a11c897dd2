"""The SLURM test's run (tests/test_slurm.py): the test configuration's DAG (TARGETS: rule all's but for
9 figures) through a copy of profiles/slurm on the one-node SLURM of tests/slurm_cluster.py, started with
the session (tests/conftest.py) and collected by the SLURM tests, which run last.

SLURM runs one job at a time there, each of a group's jobs on one core, and the run waits for SLURM
much of its 7 minutes: the rest of the suite runs meanwhile.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import snakemake_process
import yaml
from dag_runs import TEST_CONFIG
from slurm_cluster import PARTITION, SlurmCluster, SlurmUnavailable, missing
from workflow_copy import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles/slurm/config.yaml"
#: The figures the SLURM run draws: each group's (fig5 and fig10 in "samples", training_history alone, the
#: rest in "summary", of which two: every figure job is the same rule, and each costs SLURM a Snakemake start)
FIGURES = ("fig5_input_shifts", "fig10_first_track_d0", "training_history", "fig4_cross_attacks", "premise")
#: rule all of the test configuration without the other figures
TARGETS = ("results/tables/summary.md", *(f"results/figures/{name}.png" for name in FIGURES))
HARD_TIMEOUT = 1800  # s, the whole SLURM run: about 7 min alone on 2 cores, longer beside the rest of the suite
CORES = 2  # per SLURM job, as the local reference run's --cores: the same threads, the same numbers
# The node declares the CPUs of one job: SLURM runs the jobs one at a time, in the order submitted,
# so the reference seed's trainings always end before the last one and its samples' group runs first
# (before the profile gave the samples their own group, Snakemake then packed them a second time
# into the scoring job; with two jobs at once the order varied, and so did the count).
NODE_CPUS = CORES
RULE_HEAD = re.compile(r"^(?:(?:rule|checkpoint) (\w+)|use rule (\w+) as (\w+) with):", re.M)


def gpu_rules() -> tuple[str, ...]:
    """The workflow's rules that declare resources gpu=1 (a `use rule ... as` inherits its base's)."""
    declared: dict[str, bool] = {}
    for file in sorted((ROOT / "workflow").rglob("*.smk")):
        text = file.read_text()
        heads = list(RULE_HEAD.finditer(text))
        for head, following in zip(heads, [*heads[1:], None]):
            body = text[head.end() : following.start() if following else len(text)]
            name, base = head.group(1) or head.group(3), head.group(2)
            gpu = re.search(r"^\s+gpu=(\d+)", body, re.M)
            declared[name] = int(gpu.group(1)) > 0 if gpu else declared.get(base, False)
    return tuple(sorted(rule for rule, gpu in declared.items() if gpu))


GPU_RULES = gpu_rules()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def site_profile(gpus: bool = False) -> dict:
    """profiles/slurm/config.yaml, edited for this one-node, accounting-free SLURM, with
    gpu: 0 for the GPU rules unless `gpus` (this SLURM has none)."""
    profile = yaml.safe_load(PROFILE.read_text())
    assert all(profile["set-resources"][rule]["gpu"] == 1 for rule in GPU_RULES)
    if not gpus:
        for rule in GPU_RULES:
            profile["set-resources"][rule]["gpu"] = 0  # no --gpus
    profile["default-resources"]["slurm_partition"] = PARTITION
    profile.update(
        {
            "cores": CORES,  # cores per SLURM job: caps the rules' threads and the group jobs' widths
            "slurm-status-command": "squeue",  # sacct without accounting: the run would wait forever
            "slurm-init-seconds-before-status-checks": 2,
            "slurm-keep-successful-logs": True,
            "latency-wait": 5,
            "retries": 0,
        }
    )
    return profile


def write_profile(folder: Path, profile: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


@dataclass
class SlurmRun:
    """The cluster and the run on it, or why there is none (``unavailable``: the SLURM tests skip or fail)."""

    cluster: SlurmCluster | None = None
    workdir: Path | None = None
    snakemake: snakemake_process.Running | None = None
    deadline: float = 0.0
    unavailable: str = ""
    lacking: list[str] = field(default_factory=list)

    def finish(self) -> str:
        """Snakemake's output once the run has succeeded (a failure or a run past HARD_TIMEOUT fails)."""
        return self.snakemake.finish(max(1.0, self.deadline - time.monotonic()), self.cluster.logs)

    def stop(self) -> None:
        if self.snakemake is not None:
            self.snakemake.kill()
        if self.cluster is not None:
            self.cluster.stop()


def start(base: Path) -> SlurmRun:
    """Start the one-node SLURM and, on it, TARGETS of the test configuration through the site's profile
    in a copy of the workflow under ``base``; return at once."""
    lacking = missing()
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        lacking.append("snakemake-executor-plugin-slurm (pip install -e '.[slurm]')")
    if lacking:
        return SlurmRun(lacking=lacking)
    cluster = SlurmCluster(cpus=NODE_CPUS)
    try:
        cluster.start()
    except SlurmUnavailable as err:
        return SlurmRun(unavailable=str(err))
    run = SlurmRun(cluster=cluster, workdir=copy_workflow(base / "slurm"), deadline=time.monotonic() + HARD_TIMEOUT)
    try:
        profile = write_profile(base / "profile", site_profile())
        run.snakemake = snakemake_process.start(
            run.workdir, *TARGETS, "--workflow-profile", str(profile), "--configfile", TEST_CONFIG, env=cluster.env
        )
    except BaseException:
        run.stop()
        raise
    return run
