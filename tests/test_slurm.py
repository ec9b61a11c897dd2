""".test/config/config.yaml through profiles/slurm on a real one-node SLURM
(tests/slurm_cluster.py): every job goes through sbatch, the groups of the
profile make few SLURM jobs, and the results equal a local run's (the session's
`workflow` of tests/conftest.py: rule all of the same configuration, run locally once
for every test that needs it). The run starts with the session and these tests run
last (tests/conftest.py, tests/slurm_run.py): the rest of the suite runs beside it.

The profile is used as a user of this cluster would edit a copy of it: its
partition; no account (without accounting the plugin cannot check one; it tries
to guess one, warns, and submits without); squeue for the job states (sacct
needs accounting); cores: 2, as the local run; and gpu: 0 for the GPU rules, since
this SLURM has no GPUs. Everything else (per-rule runtime and mem_mb, groups,
the gpu scope) is the profile's. The last test checks that the profile as it
is asks for one GPU per GPU job.

Skipped only when SLURM is not installed and CI is unset; under CI it must run.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import snakemake_process
import yaml
from slurm_run import FIGURES, GPU_RULES, PROFILE, in_ci, site_profile, write_profile

SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


@pytest.fixture(scope="module")
def cluster(slurm_run):
    """The one-node SLURM the session started (tests/conftest.py, tests/slurm_run.py)."""
    if slurm_run.lacking:
        if not in_ci():
            pytest.skip(
                f"SLURM is not installed ({', '.join(slurm_run.lacking)} missing; apt-get install slurm-wlm); "
                "under CI=true this test fails instead"
            )
        pytest.fail(f"CI is set but SLURM is not installed: {', '.join(slurm_run.lacking)} missing (see .ci/run)")
    if slurm_run.unavailable:
        pytest.fail(f"could not start a test SLURM: {slurm_run.unavailable}")
    return slurm_run.cluster


@pytest.fixture(scope="module")
def runs(cluster, slurm_run, workflow) -> tuple[Path, str, Path]:
    """slurm_run.TARGETS of .test/config/config.yaml through the profile (its workdir and output), started with the
    session, and the local reference run: the session's `workflow`."""
    return slurm_run.workdir, slurm_run.finish(), workflow


def test_every_job_went_through_slurm_in_few_grouped_jobs(cluster, runs):
    workdir, log, _ = runs
    finished = set(re.findall(r"^Finished jobid: (\d+) \(Rule: (\w+)\)", log, flags=re.MULTILINE))
    # 3 data, 2 x 2 trainings (2 seeds), reference seed: 2 x 2 checkpoints + 2 extra attacks + 2 validation
    # scorings + 2 x 2 strong suites, other seed: 2 x (checkpoint + validation + strong suite); 2 x 2 jet
    # distances; samples, tables, the figures of slurm_run.FIGURES; the shifted samples (twin and one):
    # 2 x generation, conversion and preprocessing, 2 x 2 scorings, their tables
    assert len(finished) == 31 + 11 + len(FIGURES), sorted(finished)
    assert not re.findall(r"^\s*localrule (\w+):", log, flags=re.MULTILINE)  # every job through SLURM
    submitted = SUBMITTED.findall(log)
    slurm_ids = [slurm_id for _, slurm_id, _ in submitted]
    # one SLURM job each: the data chain, each training, the scores (known once every training is:
    # the tables ask for every training's checkpoints), the samples with their two figures (once the
    # reference seed's trainings are), the tables with the figures drawn from them, training_history,
    # and one per training for the shifted samples' scores; whatever order the trainings end in
    assert len(slurm_ids) == 9 + 4, submitted
    assert len(set(job for job, _, _ in submitted)) == 9 + 4  # no group job submitted twice
    states = {job["jobid"]: job for job in cluster.jobs()}
    assert all(states[i]["state"] == "COMPLETED" and states[i]["exit_code"] == "0:0" for i in slurm_ids), states
    logdir = workdir / ".snakemake/slurm_logs"
    assert sorted(p.stem for p in logdir.rglob("*.log")) == sorted(slurm_ids)  # kept: slurm-keep-successful-logs
    kinds = {Path(path).relative_to(logdir).parts[0].split("_")[1] for _, _, path in submitted}
    # group_data_..., rule_train, rule_score_shifted_samples, ...
    assert kinds == {"data", "train", "scores", "samples", "summary", "training", "score"}
    # each job in one group job, once (the group jobs printed up to a submission)
    for groups in re.findall(r"^\[[^]\n]*\] Group job (.*?)^Job \S+ has been submitted", log, re.MULTILINE | re.DOTALL):
        jobs = re.findall(r"^\s+jobid: (\d+)$", groups, flags=re.MULTILINE)
        assert len(jobs) == len(set(jobs)), groups


def test_results_equal_a_local_run(runs):
    workdir, _, local_run = runs
    for where in ("nominal/seed_1", "adversarial/seed_2"):  # the losses, epoch by epoch (not the timings)
        history = [pd.read_csv(run / f"results/models/{where}/history.csv") for run in (workdir, local_run)]
        columns = ["epoch", "train_loss", "val_loss", "val_auc_bvsl", "val_auc_cvsl", "selection_score", "lr"]
        pd.testing.assert_frame_equal(history[0][columns], history[1][columns], check_exact=True)
    auc = [pd.read_csv(run / "results/tables/auc.csv") for run in (workdir, local_run)]
    pd.testing.assert_frame_equal(auc[0], auc[1], check_exact=True)
    assert sorted(path.stem for path in (workdir / "results/figures").glob("*.png")) == sorted(FIGURES)


def test_the_profile_asks_for_one_gpu_per_gpu_job(cluster, runs, tmp_path):
    """The profile as it is (gpu: 1) on this GPU-less SLURM: the scoring group is submitted with
    --gpus=1, which sbatch refuses here; its jobs are scored one after another on that one GPU
    (gpu=1, scoped local), so the group's runtime is the sum of theirs."""
    workdir, _, _ = runs
    shutil.copytree(workdir, tmp_path / "workflow", ignore=shutil.ignore_patterns("slurm_logs"))
    profile = site_profile(gpus=True)
    scoring = ("score_checkpoint", "score_extra_attacks")
    run = snakemake_process.start(
        tmp_path / "workflow",
        "--workflow-profile",
        str(write_profile(tmp_path / "profile", profile)),
        "--configfile",
        ".test/config/config.yaml",
        "--forcerun",
        *scoring,
        "--until",
        *scoring,
        "--verbose",
        env=cluster.env,
    )
    try:
        result = run.wait(timeout=120)
    finally:
        run.kill()
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    sbatch = re.search(r"sbatch call: (sbatch .*slurm_logs/group_scores.*)", log)
    assert sbatch, log[-3000:]
    targets = re.search(r"--target-jobs (.*?) --allowed-rules", sbatch.group(1)).group(1)
    counts = [len(re.findall(rf"'{rule}:", targets)) for rule in scoring]
    # seed 1 (the reference) scans both epochs of both modes, seed 2 the selected one of each
    assert counts == [2 * 2 + 2, 2], targets
    runtime = sum(n * profile["set-resources"][rule]["runtime"] for rule, n in zip(scoring, counts))
    assert re.search(rf" -t {runtime} .* --cpus-per-task=1 .* --gpus=1 ", sbatch.group(1)), sbatch.group(1)


def test_the_profile_sizes_every_gpu_rule():
    """Every rule that declares gpu=1 has the profile's GPU, runtime and memory: a rule missing there asks a
    CPU-only site for a GPU it cannot drop (and, in a group, fails the whole group job at submission)."""
    resources = yaml.safe_load(PROFILE.read_text())["set-resources"]
    assert {"train", "score_checkpoint", "jet_distances", "import_external"} <= set(GPU_RULES)
    lacking = [rule for rule in GPU_RULES if not {"gpu", "runtime", "mem_mb"} <= set(resources.get(rule, {}))]
    assert not lacking, f"profiles/slurm/config.yaml: set-resources lacks gpu, runtime or mem_mb for {lacking}"
    assert all(resources[rule]["gpu"] == 1 for rule in GPU_RULES)
