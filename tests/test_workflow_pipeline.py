"""The whole DAG from rule all on .test/config/config.yaml: both trainings, gpu=1,
what retrains them, the scores, tables, figures and the report.

The data chain itself is tested in test_workflow.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import snakemake_process
import torch
import yaml
from dag_runs import FOUR_TARGETS, GPUS

from robusttag import config as rt
from robusttag import paths
from robusttag.config import DEFAULT_MODES
from robusttag.history import selected_epoch

ROOT = Path(__file__).resolve().parents[1]


def snakemake(
    workdir: Path, *args: str, check: bool = True, configs=(".test/config/config.yaml",), timeout: int = 300
) -> subprocess.CompletedProcess:
    result = snakemake_process.run(workdir, *args, "--cores", "2", "--configfile", *configs, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


# `workflow` (tests/conftest.py, once per session): a copy of the workflow in which rule all has run


def rules_to_run(workdir: Path, *args: str, **kwargs) -> set[str]:
    """Rules a dry run would execute (from its job table)."""
    out = snakemake(workdir, *args, "--dry-run", **kwargs).stdout
    return set(re.findall(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):", out, flags=re.MULTILINE))


def test_both_modes_trained_once_per_seed(workflow):
    for mode in ("nominal", "adversarial"):
        for seed in (1, 2):  # .test/config/config.yaml: training.seeds
            lines = (workflow / f"results/models/{mode}/seed_{seed}/history.csv").read_text().splitlines()
            assert len(lines) == 3  # header and the 2 epochs of .test/config/config.yaml
            assert (workflow / f"results/models/{mode}/seed_{seed}/epoch_002.pt").exists()
            assert "epoch 2: train loss" in (workflow / f"results/logs/train_{mode}_seed_{seed}.log").read_text()
    first, second = (pd.read_csv(workflow / f"results/models/nominal/seed_{s}/history.csv") for s in (1, 2))
    assert (first["val_loss"] != second["val_loss"]).all()  # another seed, another training


def test_nothing_to_do_the_second_time(workflow):
    assert rules_to_run(workflow) == set()


def test_the_training_rule_claims_one_gpu_for_every_mode(workflow):
    out = snakemake(workflow, "--forcerun", "train", "--dry-run").stdout
    blocks = re.findall(r"^checkpoint train:\n(.*?)(?=\n\n|\Z)", out, flags=re.MULTILINE | re.DOTALL)
    trained = sorted(re.search(r"wildcards: root=results, model=(\w+), seed=(\d+)", block).groups() for block in blocks)
    assert trained == sorted((mode, seed) for mode in DEFAULT_MODES for seed in ("1", "2"))
    for block in blocks:
        assert re.search(r"resources: .*\bgpu=1\b", block), block


def job_counts(workdir: Path, override: str) -> dict[str, int]:
    """{rule: jobs} of a dry run with ``override`` (YAML) on top of .test/config/config.yaml, rule all left out."""
    (workdir / "override.yaml").write_text(override)
    out = snakemake(workdir, "--dry-run", configs=(".test/config/config.yaml", "override.yaml")).stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE))
    return {rule: int(n) for rule, n in counts.items() if rule != "all"}


def test_changing_a_training_parameter_retrains_every_mode_and_seed_and_nothing_before(workflow):
    counts = job_counts(workflow, "training:\n  lr: 0.002\n")
    assert counts["train"] == 4 and counts["tables"] == 1  # scores join once the epochs are known
    assert not counts.keys() & {"generate_synthetic", "convert_to_parquet", "preprocess"}


def test_an_adversarial_training_key_retrains_only_the_adversarial_mode(workflow):
    counts = job_counts(workflow, "training:\n  adversarial:\n    epsilon: 0.02\n")
    assert counts["train"] == 2
    out = snakemake(workflow, "--dry-run", configs=(".test/config/config.yaml", "override.yaml")).stdout
    assert set(re.findall(r"wildcards: root=results, model=(\w+), seed=\d+", out)) == {"adversarial"}


def test_another_seed_trains_only_that_seed(workflow):
    counts = job_counts(workflow, "training:\n  seeds: [1, 2, 3]\n")
    assert counts["train"] == 2 and counts["tables"] == 1
    out = snakemake(workflow, "--dry-run", configs=(".test/config/config.yaml", "override.yaml")).stdout
    assert set(re.findall(r"wildcards: root=results, model=\w+, seed=(\d+)", out)) == {"3"}


# The jobs downstream of each artifact, in the test config (2 models x 2 epochs x 2 seeds): the reference
# seed at both epochs, the other at its selected epoch (FGSM, the strong suite at the summary's eps).
SCAN = {"score_checkpoint": 4 + 2}
EXTRA = {"score_extra_attacks": 2}
VALIDATION = {"score_validation": 2 + 2}
DISTANCES = {"jet_distances": 2 + 2}  # every training's selected checkpoint
# .test/config/config.yaml: the strong suite at both epochs (the selected one at every eps, the other at the summary's)
SELECTED_STRONG, PER_CHECKPOINT = {"score_strong_attacks": 2}, {"score_strong_attacks_per_checkpoint": 2 + 2}
STRONG = SELECTED_STRONG | PER_CHECKPOINT
SAMPLES = {"adversarial_samples": 1, "fig5_input_shifts": 1, "fig10_first_track_d0": 1}
TABLES = {
    "tables": 1,
    "corrections": 1,
    **{
        f: 1
        for f in (
            "fig4_cross_attacks",
            "fig6_roc_vs_epsilon",
            "fig7_roc_per_checkpoint",
            "fig8_nominal_vs_adversarial",
            "fig9_auc_drop",
            "attack_suite_vs_epsilon",
            "worst_case_per_checkpoint",
            "auc_lost_vs_visibility",
            "distance_to_working_point",
            "scale_factors_per_bin",
            "premise",
        )
    },
}
# .test/config/config.yaml: the twin and one shifted sample, scored by 2 models x 2 seeds
SHIFTED_DATA = {f"{rule}_shifted_sample": 2 for rule in ("generate", "convert", "preprocess")}
SHIFTED_SCORES = {"score_shifted_samples": 4}
SHIFTED_TABLES = {"shifted_tables": 1, "shifted_scale_factors": 1}
#: evaluation key -> (a changed value, the jobs whose output depends on it)
RERUNS = {
    "epsilons": ("[0.01, 0.03, 0.05]", SCAN | EXTRA | SELECTED_STRONG | TABLES),  # the summary's eps stays
    "restrict_impact": ("0.1", SCAN | EXTRA | STRONG | SAMPLES | DISTANCES | TABLES),
    "epsilon_scale": ("quantile", SCAN | EXTRA | STRONG | SAMPLES | DISTANCES | TABLES),
    "attacks": ("[{method: pgd, steps: 1}]", STRONG | TABLES),
    "certified_method": ("ibp", SELECTED_STRONG | TABLES),
    "certified_jets": ("50", SELECTED_STRONG | TABLES),
    "exact_domains": ("2000", SELECTED_STRONG | TABLES),
    "distance_jets": ("300", DISTANCES | TABLES),
    "invisible_p_value": ("0.1", SELECTED_STRONG | TABLES),
    "invisible_correlation": ("0.02", SELECTED_STRONG | TABLES),
    "distance_max_epsilon": ("0.1", DISTANCES | TABLES),
    "distance_bisections": ("4", DISTANCES | TABLES),
    "visibility_jets": ("50", SELECTED_STRONG | TABLES),
    "baselines": ("false", EXTRA | TABLES),
    "noise_seed": ("2", EXTRA | TABLES),
    "weighted": ("true", DISTANCES | TABLES | SHIFTED_TABLES),
    "bootstrap": ("20", TABLES | SHIFTED_TABLES),
    "bootstrap_seed": ("2", TABLES | SHIFTED_TABLES),
    "scale_factor_pt_bins": ("[20, 100, 900]", TABLES | SHIFTED_TABLES),
    "scale_factor_abs_eta_bins": ("[0, 2.5]", TABLES | SHIFTED_TABLES),
    "max_jets": ("300", SCAN | EXTRA | STRONG | SAMPLES | DISTANCES | TABLES),
    "summary_epsilon": ("0.02", STRONG | TABLES),  # the exact verification runs at it
    "batch_size": (
        "1024",
        SCAN | EXTRA | VALIDATION | STRONG | SAMPLES | DISTANCES | TABLES | SHIFTED_SCORES | SHIFTED_TABLES,
    ),
    "device": (
        "cpu",
        SCAN | EXTRA | VALIDATION | STRONG | SAMPLES | DISTANCES | TABLES | SHIFTED_SCORES | SHIFTED_TABLES,
    ),
    "figures.input_features": ("[trk1_d0]", SAMPLES),
    "figures.input_epsilons": ("[0.02]", SAMPLES),
    "figures.uncapped_epsilon": ("0.2", SAMPLES),
    "figures.checkpoints": ("3", {"fig7_roc_per_checkpoint": 1}),
    "shifted_samples.seed": ("5", SHIFTED_DATA | SHIFTED_SCORES | SHIFTED_TABLES | TABLES),
    "shifted_samples.n_jets": ("1000", SHIFTED_DATA | SHIFTED_SCORES | SHIFTED_TABLES | TABLES),
    # another factor: that sample is made again (not the twin), then its scores and tables
    "shifted_samples.samples": (
        "[{name: d0_resolution_up_20pct, scale: {resolution_scale: 1.3}}]",
        {f"{rule}_shifted_sample": 1 for rule in ("generate", "convert", "preprocess")}
        | SHIFTED_SCORES
        | SHIFTED_TABLES
        | TABLES,
    ),
}


def _nested(key: str, value: str) -> str:
    if "." not in key:
        return f"evaluation:\n  {key}: {value}\n"
    outer, inner = key.split(".")
    return f"evaluation:\n  {outer}:\n    {inner}: {value}\n"


def _schema_keys(section: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, spec in section["properties"].items():
        keys |= _schema_keys(spec, f"{prefix}{name}.") if "properties" in spec else {f"{prefix}{name}"}
    return keys


@pytest.mark.parametrize("key", sorted(RERUNS))
def test_an_evaluation_key_reruns_exactly_the_jobs_that_depend_on_it(workflow, key):
    value, expected = RERUNS[key]
    assert job_counts(workflow, _nested(key, value)) == expected


def test_every_evaluation_key_has_its_rerun_test():
    schema = yaml.safe_load((ROOT / "src/robusttag/config/schema.yaml").read_text())
    # external_models adds studies of their own: test_an_exported_model_is_audited_through_the_dag_... checks
    # that only their jobs run
    others = {"epochs", "strong_attacks.epochs", "external_models"}
    assert _schema_keys(schema["properties"]["evaluation"]) == set(RERUNS) | others


def test_scanning_fewer_checkpoints_rescores_only_the_shifted_samples(workflow):
    counts = job_counts(workflow, "evaluation:\n  epochs: [1]\n")  # scanned: epoch 1 and the selected one
    # no FGSM score file changes (the tables lose those of epoch 2 where it is not selected); the reference
    # seed's shifted-sample jobs read the setting themselves (their epochs come from the history)
    assert counts == {"score_shifted_samples": 2} | SHIFTED_TABLES | TABLES


def test_fewer_strong_attack_checkpoints_score_nothing_again(workflow):
    counts = job_counts(workflow, "evaluation:\n  strong_attacks:\n    epochs: [1]\n")
    assert counts.keys() <= TABLES.keys()  # at most the tables and their figures; no attack runs again


def test_every_figure_and_table_is_made(workflow):
    for name in (
        "auc.csv",
        "roc.parquet",
        "summary.md",
        "worst_case.csv",
        "attack_checks.csv",
        "certified.csv",
        "visibility.csv",
        "working_points.csv",
        "scale_factors.csv",
        "seeds.csv",
        *(f"shifted_{name}.csv" for name in ("auc", "working_points", "scale_factors", "distances", "visibility")),
        "premise.csv",
        "premise_points.csv",
    ):
        assert (workflow / "results/tables" / name).stat().st_size > 0
    figures = sorted(p.name for p in (workflow / "results/figures").iterdir())
    drawn = rt.study_figures(audit=False, shifted=True)  # no defence against mismodelling: no defences figure
    assert len(figures) == 2 * len(drawn) and all(p.endswith((".png", ".pdf")) for p in figures)
    for mode in ("nominal", "adversarial"):  # every trained epoch scanned (config: epochs all)
        assert sorted(p.name for p in (workflow / f"results/scores/{mode}/seed_1").glob("epoch_???.parquet")) == [
            "epoch_001.parquet",
            "epoch_002.parquet",
        ]
        best = selected_epoch(workflow / f"results/models/{mode}/seed_2/history.csv")  # the other seed: selected only
        scored = sorted(p.name for p in (workflow / f"results/scores/{mode}/seed_2").glob("epoch_*.parquet"))
        assert scored == [
            f"epoch_{best:03d}{kind}.parquet"
            for kind in ("", "_distances", "_strong_attacks_per_checkpoint", "_validation")
        ]
        assert (workflow / f"results/scores/{mode}/seed_2/shifted_samples.parquet").exists()
    auc = pd.read_csv(workflow / "results/tables/auc.csv")
    raw = auc[(auc["attack"] == "raw") & (auc["model"] == "nominal")]
    assert raw.groupby("seed")["epoch"].nunique().to_dict() == {1: 2, 2: 1}  # the seed column: every row's training


def test_scoring_jobs_are_grouped_and_claim_the_gpu(workflow):
    out = snakemake(workflow, "--forcerun", "score_checkpoint", "--dry-run").stdout
    blocks = re.findall(r"^\s*rule score_checkpoint:\n(.*?)(?=\n\n|\Z)", out, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 6  # 2 models x 2 epochs of the reference seed, 2 models x 1 of the other
    assert all(re.search(r"resources: .*\bgpu=1\b", block) for block in blocks)
    smk = (ROOT / "workflow/rules/evaluate.smk").read_text()
    # the FGSM scan (with its extra-attacks variant), the validation scores, the distances to the working
    # points and the strong suite: one group
    assert smk.count('group:\n        "scores"') == 4
    strong = snakemake(workflow, "--forcerun", "score_strong_attacks", "--dry-run").stdout
    blocks = re.findall(r"^\s*rule score_strong_attacks:\n(.*?)(?=\n\n|\Z)", strong, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 2 and all(re.search(r"resources: .*\bgpu=1\b", block) for block in blocks)


def test_the_report_builds_with_every_figure_captioned(workflow):
    result = snakemake_process.run(workflow, "--report", "report.html", "--configfile", ".test/config/config.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(ERROR/" not in result.stdout + result.stderr  # docutils reads every caption without an error
    html = (workflow / "report.html").read_text(errors="replace")
    for figure in ("fig5_input_shifts", "fig9_auc_drop", "fig10_first_track_d0", "training_history"):
        assert f"{figure}.png" in html
    for figure in ("attack_suite_vs_epsilon", "worst_case_per_checkpoint", "auc_lost_vs_visibility", "premise"):
        assert f"{figure}.png" in html
    assert "shifted_scale_factors.png" in html and "Robustness vs mismodelling" in html
    assert "mismodelled simulation (d0_resolution_up_20pct)" in html  # the samples named from the settings
    assert "CROWN bound" in html and "pgd, ngm, targeted" in html  # the suite's captions, from the settings
    assert "selected checkpoint" in html  # a caption's words made it in
    # numbers written from the settings, not fixed in the text
    assert "FGSM-distorted inputs (eps = 0.01)" in html and "the first 6" in html and "184 inputs" in html
    assert "limited to 25 % of the raw value" in html and "epsilon = 0.005, 0.01, 0.02, 0.05" in html
    assert "{{" not in html and "{%" not in html


def test_the_whole_dag_with_four_track_slots_and_the_other_training_modes(four_tracks):
    """Every input count and column lookup comes from preprocessing.json: 16 + 4 x 28 = 128 inputs.
    And the modes beyond the session's (nominal and adversarial) go through the same DAG: trained, attacked by
    the others, compared with nominal."""
    workdir = four_tracks
    summary = yaml.safe_load((workdir / "results/preprocessed/preprocessing.json").read_text())
    assert len(summary["feature_order"]) == 128 and summary["feature_order"][-1] == "trk3_vertex_energy_fraction"
    state = torch.load(workdir / "results/models/pgd/seed_1/epoch_001.pt", weights_only=True)
    assert state["model_settings"]["n_inputs"] == 128
    samples = pd.read_parquet(workdir / "results/samples/fgsm_inputs.parquet")
    raw = samples[(samples["attack"] == "raw") & (samples["model"] == "nominal")]
    test = pd.read_parquet(workdir / "results/preprocessed/test.parquet", columns=["trk3_d0"])
    column = summary["feature_order"].index("trk3_d0")
    mean, std = summary["features"][column]["mean"], summary["features"][column]["std"]
    np.testing.assert_allclose(raw["trk3_d0"].to_numpy(), test["trk3_d0"].to_numpy() * std + mean, rtol=1e-5, atol=1e-6)
    # the figures of every study and the comparison are rule all's: what the targets left are their jobs alone
    left = rules_to_run(workdir, configs=(".test/config/config.yaml", "four.yaml"))
    drawn = rt.study_figures(audit=False, shifted=True)
    figures = {f"{name}_{a}" for a in ("deepsets", "transformer") for name in drawn} | set(drawn)
    # neither the correction files nor the exports are among the targets: the session's run makes them
    assert left == (figures - {"fig4_cross_attacks"}) | {"all", "corrections", "export_model"}
    modes = ["nominal", "pgd", "ngm"]  # the display order, whatever the config's
    auc = pd.read_csv(workdir / "results/tables/auc.csv")
    assert rt.ordered_models(auc["model"].unique()) == modes
    fgsm = auc[(auc["attack"] == "fgsm") & auc["selected"]]
    assert len(fgsm.groupby(["model", "attack_source"])) == 9  # every model under every model's FGSM
    worst = pd.read_csv(workdir / "results/tables/worst_case.csv")
    assert set(worst[worst["selected"]]["model"]) == set(modes)
    summary = (workdir / "results/tables/summary.md").read_text()
    for mode in modes[1:]:
        assert f"Relative AUC drop under its own FGSM, {mode} over nominal:" in summary
        assert f"Relative AUC drop, {mode} over nominal, under FGSM and under the worst case:" in summary
    assert summary.index("pgd over nominal") < summary.index("ngm over nominal")


def test_every_architecture_is_its_own_study_through_the_same_dag(four_tracks):
    """deepsets and transformer read the track sequence (16 + 8 x 29 inputs, the padding mask in each
    track's block), are trained in the run's modes, attacked (bounded by IBP), tabulated and drawn in their
    own folders; the run's summary.md compares the three, the DNN first."""
    workdir = four_tracks
    sequence = yaml.safe_load((workdir / "results/preprocessed_sequence/preprocessing.json").read_text())
    assert sequence["layout"] == {
        "kind": "sequence",
        "n_inputs": 248,
        "n_jet_features": 16,
        "n_tracks": 8,
        "n_track_fields": 29,
    }
    assert sequence["settings"]["layout"] == "sequence" and "n_tracks" not in sequence["provenance"]["preprocess"]
    modes = ["nominal", "pgd", "ngm"]
    for architecture in ("deepsets", "transformer"):
        root = workdir / "results" / architecture
        state = torch.load(root / "models/pgd/seed_1/epoch_001.pt", weights_only=True)
        assert state["model_settings"]["architecture"] == architecture
        assert state["model_settings"]["layout"]["kind"] == "sequence"
        auc = pd.read_csv(root / "tables/auc.csv")
        assert rt.ordered_models(auc["model"].unique()) == modes
        certified = pd.read_csv(root / "tables/certified.csv")
        assert set(certified["method"]) == {"ibp"}
        assert (certified["certified_auc"] <= certified["worst_attack_auc"] + 1e-9).all()
        if architecture == "deepsets":  # piecewise linear: verified exactly, between its bound and its attacks
            assert certified["exact_method"].eq("branch_and_bound").all()
            assert (certified["exact_certified_auc"] >= certified["certified_auc"] - 1e-9).all()
            assert (certified["exact_certified_auc"] <= certified["exact_attack_auc"] + 1e-9).all()
            assert (certified["exact_certified_auc"] > certified["certified_auc"]).any()
        else:  # attention is not piecewise linear: its bound stands, and the table says why
            assert certified["exact_method"].eq("none: Transformer is not piecewise linear (its bound stands)").all()
            assert certified["exact_certified_auc"].isna().all()
        # the input samples of Figs. 5 and 10 are in raw units, whatever the layout
        samples = pd.read_parquet(root / "samples/fgsm_inputs.parquet")
        raw = samples[(samples["attack"] == "raw") & (samples["model"] == "nominal")]
        test = pd.read_parquet(workdir / "results/preprocessed_sequence/test.parquet", columns=["trk3_d0"])
        column = sequence["feature_order"].index("trk3_d0")
        mean, std = sequence["features"][column]["mean"], sequence["features"][column]["std"]
        np.testing.assert_allclose(raw["trk3_d0"], test["trk3_d0"] * std + mean, rtol=1e-5, atol=1e-5)
    dnn = pd.read_csv(workdir / "results/tables/certified.csv")
    assert dnn["method"].eq("crown").all() and dnn["exact_method"].eq("branch_and_bound").all()  # the DNN
    assert (dnn["exact_certified_auc"] >= dnn["certified_auc"] - 1e-9).all()
    assert (dnn["exact_certified_auc"] <= dnn["exact_attack_auc"] + 1e-9).all()
    table = pd.read_csv(workdir / "results/tables/architectures.csv")
    assert list(dict.fromkeys(table["architecture"])) == [
        "dnn",
        "deepsets",
        "transformer",
        "deepsets - dnn",
        "transformer - dnn",
    ]
    assert set(table.loc[table["architecture"] == "transformer", "model"]) >= set(modes)
    assert table["quantity"].str.startswith("shifted_").any()  # the shifted sample of .test/config/config.yaml
    summary = (workdir / "results/summary.md").read_text()
    for architecture in ("dnn", "deepsets", "transformer"):
        assert f"| {architecture} | pgd | " in summary
    assert "[deepsets](deepsets/tables/summary.md)" in summary and "[dnn](tables/summary.md)" in summary
    assert "## Against dnn" in summary and "## What each architecture costs to train" in summary
    assert (workdir / "results/figures/architectures.png").stat().st_size > 10_000
    assert rules_to_run(workdir, *FOUR_TARGETS, configs=(".test/config/config.yaml", "four.yaml")) == set()


def test_the_strong_suite_beats_fgsm_and_the_certified_bound_lies_below_it(workflow):
    worst = pd.read_csv(workflow / "results/tables/worst_case.csv")
    chosen = worst[worst["selected"] & np.isclose(worst["epsilon"], 0.05)]
    assert len(chosen) == 2 * 2 * 3  # both models, both seeds, every discriminator
    # the worst case over the suite lies below FGSM's, strictly, for every row: it is never FGSM itself (the
    # suite's attacks against FGSM from the score files: test_workflow_values.py)
    assert (chosen["worst_auc"] < chosen["fgsm_auc"]).all() and not chosen["worst_attack"].eq("fgsm").any()
    auc = pd.read_csv(workflow / "results/tables/auc.csv")
    white_box = auc["attack_source"] == auc["model"]
    at = auc[white_box & auc["selected"] & np.isclose(auc["epsilon"], 0.05) & (auc["model"] == "nominal")]
    at = at[at["seed"] == 1]
    cvsl = at[at["discriminator"] == "CvsL"].set_index("attack")["auc"]
    assert cvsl["targeted_CvsL"] < cvsl["fgsm"]  # (a): the discriminator's own attack is the stronger
    bounds = pd.read_csv(workflow / "results/tables/certified.csv")
    assert len(bounds) and bounds["bound_holds"].all()  # (d)
    checks = pd.read_csv(workflow / "results/tables/attack_checks.csv")
    suite = checks[checks["attack"] != "fgsm"]
    assert suite["identity_at_zero"].all() and (suite[["immovable_moved", "budget", "cap", "floor"]] == 0).all().all()


def test_the_shifted_samples_are_scored_by_every_model_and_measured_at_the_nominal_cuts(workflow):
    from robusttag.metrics import DISCRIMINATORS, auc, cut_at_mistag, discriminant, tagged_fraction

    scores = workflow / "results/scores/nominal/seed_1"
    shifted = pd.read_parquet(scores / "shifted_samples.parquet")
    samples = {rt.NOMINAL_TWIN, "d0_resolution_up_20pct"}
    assert set(shifted["attack"]) == samples and set(shifted["epoch"]) == {1, 2}  # the reference seed: every epoch
    best = selected_epoch(workflow / "results/models/nominal/seed_1/history.csv")
    validation = pd.read_parquet(scores / "shifted_samples_validation.parquet")
    nominal_cuts = pd.read_parquet(scores / f"epoch_{best:03d}_validation.parquet")
    at_best = validation[validation["epoch"] == best].reset_index(drop=True)
    np.testing.assert_array_equal(at_best[["p_b", "p_c", "p_light"]], nominal_cuts[["p_b", "p_c", "p_light"]])
    other = pd.read_parquet(workflow / "results/scores/nominal/seed_2/shifted_samples.parquet")
    assert set(other["epoch"]) == {selected_epoch(workflow / "results/models/nominal/seed_2/history.csv")}

    signal, background = DISCRIMINATORS["BvsL"]

    def bvsl(frame):
        frame = frame[frame["label"].isin([signal, background])]
        p = frame[["p_b", "p_c", "p_light"]].to_numpy()
        return discriminant(p[:, signal], p[:, background]), frame["label"].to_numpy() == signal

    jets = shifted[shifted["epoch"] == best]
    (shifted_scores, is_b), (twin_scores, twin_is_b) = (
        bvsl(jets[jets["attack"] == name]) for name in ("d0_resolution_up_20pct", rt.NOMINAL_TWIN)
    )
    np.testing.assert_array_equal(is_b, twin_is_b)  # the twin holds the same jets
    table = pd.read_csv(workflow / "results/tables/shifted_auc.csv")
    row = table[
        (table["model"] == "nominal")
        & (table["seed"] == 1)
        & (table["epoch"] == best)
        & (table["sample"] == "d0_resolution_up_20pct")
        & (table["discriminator"] == "BvsL")
    ].iloc[0]
    assert row["reference"] == rt.NOMINAL_TWIN and row["selected"]
    assert row["auc"] == pytest.approx(auc(shifted_scores, is_b), rel=1e-5)
    assert row["reference_auc"] == pytest.approx(auc(twin_scores, twin_is_b), rel=1e-5)
    assert 0 < row["auc_change_err"] < row["auc_err"]  # paired: the change is known better than either AUC
    cut = cut_at_mistag(*bvsl(nominal_cuts), 0.1)
    expected = tagged_fraction(shifted_scores[~is_b], cut) / tagged_fraction(twin_scores[~twin_is_b], cut)
    points = pd.read_csv(workflow / "results/tables/shifted_working_points.csv")
    point = points[
        (points["model"] == "nominal")
        & (points["seed"] == 1)
        & (points["epoch"] == best)
        & (points["sample"] == "d0_resolution_up_20pct")
        & (points["discriminator"] == "BvsL")
        & np.isclose(points["mistag_target"], 0.1)
    ].iloc[0]
    assert point["cut"] == pytest.approx(cut, rel=1e-5) and point["sf_mistag"] == pytest.approx(expected, rel=1e-5)
    assert np.isfinite(point["sf_mistag_err"])
    premise = pd.read_csv(workflow / "results/tables/premise.csv")
    fgsm = premise[(premise["vulnerability"] == "fgsm") & (premise["sensitivity"] == "auc_change")]
    assert set(fgsm["sample"]) == samples - {rt.NOMINAL_TWIN}
    assert (fgsm["points"] == 6).all()  # 2 modes x (2 epochs of seed 1 + the selected one of seed 2)
    summary = (workflow / "results/tables/summary.md").read_text()
    assert "## Robustness vs mismodelling" in summary and "## The premise" in summary and "Finding: of" in summary
    distances = pd.read_csv(workflow / "results/tables/shifted_distances.csv")
    d0 = distances[(distances["sample"] == "d0_resolution_up_20pct") & (distances["flavour"] == "all")]
    ks = d0.set_index("feature")["ks"]
    # a worse d0 resolution moves the d0 error, and the twin's jets keep their pT and eta exactly
    assert ks["trk0_d0d0"] > 0.1 and ks["jet_pt"] == ks["jet_eta"] == 0


def test_a_users_sample_from_files_is_preprocessed_with_the_nominal_statistics_and_calibrated(workflow, tmp_path):
    """A {name, files} sample (here the nominal source file itself, as a user's "data"): converted, preprocessed
    with the nominal statistics, scored, and compared with the nominal test split as independent jets."""
    import shutil

    workdir = tmp_path / "copy"
    shutil.copytree(workflow, workdir, symlinks=True)  # the outputs keep their times: only the new jobs run
    override = (
        "evaluation:\n  shifted_samples:\n    samples:\n"
        "      - {name: d0_resolution_up_20pct, scale: {resolution_scale: 1.2}}\n"
        "      - {name: same_as_nominal, files: [results/source/synthetic.json.gz]}\n"
    )
    (workdir / "override.yaml").write_text(override)
    # up to the summary: the figures drawn from the new tables are the same rules as the session's run
    snakemake(
        workdir,
        "results/tables/summary.md",
        "--resources",
        GPUS,
        configs=(".test/config/config.yaml", "override.yaml"),
    )
    scored = pd.read_parquet(workdir / "results/scores/nominal/seed_1/shifted_samples.parquet", columns=["attack"])
    assert set(scored["attack"]) == {rt.NOMINAL_TWIN, "d0_resolution_up_20pct", "same_as_nominal", rt.NOMINAL_TEST}
    jets = pd.read_parquet(workdir / "results/shifted/same_as_nominal/preprocessed.parquet")
    test = pd.read_parquet(workdir / "results/preprocessed/test.parquet")
    assert len(jets) == 5000  # every jet of the file (.test/config/config.yaml: n_jets), none split off
    # the nominal statistics, not refitted: the test split's jets reappear with the very same inputs
    assert jets.merge(test[["raw_jet_pt", "trk0_d0"]], on=["raw_jet_pt", "trk0_d0"]).shape[0] == len(test)
    table = pd.read_csv(workdir / "results/tables/shifted_working_points.csv")
    rows = table[(table["sample"] == "same_as_nominal") & table["selected"] & np.isclose(table["mistag_target"], 0.1)]
    assert set(rows["reference"]) == {rt.NOMINAL_TEST} and len(rows) == 2 * 2 * 3  # models x seeds x discriminators
    # the nominal simulation against itself: scale factors 1 within a few errors
    assert (np.abs(rows["sf_efficiency"] - 1) < 4 * rows["sf_efficiency_err"] + 0.02).all()
    assert "same_as_nominal" in (workdir / "results/tables/summary.md").read_text()


def test_an_exported_model_is_audited_through_the_dag_with_the_native_numbers(workflow, tmp_path):
    """robusttag's nominal DNN (seed 1, its selected checkpoint) as the run exported it to ONNX (the
    preprocessing inside), audited as a tagger trained elsewhere: every score the audit shares with the native
    study is the same to float precision. A second audit, of the DNN as TorchScript, reads its own jets (every
    jet of the source file) and its own statistics."""
    import shutil

    from robusttag.checkpoints import load_tagger
    from robusttag.external import export_torchscript

    workdir = tmp_path / "copy"
    shutil.copytree(workflow, workdir, symlinks=True)  # the outputs keep their times: only the audit runs
    best = selected_epoch(workdir / "results/models/nominal/seed_1/history.csv")
    native = load_tagger(workdir / f"results/models/nominal/seed_1/epoch_{best:03d}.pt", torch.device("cpu"))
    export_torchscript(native, workdir / "exported.pt")
    shutil.copy(workdir / paths.exported_model("onnx", "nominal", 1, "results"), workdir / "exported.onnx")
    override = (
        "evaluation:\n  external_models:\n"
        "    - {name: exported, file: exported.onnx, inputs: raw, outputs: probabilities}\n"
        "    - {name: own_jets, file: exported.pt, preprocessing: results/preprocessed/preprocessing.json,"
        " files: [results/source/synthetic.json.gz]}\n"
    )
    (workdir / "override.yaml").write_text(override)
    # the first audit's every table and figure, the second's tables (its figures are the same rules)
    targets = [f"results/external/exported/figures/{name}.png" for name in rt.AUDIT_FIGURES]
    targets += ["results/external/own_jets/tables/summary.md"]
    result = snakemake(workdir, *targets, "--resources", GPUS, configs=(".test/config/config.yaml", "override.yaml"))
    ran = re.findall(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):", result.stdout + result.stderr, flags=re.MULTILINE)
    # only the audits' jobs: no training, no preprocessing, no table or figure of the native study again
    assert ran.count("import_external") == ran.count("preprocess_audit") == ran.count("tables") == 2
    assert not {"train", "preprocess", "fig4_cross_attacks", "training_history"} & set(ran)
    audit = workdir / "results/external/exported"
    keys = ["attack", "attack_source", "epsilon", "discriminator"]

    def native_rows(table: pd.DataFrame) -> pd.DataFrame:
        """The native nominal model's rows at the exported checkpoint (of its own attacks: no transfers)."""
        chosen = table[(table["model"] == "nominal") & (table["seed"] == 1) & (table["epoch"] == best)]
        return chosen[chosen["attack_source"].isin(["nominal", "none"])] if "attack_source" in chosen else chosen

    ours = native_rows(pd.read_csv(workdir / "results/tables/auc.csv"))
    theirs = pd.read_csv(audit / "tables/auc.csv").replace({"exported": "nominal"})
    merged = ours.merge(theirs, on=keys, suffixes=("", "_audit"))
    assert len(merged) == len(ours) == len(theirs) and merged["attack"].nunique() >= 8  # FGSM, baselines, suite
    # probabilities within 1e-7 of the native ones reorder a few nearly tied jets: AUCs within 2e-5 measured
    for column in ("auc", "eff_at_mistag_0.01", "auc_err"):
        np.testing.assert_allclose(merged[f"{column}_audit"], merged[column], rtol=0, atol=5e-5, err_msg=column)
    # the ONNX graph with the preprocessing inside is no plain network: no certified bound
    assert pd.read_csv(audit / "tables/certified.csv").empty
    order, columns = (
        ["sample", "discriminator", "mistag_target"],
        ["cut", "sf_efficiency", "sf_mistag", "sf_mistag_err"],
    )
    shifted = pd.read_csv(audit / "tables/shifted_working_points.csv").sort_values(order)
    native_shifted = native_rows(pd.read_csv(workdir / "results/tables/shifted_working_points.csv")).sort_values(order)
    assert len(shifted) == len(native_shifted) > 0
    np.testing.assert_allclose(shifted[columns].to_numpy(), native_shifted[columns].to_numpy(), rtol=1e-5, atol=1e-6)
    points = pd.read_csv(audit / "tables/working_points.csv").replace({"exported": "nominal"})
    native_points = native_rows(pd.read_csv(workdir / "results/tables/working_points.csv"))
    joined = native_points.merge(points, on=[*keys, "mistag_target"], suffixes=("", "_audit"))
    assert len(joined) == len(native_points) > 0
    for column in ("cut", "efficiency", "sf_efficiency", "sf_mistag"):
        np.testing.assert_allclose(joined[f"{column}_audit"], joined[column], rtol=1e-5, atol=1e-6, err_msg=column)
    assert len(list((audit / "figures").glob("*.png"))) == len(rt.AUDIT_FIGURES)
    # the second audit: every jet of the file, scaled with the statistics it was given
    own = pq.ParquetFile(workdir / "results/external/own_jets/preprocessed/test.parquet").metadata.num_rows
    assert own == 5000  # .test/config/config.yaml: n_jets, none split off
    assert "own_jets" in (workdir / "results/external/own_jets/tables/summary.md").read_text()
