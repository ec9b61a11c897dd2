"""Attacks at evaluation: FGSM by hand, the cap in raw units, eps sharing, baselines,
cross-attack wiring, the selected checkpoint, and the tables built from scores."""

from __future__ import annotations

import csv
from dataclasses import asdict

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from robusttag.analysis.tables import combined_scores, metrics_tables, with_relative_drops
from robusttag.analysis.uncertainties import Bootstrap, resampled_aucs, standard_error
from robusttag.attacks import Constraints, input_gradient_sign
from robusttag.attacks.iterative import fgsm_vertex
from robusttag.checkpoints import load_tagger, selected_checkpoints
from robusttag.config import (
    AttackSettings,
    EvaluationSettings,
    LossSettings,
    ModelSettings,
    ScoringSettings,
    StrongAttackSettings,
    TableSettings,
    check_config,
)
from robusttag.errors import ConfigError, ResultsError
from robusttag.evaluate import (
    baseline_attacks,
    fgsm_attacks,
    load_test_set,
    predict,
    score_checkpoint,
    score_validation,
)
from robusttag.history import HISTORY_COLUMNS, scanned_epochs, selected_epoch, selected_epochs
from robusttag.metrics import DISCRIMINATORS, discriminant
from robusttag.model import Tagger
from robusttag.paths import model_dir, model_identity
from robusttag.preprocess import preprocess, read_summary
from robusttag.report.summary import checkpoint_trend, summary_markdown, write_study_tables
from robusttag.sources.synthetic import generate
from robusttag.strong_attacks import score_strong_attacks

# --- FGSM on a 3-feature linear model, by hand ---------------------------------------


def _linear_model() -> torch.nn.Linear:
    model = torch.nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, -1.0], [-1.0, 0.0, 2.0]]))
    return model.eval()


def test_fgsm_sign_by_hand_for_a_linear_model():
    """Cross entropy (gamma 0) of logits W x: grad_x = W^T (softmax(W x) - onehot(y))."""
    model = _linear_model()
    x, labels = torch.tensor([[0.2, -0.4, 1.0]]), torch.tensor([1])
    p = torch.softmax(model.weight @ x[0], 0)
    expected = torch.sign(model.weight.T @ (p - torch.tensor([0.0, 1.0, 0.0])))
    sign = input_gradient_sign(model, x, labels, gamma=0.0)
    assert torch.equal(sign[0], expected)
    assert model.weight.grad is None  # the attack leaves no parameter gradients


def _constraints(mean, std, cap=0.25, floor=None) -> Constraints:
    floor = torch.full_like(mean, -torch.inf) if floor is None else floor
    return Constraints(mean, std, floor, torch.ones(len(mean), dtype=torch.float64), cap)


def _fgsm(x, sign, movable, eps, constraints):
    return fgsm_vertex(x, *constraints.box(x, movable, eps), sign)


def test_exclusions_cap_in_raw_units_and_eps_zero():
    x = torch.tensor([[1.0, -0.5, 0.2]])  # standardised
    mean, std = torch.tensor([2.0, 0.0, 10.0]), torch.tensor([4.0, 2.0, 0.5])
    raw = x * std + mean  # 6.0, -1.0, 10.1
    sign = torch.tensor([[1.0, -1.0, 1.0]])
    movable = torch.tensor([[True, True, False]])  # the third input is a default (or integer): never moves
    capped = _constraints(mean, std)
    torch.testing.assert_close(
        capped.radius(x, None).float(), torch.tensor([[0.25 * 6.0 / 4.0, 0.25 * 1.0 / 2.0, 0.25 * 10.1 / 0.5]])
    )
    adv = _fgsm(x, sign, movable, 0.5, capped)
    # first input: eps 0.5 > cap 0.375 -> capped; second: eps 0.5 > 0.125 -> capped; third: fixed
    torch.testing.assert_close(adv, torch.tensor([[1.375, -0.625, 0.2]]))
    assert torch.all((adv.double() * std + mean - raw.double()).abs() <= 0.25 * raw.double().abs())
    small = _fgsm(x, sign, movable, 0.1, capped)  # below the cap: plain Eq. 2
    torch.testing.assert_close(small, torch.tensor([[1.1, -0.6, 0.2]]))
    assert torch.equal(_fgsm(x, sign, movable, 0.0, capped), x)  # eps = 0 is the identity
    uncapped = _fgsm(x, sign, movable, 0.5, _constraints(mean, std, cap=None))
    torch.testing.assert_close(uncapped, torch.tensor([[1.5, -1.0, 0.2]]))


def test_a_genuine_zero_does_not_move_under_the_cap():
    mean, std = torch.tensor([1.0]), torch.tensor([2.0])
    x = torch.tensor([[-0.5]])  # raw 0
    adv = _fgsm(x, torch.ones(1, 1), torch.ones(1, 1, dtype=torch.bool), 0.05, _constraints(mean, std))
    assert torch.equal(adv, x)


# --- on preprocessed synthetic jets ----------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Preprocessed jets and two differently initialised 'trained' checkpoints with histories."""
    base = tmp_path_factory.mktemp("evaluate")
    pq.write_table(generate(4000, seed=23).to_arrow(), base / "raw.parquet")
    preprocess(base / "raw.parquet", base / "pre", rows_per_batch=2000)
    for seed, name in ((1, "nominal"), (2, "adversarial")):
        torch.manual_seed(seed)
        model = Tagger()
        directory = base / "models" / name / "seed_1"
        directory.mkdir(parents=True)
        for epoch in (1, 2, 3):
            state = {"model": model.state_dict(), "model_settings": asdict(ModelSettings())}
            torch.save(state, directory / f"epoch_{epoch:03d}.pt")
        with open(directory / "history.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HISTORY_COLUMNS)
            for epoch, val in ((1, 0.5), (2, 0.3 + 0.15 * (seed - 1)), (3, 0.4)):
                row = {"epoch": epoch, "train_loss": 0.6, "val_loss": val, "val_auc_bvsl": 0.9, "val_auc_cvsl": 0.7}
                row |= {"selection_score": val, "lr": 1e-3, "seconds": 1.0, "jets_per_s": 1000.0}
                writer.writerow([row[c] for c in HISTORY_COLUMNS])
    return base


def _test_set(workspace, **changes):
    settings = ScoringSettings(**changes)
    summary = read_summary(workspace / "pre/preprocessing.json")
    test = load_test_set(
        workspace / "pre/test.parquet", summary, torch.device("cpu"), settings.max_jets, settings.restrict_impact
    )
    return test, settings


def _score(workspace, model, out, settings, **kinds):
    score_checkpoint(
        workspace / f"models/{model}/seed_1",
        2,
        workspace / "pre/test.parquet",
        workspace / "pre/preprocessing.json",
        out,
        settings,
        LossSettings(),
        **kinds,
    )


def test_one_gradient_serves_every_epsilon(workspace):
    test, settings = _test_set(workspace, max_jets=500)
    model = load_tagger(workspace / "models/nominal/seed_1/epoch_001.pt", torch.device("cpu"))
    sign = input_gradient_sign(model, test.data.x, test.data.labels)
    made = {eps: inputs for _, _, eps, inputs in fgsm_attacks(test, settings, {"nominal": sign})}
    shared = {eps: inputs(slice(None)) for eps, inputs in made.items()}
    for eps in settings.epsilons:  # a fresh gradient per epsilon gives the very same inputs
        sign = input_gradient_sign(model, test.data.x, test.data.labels)
        fresh = _fgsm(test.data.x, sign, test.data.movable, eps, test.constraints)
        assert torch.equal(shared[eps], fresh)
        # made slice by slice (as the scoring does), the same inputs
        assert torch.equal(torch.cat([made[eps](slice(0, 123)), made[eps](slice(123, None))]), fresh)
    moved = shared[0.05] != test.data.x
    assert moved.any()
    assert not (moved & (test.data.movable == 0)).any()  # integers and defaults stay


def test_baselines_have_the_attacks_sizes_and_are_seeded(workspace):
    test, settings = _test_set(workspace, max_jets=300, restrict_impact=None)
    first = {(a, e): inputs(slice(None)) for a, _, e, inputs in baseline_attacks(test, settings)}
    again = {(a, e): inputs(slice(None)) for a, _, e, inputs in baseline_attacks(test, settings)}
    movable = test.data.movable == 1
    for eps in settings.epsilons:
        assert torch.equal(first["noise", eps], again["noise", eps])
        up = first["shift_up", eps] - test.data.x
        torch.testing.assert_close(up[movable], torch.full_like(up[movable], eps))
        assert torch.all(up[~movable] == 0)
        far = movable & (test.data.x - test.constraints.floor > 6 * eps)  # the default floor cannot bite
        noise = (first["noise", eps] - test.data.x)[far]
        assert abs(noise.std().item() - eps) < 0.05 * eps
        down = first["shift_down", eps]
        at_floor = movable & (test.data.x - eps < test.constraints.floor)
        assert at_floor.any()  # genuine values within eps of their default threshold: held at the floor
        assert torch.equal(down[at_floor], test.constraints.floor.expand_as(down)[at_floor])


def test_cross_attack_scores_are_the_target_on_the_sources_inputs(workspace, tmp_path):
    test, settings = _test_set(workspace, max_jets=400, epsilons=(0.02, 0.05))
    out = tmp_path / "extra.parquet"
    sources = {m: workspace / f"models/{m}/seed_1/epoch_002.pt" for m in ("nominal", "adversarial")}
    _score(
        workspace,
        "nominal",
        out,
        settings,
        white_box=False,
        transfer_from={"adversarial": sources["adversarial"]},
        baselines=True,
    )
    scores = pq.read_table(out).to_pandas()
    assert set(scores["attack"].astype(str)) == {"fgsm", "noise", "shift_up", "shift_down"}
    # the white-box FGSM is the per-checkpoint file's, not repeated here
    assert set(scores.loc[scores["attack"] == "fgsm", "attack_source"].astype(str)) == {"adversarial"}
    assert set(scores["model"].astype(str)) == {"nominal"} and set(scores["epoch"]) == {2}
    target = load_tagger(sources["nominal"], torch.device("cpu"))
    source = load_tagger(sources["adversarial"], torch.device("cpu"))
    sign = input_gradient_sign(source, test.data.x, test.data.labels)
    attacked = _fgsm(test.data.x, sign, test.data.movable, 0.05, test.constraints)
    expected = predict(target, attacked, 1024).numpy()
    rows = scores[
        (scores["attack"] == "fgsm") & (scores["attack_source"] == "adversarial") & np.isclose(scores["epsilon"], 0.05)
    ]
    np.testing.assert_allclose(rows[["p_b", "p_c", "p_light"]].to_numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(rows["label"].to_numpy(), test.data.labels.numpy())


def test_the_white_box_attack_is_refused_as_a_transfer(workspace, tmp_path):
    settings = ScoringSettings(max_jets=100)
    with pytest.raises(ConfigError, match="white-box"):
        _score(
            workspace,
            "nominal",
            tmp_path / "x.parquet",
            settings,
            white_box=False,
            transfer_from={"nominal": workspace / "models/nominal/seed_1/epoch_002.pt"},
        )
    with pytest.raises(ConfigError, match="no attack"):
        _score(workspace, "nominal", tmp_path / "x.parquet", settings, white_box=False)
    assert not (tmp_path / "x.parquet").exists()


def test_selected_and_scanned_epochs(workspace):
    history = workspace / "models/adversarial/seed_1/history.csv"
    assert selected_epoch(workspace / "models/nominal/seed_1/history.csv") == 2
    assert selected_epoch(history) == 3  # validation losses 0.5, 0.45, 0.4
    assert scanned_epochs(history, "all") == [1, 2, 3]
    assert scanned_epochs(history, (1, 50)) == [1, 3]  # 50 never trained; selected added
    dirs = [workspace / "models/nominal/seed_1", workspace / "models/adversarial/seed_1"]
    assert selected_epochs(dirs) == {("nominal", 1): 2, ("adversarial", 1): 3}
    assert selected_checkpoints(dirs) == {"nominal": dirs[0] / "epoch_002.pt", "adversarial": dirs[1] / "epoch_003.pt"}
    with pytest.raises(ResultsError, match="one training per mode"):
        selected_checkpoints([dirs[0], dirs[0].with_name("seed_2")])
    with pytest.raises(ResultsError, match="seed_"):
        selected_epochs([workspace / "models/nominal"])


def test_a_training_folder_names_its_mode_and_seed():
    assert model_identity(model_dir("adversarial", 7)) == ("adversarial", 7)
    assert model_dir("nominal", 2, "results") == "results/models/nominal/seed_2"
    assert model_dir() == "{root}/models/{model}/seed_{seed}"  # the train rule's output pattern
    with pytest.raises(ResultsError, match="seed_"):
        model_identity("results/models/nominal")


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="summary_epsilon"):
        EvaluationSettings(epsilons=(0.01,), summary_epsilon=0.05)
    with pytest.raises(ConfigError, match="positive"):
        EvaluationSettings(epsilons=(0.0, 0.05))
    with pytest.raises(ConfigError, match="not among the 184 inputs"):
        check_config({"evaluation": {"figures": {"input_features": ["not_an_input"]}}})
    with pytest.raises(ConfigError, match=r"trk5_d0.*not among the 128 inputs of preprocess.n_tracks = 4"):
        check_config({"preprocess": {"n_tracks": 4}, "evaluation": {"figures": {"input_features": ["trk5_d0"]}}})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['epsilon'\]"):
        EvaluationSettings.from_config({"epsilon": 0.1})


@pytest.fixture(scope="module")
def score_files(workspace, tmp_path_factory):
    """Both models at epoch 2: the per-checkpoint file and the extra attacks, as the DAG makes them."""
    base, settings, files = tmp_path_factory.mktemp("scores"), ScoringSettings(max_jets=600), []
    for model, other in (("nominal", "adversarial"), ("adversarial", "nominal")):
        files.append(base / model / "epoch_002.parquet")
        _score(workspace, model, files[-1], settings)
        files.append(base / model / "epoch_002_extra_attacks.parquet")
        _score(
            workspace,
            model,
            files[-1],
            settings,
            white_box=False,
            baselines=True,
            transfer_from={other: workspace / f"models/{other}/seed_1/epoch_002.pt"},
        )
    return files


def test_each_attack_is_scored_once_and_a_repeat_is_refused(score_files):
    scores = combined_scores(score_files)
    per_key = scores.groupby(["model", "epoch", "attack", "attack_source", "epsilon"], observed=True).size()
    assert (per_key == 600).all()  # every (attack, source, epsilon) once: the test jets once each
    assert len(per_key) == 2 * (1 + 4 + 4 + 12)
    with pytest.raises(ResultsError, match="both score"):
        combined_scores([*score_files, score_files[0]])


def test_tables_and_summary_from_scores(score_files, tmp_path):
    settings = TableSettings()
    outputs = {name: tmp_path / name for name in ("auc.csv", "roc.parquet", "summary.md")}
    auc = write_study_tables(
        score_files,
        [],
        None,
        [],
        [],
        [],
        {("nominal", 1): 2, ("adversarial", 1): 2},
        settings,
        {"auc": outputs["auc.csv"], "roc": outputs["roc.parquet"], "summary": outputs["summary.md"]},
    )
    table = pd.read_csv(tmp_path / "auc.csv")
    # one row per (model, epoch, attack, source, eps, discriminator): raw + 4 fgsm-self + 4 cross + 12 baselines
    assert len(table) == 2 * 3 * (1 + 4 + 4 + 12)
    assert not table.duplicated(["model", "epoch", "attack", "attack_source", "epsilon", "discriminator"]).any()
    raw = table[table["attack"] == "raw"]
    no_efficiency = raw["eff_at_mistag_0.01"] == 0  # untrained models: no scale factor to give
    assert (raw.loc[~no_efficiency, "scale_factor_at_mistag_0.01"] == 1.0).all()
    assert raw.loc[no_efficiency, "scale_factor_at_mistag_0.01"].isna().all()
    assert table["selected"].all()
    roc = pd.read_parquet(tmp_path / "roc.parquet")
    assert len(roc) == len(table) * 201
    text = (tmp_path / "summary.md").read_text()
    assert "| nominal | BvsL |" in text and "adversarial over nominal" in text
    # the same seed gives the same resamples: the summary is reproduced from the scores
    _, _, replicas = metrics_tables(combined_scores(score_files), False, settings.bootstrap, settings.bootstrap_seed)
    assert text == summary_markdown(auc, settings, replicas=replicas)
    assert text.count(" ± ") >= 6 * 7 and "Errors are statistical only" in text


def test_statistical_errors_are_the_paired_bootstrap_of_the_test_jets(score_files):
    scores = combined_scores(score_files)
    auc, _, replicas = metrics_tables(scores, False, bootstrap=50, bootstrap_seed=4)
    assert (auc["auc_err"] > 0).all() and len(replicas) == len(auc)
    # one row by hand: the nominal model's raw CvsL AUC over the same 50 resamples of the 600 test jets
    jets = scores[(scores["model"] == "nominal") & (scores["attack"] == "raw")]
    labels = jets["label"].to_numpy()
    signal, background = DISCRIMINATORS["CvsL"]
    both = np.flatnonzero((labels == signal) | (labels == background))
    p = jets[["p_b", "p_c", "p_light"]].to_numpy()
    by_hand = resampled_aucs(
        Bootstrap(600, 50, seed=4), both, discriminant(p[both, signal], p[both, background]), labels[both] == signal
    )
    row = auc[(auc["model"] == "nominal") & (auc["attack"] == "raw") & (auc["discriminator"] == "CvsL")]
    assert row["auc_err"].item() == pytest.approx(standard_error(by_hand), rel=1e-12)
    # a drop's error from the same resamples of raw and attacked jets is smaller than the two errors combined
    drops = with_relative_drops(auc, replicas)
    raw = drops[drops["attack"] == "raw"]
    assert (raw["relative_drop"] == 0).all() and (raw["relative_drop_err"] == 0).all()
    own = drops[(drops["attack"] == "fgsm") & (drops["attack_source"] == drops["model"])].merge(
        raw[["model", "epoch", "discriminator", "auc", "auc_err"]],
        on=["model", "epoch", "discriminator"],
        suffixes=("", "_raw"),
    )
    unpaired = np.hypot(own["auc_err"], own["auc_err_raw"]) / own["auc_raw"]
    assert (own["relative_drop_err"] < unpaired).all()


def _tidy(model, rows):
    """AUC-table rows of one model and discriminator from (epoch, raw, fgsm) triples."""
    out = []
    for epoch, raw, fgsm in rows:
        out.append(
            dict(
                model=model,
                seed=1,
                epoch=epoch,
                attack="raw",
                attack_source="none",
                epsilon=0.0,
                discriminator="BvsL",
                auc=raw,
            )
        )
        out.append(
            dict(
                model=model,
                seed=1,
                epoch=epoch,
                attack="fgsm",
                attack_source=model,
                epsilon=0.05,
                discriminator="BvsL",
                auc=fgsm,
            )
        )
        out.append(
            dict(
                model=model,
                seed=1,
                epoch=epoch,
                attack="fgsm",
                attack_source="other",
                epsilon=0.05,
                discriminator="BvsL",
                auc=0.0,
            )
        )
    return out


def test_checkpoint_trend_hand_case():
    # AUC lost 0.02, 0.01, 0.04, 0.03 for raw 0.90, 0.92, 0.95, 0.93: ranks (2,1,4,3) against (1,2,4,3)
    rows = [(1, 0.90, 0.88), (2, 0.92, 0.91), (3, 0.95, 0.91), (4, 0.93, 0.90)]
    auc = pd.DataFrame(_tidy("nominal", rows) + _tidy("adversarial", rows[:2]))
    trend = checkpoint_trend(auc, "nominal", "BvsL", 0.05)
    assert trend["checkpoints"] == 4
    assert trend["raw"] == (0.90, 0.95)
    assert trend["lost"] == pytest.approx((0.01, 0.04))
    # Spearman = 1 - 6 sum d^2 / (n (n^2 - 1)) with d = (1, -1, 0, 0): 1 - 12/60
    assert trend["spearman"] == pytest.approx(0.8)
    assert checkpoint_trend(auc, "adversarial", "BvsL", 0.05) is None  # too few checkpoints for a trend
    assert checkpoint_trend(auc, "nominal", "BvsL", 0.01) is None  # no such epsilon


def test_summary_without_baselines_says_not_available():
    rows = [(1, 0.90, 0.88), (2, 0.92, 0.91), (3, 0.95, 0.91)]
    auc = pd.DataFrame(_tidy("nominal", rows)).assign(**{"eff_at_mistag_0.01": 0.5})
    auc["selected"] = auc["epoch"] == 3
    text = summary_markdown(auc, TableSettings())
    assert "| nominal | BvsL | 0.9500 | 0.9100 | 4.21% | n/a | n/a |" in text
    assert "nan" not in text  # no BvsC rows in this table: no BvsC line
    assert "| nominal | BvsL | 3 | 0.9000-0.9500 | 0.0100-0.0400 | +0.50 |" in text


def test_summary_writes_the_cap_from_the_settings_and_no_negative_zero():
    # noise at eps 0.05 raises the AUC by 1e-5: a drop of -0.001 %, shown as 0.00%, not -0.00%
    rows = [(3, 0.95, 0.91)]
    auc = pd.DataFrame(_tidy("nominal", rows)).assign(**{"eff_at_mistag_0.01": 0.5})
    noise = dict(
        model="nominal", seed=1, epoch=3, attack="noise", attack_source="none", epsilon=0.05, discriminator="BvsL"
    )
    auc = pd.concat([auc, pd.DataFrame([dict(noise, auc=0.95001, **{"eff_at_mistag_0.01": 0.5})])])
    auc["selected"] = True
    text = summary_markdown(auc, TableSettings(restrict_impact=0.1))
    assert "each step capped at 10% of the raw value" in text
    assert "| nominal | BvsL | 0.9500 | 0.9100 | 4.21% | 0.00% | n/a |" in text
    assert "-0.00" not in text
    assert "no cap" in summary_markdown(auc, TableSettings(restrict_impact=None))


@pytest.fixture(scope="module")
def strong_files(workspace, tmp_path_factory):
    """Both models' epoch 2 under a small strong suite (2 steps), on the same 600 jets."""
    base, files = tmp_path_factory.mktemp("strong"), []
    settings = StrongAttackSettings(
        attacks=(AttackSettings("pgd", steps=2), AttackSettings("ngm"), AttackSettings("targeted", steps=2)),
        epsilons=(0.02, 0.05),
        max_jets=600,
        certified_jets=60,
        exact_domains=2000,
        visibility_jets=300,
    )
    parts = (".parquet", "_checks.csv", "_certified.csv", "_vis.csv", "_invisible.csv")
    for model in ("nominal", "adversarial"):
        files.append(tuple(base / f"{model}{part}" for part in parts))
        score_strong_attacks(
            workspace / f"models/{model}/seed_1",
            2,
            workspace / "pre/test.parquet",
            workspace / "pre/preprocessing.json",
            *files[-1],
            settings,
            LossSettings(),
        )
    return files


def test_the_strong_suite_scores_each_attack_and_checks_itself(strong_files, score_files, workspace, tmp_path):
    scores = pq.read_table(strong_files[0][0]).to_pandas()
    attacks = {"pgd", "ngm", "targeted_BvsL", "targeted_CvsL", "targeted_BvsC"}
    assert set(scores["attack"].astype(str)) == attacks
    assert (scores.groupby(["attack", "epsilon"], observed=True).size() == 600).all()
    checks = pd.read_csv(strong_files[0][1])
    suite = checks[checks["attack"] != "fgsm"]
    assert len(suite) == len(attacks) * 2 and suite["identity_at_zero"].all()
    assert (suite[["immovable_moved", "budget", "cap", "floor"]] == 0).all().all()
    assert checks["zero_gradient_fraction"].between(0, 1).all()
    names = ("auc", "roc", "worst_case", "checks", "certified", "visibility", "working_points", "scale_factors")
    outputs = {k: tmp_path / f"{k}.out" for k in (*names, "summary")}
    validation = [tmp_path / f"{model}_validation.parquet" for model in ("nominal", "adversarial")]
    pre = workspace / "pre"
    for model, path in zip(("nominal", "adversarial"), validation):
        model_dir = workspace / f"models/{model}/seed_1"
        score_validation(model_dir, 2, pre / "val.parquet", pre / "preprocessing.json", path, ScoringSettings())
    scored = pq.read_table(validation[0]).to_pandas()
    assert len(scored) == pq.ParquetFile(workspace / "pre/val.parquet").metadata.num_rows  # every validation jet
    assert set(scored["attack"]) == {"raw"} and (scored["model"] == "nominal").all()
    write_study_tables(
        [*score_files, *(files[0] for files in strong_files)],
        validation,
        workspace / "pre/test.parquet",
        *([files[i] for files in strong_files] for i in (1, 2, 3)),
        {("nominal", 1): 2, ("adversarial", 1): 2},
        TableSettings(),
        outputs,
        invisible_files=[files[4] for files in strong_files],
    )
    auc = pd.read_csv(outputs["auc"])
    targeted = auc[auc["attack"].str.startswith("targeted_")]
    assert (targeted["attack"] == "targeted_" + targeted["discriminator"]).all()  # each on its own discriminator
    worst = pd.read_csv(outputs["worst_case"])
    assert len(worst) == 2 * 2 * 3  # models x eps x discriminators
    # each row from the AUC table by hand: FGSM's AUC, and the lowest AUC of the model's own attacks (FGSM and
    # the suite; the targeted ones on their discriminator) with the attack that reached it
    own = auc[(auc["attack_source"] == auc["model"]) & (auc["attack"] != "raw")]
    for row in worst.itertuples():
        at = own[(own["model"] == row.model) & np.isclose(own["epsilon"], row.epsilon)]
        at = at[at["discriminator"] == row.discriminator].set_index("attack")["auc"]
        assert len(at) == 1 + 3  # FGSM, pgd, ngm and the targeted attack on this discriminator
        assert (row.fgsm_auc, row.worst_auc) == (at["fgsm"], at.min()) and at[row.worst_attack] == at.min()
    assert (worst["worst_auc"] <= worst["raw_auc"]).all()
    table = pd.read_csv(outputs["checks"])
    targeted_checks = table[table["attack"].str.startswith("targeted_")]
    assert (targeted_checks["auc_rise"] <= 0).all()  # the targeted AUC never rises with eps: by construction
    assert table.loc[table["attack"] == "pgd", "above_fgsm"].notna().all()
    text = outputs["summary"].read_text()
    assert "Worst case over FGSM and the strong attack suite" in text and "Certified bracket" in text
    bounds = pd.read_csv(outputs["certified"])
    assert len(bounds) == 2 * 2 * 3 and (bounds["jets"] == 60).all()
    # the certified bound lies below every attack's AUC and the raw AUC on the same jets
    assert bounds["bound_holds"].all() and (bounds["certified_auc"] <= bounds["raw_auc"]).all()
    assert (bounds["bracket_width"] >= 0).all()
    per_feature = pd.read_csv(strong_files[0][3])
    invisible = {f"invisible_{disc}" for disc in DISCRIMINATORS}  # at the summary's eps only
    assert set(per_feature["attack"]) == attacks | {"fgsm"} | invisible and (per_feature["n_jets"] <= 300).all()
    assert set(per_feature.loc[per_feature["attack"].isin(invisible), "epsilon"]) == {0.05}
    assert per_feature["ks"].between(0, 1).all() and (per_feature["wasserstein_1"] >= 0).all()
    visibility = pd.read_csv(outputs["visibility"])
    assert len(visibility) == 2 * (2 * (len(attacks) + 1) + 3)  # models x (eps x (suite + FGSM) + invisible)
    hidden = visibility[visibility["attack"].str.startswith("invisible_")]
    invisible_table = pd.read_csv(strong_files[0][4])
    for _, row in hidden[hidden["model"] == "nominal"].iterrows():  # the AUC they cost, from invisible.csv
        same = invisible_table[invisible_table["discriminator"] == row["attack"].removeprefix("invisible_")].iloc[0]
        assert row["auc_lost"] == pytest.approx(same["invisible_auc_lost"] / same["raw_auc"], rel=1e-5)
    # a larger eps shifts the most visible input at least as much (same attack, same jets)
    for _, group in visibility.groupby(["model", "attack"]):
        assert group.sort_values("epsilon")["largest_ks"].is_monotonic_increasing
    assert "How visible each attack is" in text
    # fixed-cut working points at the selected checkpoints: every attack of the selected epoch, the raw one's SF 1
    points = pd.read_csv(outputs["working_points"])
    assert set(points["attack"]) == set(auc["attack"]) and set(points["mistag_target"]) == {0.01, 0.1}
    assert (points.loc[points["attack"] == "raw", "sf_efficiency"].dropna() == 1).all()
    assert points["cut"].notna().all() and "Working points at a fixed cut" in text
    per_bin = pd.read_csv(outputs["scale_factors"])
    assert len(per_bin) and np.isclose(per_bin.loc[per_bin["attack"] != "raw", "epsilon"], 0.05).all()
    # the (pT, |eta|) bins cover every jet of the default binning's range: their jets add up to the 600
    raw = per_bin[(per_bin["attack"] == "raw") & (per_bin["model"] == "nominal") & (per_bin["mistag_target"] == 0.1)]
    labels = pq.read_table(score_files[0], columns=["attack", "label"]).to_pandas().query("attack == 'raw'")["label"]
    for disc, (signal, background) in DISCRIMINATORS.items():
        in_bins = raw.loc[raw["discriminator"] == disc, ["signal_jets", "background_jets"]].sum()
        assert tuple(in_bins) == ((labels == signal).sum(), (labels == background).sum()), disc


def test_the_invisible_attack_keeps_its_limits_beside_fgsm_and_the_worst_attack(strong_files):
    invisible = pd.read_csv(strong_files[0][4])
    assert list(invisible["discriminator"]) == list(DISCRIMINATORS)
    assert (invisible["jets"] == 300).all() and (invisible["epsilon"] == 0.05).all()
    assert (invisible["invisible_smallest_p_value"] >= invisible["p_value_limit"] * (1 - 1e-9)).all()
    assert (invisible["invisible_correlation_change"] <= invisible["correlation_limit"] + 1e-12).all()
    lost = invisible["raw_auc"] - invisible["invisible_auc"]
    np.testing.assert_allclose(lost, invisible["invisible_auc_lost"], atol=2e-6)  # 6 digits in the CSV
    for name in ("invisible", "fgsm", "worst"):
        assert (invisible[f"{name}_auc_lost_err"] > 0).all()
    assert invisible["worst_attack"].str.startswith(("pgd", "ngm", "targeted")).all()
