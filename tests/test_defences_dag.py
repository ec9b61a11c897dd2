"""The defences against mismodelling through the whole DAG (tests/dag_runs.py: DEFENCES): the training
variations made, every mode trained, domain training's target measured on its unseen half, the defences' table,
summary and figure, and what each defence key reruns."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import snakemake_process
from test_workflow_pipeline import job_counts

from robusttag.analysis.defences import ALL_HELD_OUT, TARGET_HALF, unseen_half
from robusttag.history import selected_epoch
from robusttag.metrics import auc, discriminant

MODES = ("nominal", "adversarial", "augmented", "domain", "paired")
TARGET = "d0_resolution_up_20pct"
VARIATIONS = ("d0_resolution_down_10pct", "d0_resolution_up_10pct", "lifetimes_up_10pct")  # the schema's default


def test_every_mode_is_trained_on_its_files(defences_run):
    for mode in MODES:
        for seed in (1, 2):
            assert (defences_run / f"results/models/{mode}/seed_{seed}/history.csv").exists()
    train = pq.read_table(defences_run / "results/preprocessed/train.parquet", columns=["label", "raw_jet_pt"])
    for name in VARIATIONS:
        varied = pq.read_table(defences_run / f"results/variations/{name}/preprocessed_train.parquet")
        assert varied.num_rows == train.num_rows  # the dataset's jets, split as the dataset
        assert varied.column("label").equals(train.column("label"))
        assert varied.column("raw_jet_pt").equals(train.column("raw_jet_pt"))  # the same jets, varied
    log = (defences_run / "results/logs/train_domain_seed_1.log").read_text()
    assert "domain training" in log


def _scores(run: Path, model: str, seed: int, sample: str) -> pd.DataFrame:
    scores = pd.read_parquet(run / f"results/scores/{model}/seed_{seed}/shifted_samples.parquet")
    epoch = selected_epoch(run / f"results/models/{model}/seed_{seed}/history.csv")
    return scores[(scores["attack"] == sample) & (scores["epoch"] == epoch)].reset_index(drop=True)


def test_the_target_is_measured_on_its_odd_jets_against_the_same_jets_of_the_twin(defences_run):
    table = pd.read_csv(defences_run / "results/tables/shifted_auc.csv")
    half = table[(table["sample"] == unseen_half(TARGET)) & table["selected"]]
    assert {(m, s) for m, s in zip(half["model"], half["seed"])} == {(m, s) for m in MODES for s in (1, 2)}
    row = half[(half["model"] == "domain") & (half["seed"] == 2) & (half["discriminator"] == "BvsL")].iloc[0]
    for sample, column in ((TARGET, "auc"), ("nominal_twin", "reference_auc")):
        odd = _scores(defences_run, "domain", 2, sample).iloc[1::2]
        kept = odd["label"].isin([0, 2]).to_numpy()
        score = discriminant(odd["p_b"].to_numpy(), odd["p_light"].to_numpy())[kept]
        expected = auc(score, odd["label"].to_numpy()[kept] == 0)  # evaluation.weighted: false
        assert row[column] == pytest.approx(expected, abs=2e-6)  # the table's 6 digits


def test_the_defences_table_judges_each_mode_on_what_it_never_saw(defences_run):
    table = pd.read_csv(defences_run / "results/tables/defences.csv")
    assert set(table["model"]) == set(MODES)
    samples = {TARGET, "light_fake_vertices_up_50pct", unseen_half(TARGET), ALL_HELD_OUT}
    assert set(table["sample"]) == samples
    assert not ((table["model"] == "domain") & (table["sample"] == TARGET)).any()
    kinds = table.drop_duplicates("sample").set_index("sample")["held_out"].to_dict()
    assert kinds == {
        TARGET: "new value of a trained knob",
        "light_fake_vertices_up_50pct": "knob never trained",
        unseen_half(TARGET): TARGET_HALF,
        ALL_HELD_OUT: ALL_HELD_OUT,
    }
    assert (table["seeds"] == 2).all()
    changes = table[(table["model"] != "nominal") & (table["quantity"] == "auc_change")]
    assert changes["minus_nominal"].notna().all() and table[table["model"] == "nominal"]["minus_nominal"].isna().all()
    pooled = table[(table["sample"] == ALL_HELD_OUT) & (table["quantity"] == "auc_change")].set_index(
        ["model", "discriminator"]
    )
    only = table[(table["sample"] == "light_fake_vertices_up_50pct") & (table["quantity"] == "auc_change")]
    for row in only.itertuples():  # one held-out sample besides the target: the mean is that sample's
        assert pooled.loc[(row.model, row.discriminator), "value"] == pytest.approx(row.value)


def test_the_summary_and_the_figure(defences_run):
    summary = (defences_run / "results/tables/summary.md").read_text()
    section = summary.split("## Defences against mismodelling", 1)[1].split("\n## ", 1)[0]
    for mode in MODES:
        assert re.search(rf"^\| {mode} \| ", section, flags=re.MULTILINE)
    assert re.search(r"^Finding: (no mode|these modes) lower", section, flags=re.MULTILINE)
    assert f"Domain training on the jets of its target it never saw ({unseen_half(TARGET)}" in section
    assert re.search(r"^Per sample \(the target's unseen half included\), of \d+ comparisons", section, flags=re.M)
    assert "Without the points of the defences against mismodelling" in summary
    assert (defences_run / "results/figures/defences.png").stat().st_size > 10_000


def _counts(run: Path, override: str) -> tuple[dict[str, int], set[str]]:
    """({rule: jobs} of a dry run with ``override`` on the defences' config, the models it would train)."""
    (run / "override.yaml").write_text(override)
    result = snakemake_process.run(run, "--dry-run", "--cores", "2", "--configfile", "defences.yaml", "override.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    if "Nothing to be done" in result.stdout:
        return {}, set()
    table = result.stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    counts = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE) if rule != "all"}
    trained = set(re.findall(r"checkpoint train:\n(?:.*\n)*?\s+wildcards: root=results, model=(\w+)", result.stdout))
    return counts, trained


@pytest.mark.parametrize(
    ("override", "retrained"),
    [
        ("training:\n  paired:\n    weight: 0.05\n", {"paired"}),
        ("training:\n  paired:\n    output: probabilities\n", {"paired"}),
        ("training:\n  augmented:\n    fraction: 0.3\n", {"augmented"}),
        ("training:\n  domain:\n    weight: 2.0e-4\n", {"domain"}),
        ("training:\n  domain:\n    ramp: null\n", {"domain"}),
        ("training:\n  domain:\n    per_flavour: false\n", {"domain"}),
        ("training:\n  domain:\n    width: 32\n", {"domain"}),
        ("training:\n  domain:\n    depth: 1\n", {"domain"}),
        ("training:\n  domain:\n    target_fraction: 0.5\n", {"domain"}),
    ],
)
def test_a_defence_key_retrains_only_its_mode(defences_run, override, retrained):
    counts, trained = _counts(defences_run, override)
    assert trained == retrained and counts["train"] == 2  # both seeds
    assert not counts.keys() & {"generate_variation", "convert_variation", "preprocess_variation", "preprocess"}


def test_another_variation_is_made_and_retrains_the_modes_that_read_it(defences_run):
    variations = (
        "training:\n  variations:\n"
        "    - {name: d0_resolution_down_10pct, scale: {resolution_scale: 0.9}}\n"
        "    - {name: d0_resolution_up_10pct, scale: {resolution_scale: 1.15}}\n"
        "    - {name: lifetimes_up_10pct, scale: {lifetime_scale: 1.1}}\n"
    )
    counts, trained = _counts(defences_run, variations)
    assert trained == {"augmented", "paired"} and counts["train"] == 4
    assert {counts[f"{step}_variation"] for step in ("generate", "convert", "preprocess")} == {1}


def test_another_domain_target_retrains_domain_training_only(defences_run):
    counts, trained = _counts(defences_run, "training:\n  domain:\n    target: light_fake_vertices_up_50pct\n")
    assert trained == {"domain"} and counts["train"] == 2 and counts["shifted_tables"] == 1
    assert "generate_shifted_sample" not in counts


@pytest.mark.parametrize(
    "override",
    [
        "training:\n  paired:\n    weight: 0.05\n",
        "training:\n  domain:\n    target: d0_resolution_up_20pct\n",
        "training:\n  variations:\n    - {name: wider, scale: {resolution_scale: 1.4}}\n",
    ],
)
def test_without_the_defences_their_keys_rerun_nothing(workflow, override):
    assert job_counts(workflow, override) == {}


def test_every_defence_key_has_its_rerun_test():
    import yaml

    schema = yaml.safe_load((Path(__file__).parents[1] / "src/robusttag/config/schema.yaml").read_text())
    training = schema["properties"]["training"]["properties"]
    keys = {
        f"{section}.{key}" for section in ("augmented", "domain", "paired") for key in training[section]["properties"]
    }
    tested = {
        "paired.weight",
        "paired.output",
        "augmented.fraction",
        "domain.weight",
        "domain.ramp",
        "domain.per_flavour",
        "domain.width",
        "domain.depth",
        "domain.target_fraction",
        "domain.target",
    }
    assert keys == tested
