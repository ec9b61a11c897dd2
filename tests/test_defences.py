"""The defences against mismodelling: augmented, domain-adversarial and paired training (robusttag.training
.mismodelling), their settings and the held-out rule."""

from __future__ import annotations

import json
import shutil
import signal
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from killed_training import finished, first_jets, started, train_in_process
from test_training import _HostWatch

import robusttag.config as rt
from robusttag.architectures import build_model
from robusttag.checkpoints import load_checkpoint
from robusttag.config import ARCHITECTURES, MISMODELLING_MODES, ModelSettings, TrainingSettings, Variation
from robusttag.config.schema import default_config
from robusttag.data import Split, load_split
from robusttag.errors import ConfigError, ResultsError
from robusttag.features import InputLayout
from robusttag.preprocess import preprocess, preprocess_like, preprocess_splits_like
from robusttag.sources.synthetic import NOMINAL_KNOBS, generate
from robusttag.training import train, train_epoch
from robusttag.training.mismodelling import (
    Augmented,
    Domain,
    DomainClassifier,
    domain_loss,
    final_layer,
    hidden_and_logits,
    paired_penalty,
    reverse_gradient,
    same_dropout,
)

#: the training variations of these tests: knobs that only rescale, so each varied jet is the nominal one
VARIATIONS = (
    Variation("resolution_up", scale={"resolution_scale": 1.3}),
    Variation("lifetimes_down", scale={"lifetime_scale": 0.8}),
)


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """A small dataset preprocessed, each training variation's training split, and a target sample."""
    base = tmp_path_factory.mktemp("defences")
    pq.write_table(generate(6000, seed=17).to_arrow(), base / "raw.parquet")
    summary = preprocess(base / "raw.parquet", base / "pre", rows_per_batch=3000)
    for variation in VARIATIONS:
        jets = generate(6000, seed=17, difficulty=NOMINAL_KNOBS.scaled(variation.scale, "test"))
        pq.write_table(jets.to_arrow(), base / f"{variation.name}.parquet")
        outputs = {"train": base / "pre" / f"{variation.name}_train.parquet"}
        preprocess_splits_like(base / f"{variation.name}.parquet", outputs, summary, rt.PreprocessSettings())
    target = generate(2000, seed=99, difficulty=NOMINAL_KNOBS.scaled({"resolution_scale": 1.5}, "test"))
    pq.write_table(target.to_arrow(), base / "target_raw.parquet")
    preprocess_like(base / "target_raw.parquet", base / "pre" / "target.parquet", summary)
    return base / "pre"


def quick(mode, **changes) -> TrainingSettings:
    target = {"name": "target", "scale": {"resolution_scale": 1.5}} if mode == "domain" else None
    values = {"lr": 1e-3, "batch_size": 256, "max_epochs": 2, "patience": 4, "seed": 5, "variations": VARIATIONS}
    return TrainingSettings(mode=mode, domain_target=target, **(values | changes))


def run(data, output, settings, target="target.parquet"):
    variations = [data / f"{v.name}_train.parquet" for v in settings.variations] if settings.mode != "domain" else ()
    files = (data / "train.parquet", data / "val.parquet", data / "preprocessing.json")
    target = data / target if settings.mode == "domain" else None
    return train(*files, output, settings, variations=variations, target=target, threads=1)


def _tensors(output, epoch):
    return load_checkpoint(output / f"epoch_{epoch:03d}.pt")["model"]


def _same_model(a, b, epochs=2):
    for epoch in range(1, epochs + 1):
        first, second = _tensors(a, epoch), _tensors(b, epoch)
        assert all(torch.equal(first[name], second[name]) for name in first), epoch


# --- gradient reversal and the domain classifier --------------------------------------------------


def test_gradient_reversal_by_hand():
    x = torch.randn(5, 4, requires_grad=True)
    upstream = torch.randn(5, 4)
    y = reverse_gradient(x, 0.3)
    assert torch.equal(y, x)
    (y * upstream).sum().backward()
    torch.testing.assert_close(x.grad, -0.3 * upstream, rtol=0, atol=0)


def test_the_taggers_gradient_from_the_domain_loss_is_minus_lambda_times_the_classifiers():
    """Through the reversal the tagger descends -lambda times the gradient that would lower the domain loss;
    the classifier descends the domain loss itself, whatever lambda."""
    torch.manual_seed(3)
    model = build_model(ModelSettings(n_inputs=12, width=16, depth=3, dropout=0.0))
    classifier = DomainClassifier(16, 8, 2, heads=3)
    x, target = torch.randn(40, 12), torch.randn(40, 12)
    labels = torch.randint(0, 3, (40,))

    def gradients(weight):
        model.zero_grad(), classifier.zero_grad()
        hidden, _ = hidden_and_logits(model, x)
        target_hidden, target_logits = hidden_and_logits(model, target)
        joined = torch.cat([hidden, target_hidden])
        joined = joined if weight is None else reverse_gradient(joined, weight)
        domain_loss(classifier(joined), labels, torch.softmax(target_logits, 1)).backward()
        tagger = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()]
        return tagger, [p.grad.clone() for p in classifier.parameters()]

    plain_tagger, plain_classifier = gradients(None)
    reversed_tagger, reversed_classifier = gradients(0.7)
    assert any(g.abs().sum() > 0 for g in plain_tagger)
    for plain, rev in zip(plain_tagger, reversed_tagger):
        torch.testing.assert_close(rev, -0.7 * plain)
    for plain, rev in zip(plain_classifier, reversed_classifier):
        assert torch.equal(plain, rev)


def test_the_per_flavour_domain_loss_weighs_each_flavour_and_domain_equally():
    logits = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [-2.0, 1.0, 3.0]])
    labels = torch.tensor([0, 2])  # the two training jets; the last two rows are target jets
    target = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
    loss = domain_loss(logits, labels, target)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = []
    for head in range(3):
        source = [bce(logits[i, head], torch.tensor(0.0)) for i in range(2) if labels[i] == head]
        source_mean = sum(source) / len(source) if source else 0.0
        t_weights = target[:, head]
        target_mean = sum(t_weights[j] * bce(logits[2 + j, head], torch.tensor(1.0)) for j in range(2))
        expected.append(0.5 * (source_mean + target_mean / t_weights.sum()))
    torch.testing.assert_close(loss, sum(expected) / 3)
    one_head = domain_loss(logits[:, :1], labels, None)
    by_hand = 0.5 * (bce(logits[:2, 0], torch.zeros(2)) + bce(logits[2:, 0], torch.ones(2)))
    torch.testing.assert_close(one_head, by_hand)
    fewer_target_jets = domain_loss(logits[:3, :1], labels, None)  # training.domain.target_fraction 0.5
    by_hand = 0.5 * (bce(logits[:2, 0], torch.zeros(2)) + bce(logits[2, 0], torch.tensor(1.0)))
    torch.testing.assert_close(fewer_target_jets, by_hand)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_hidden_representation_is_what_the_output_layer_reads(architecture):
    layout = InputLayout() if architecture == "dnn" else InputLayout("sequence", 16 + 5 * 29, 16, 5, 29)
    torch.manual_seed(0)
    model = build_model(ModelSettings(architecture=architecture, n_inputs=layout.n_inputs, layout=layout)).eval()
    x = torch.randn(30, layout.n_inputs)
    if architecture != "dnn":
        x[..., 16 + 28 :: 29] = 1.0  # every track present
    hidden, logits = hidden_and_logits(model, x)
    assert hidden.shape == (30, final_layer(model).in_features)
    torch.testing.assert_close(final_layer(model)(hidden), logits, rtol=0, atol=0)
    torch.testing.assert_close(logits, model(x), rtol=1e-6, atol=1e-6)


def test_domain_training_with_lambda_zero_is_nominal_training_to_the_bit(varied, tmp_path):
    """The same batches, dropout draws and updates of the tagger: the reversed gradient is exactly zero, and the
    target's pass repeats the training batch's dropout draws without advancing the generator."""
    run(varied, tmp_path / "nominal", quick("nominal"))
    history = run(varied, tmp_path / "domain", quick("domain", domain_weight=0.0))
    _same_model(tmp_path / "nominal", tmp_path / "domain")
    assert "defence" in load_checkpoint(tmp_path / "domain" / "epoch_002.pt")
    moved = run(varied, tmp_path / "domain_on", quick("domain", domain_weight=1.0, domain_ramp=None))
    assert moved[-1]["val_loss"] != history[-1]["val_loss"]


@pytest.mark.parametrize("fraction, target_jets", [(1.0, 256), (0.25, 64)])
def test_a_domain_step_takes_its_target_fraction_of_the_batch(fraction, target_jets):
    settings = quick("domain", domain_target_fraction=fraction)
    model = build_model(ModelSettings(n_inputs=12, width=16, depth=3))
    domain = Domain(1024, torch.randn(300, 12), final_layer(model).in_features, settings)
    seen = []
    domain.classifier.register_forward_hook(lambda module, inputs, output: seen.append(len(inputs[0])))
    batch = Split(torch.randn(256, 12), torch.randint(0, 3, (256,)), torch.ones(256))
    domain.backpropagate(model, batch, torch.arange(256), domain.epoch_draws(0, torch.device("cpu"))[:256], 0.5)
    assert seen == [256 + target_jets]


def test_domain_training_reads_no_target_label(varied, tmp_path):
    table = pq.read_table(varied / "target.parquet")
    labels = table.column("label")
    shuffled = labels.take(np.random.default_rng(1).permutation(len(labels)))
    assert not shuffled.equals(labels)
    pq.write_table(
        table.set_column(table.schema.get_field_index("label"), "label", shuffled), tmp_path / "relabelled.parquet"
    )
    a = run(varied, tmp_path / "a", quick("domain", max_epochs=1))
    b = run(varied, tmp_path / "b", quick("domain", max_epochs=1), target=tmp_path / "relabelled.parquet")
    _same_model(tmp_path / "a", tmp_path / "b", epochs=1)
    assert a == [row | {"seconds": a[0]["seconds"], "jets_per_s": a[0]["jets_per_s"]} for row in b]


# --- the paired penalty -------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["log_odds", "probabilities"])
def test_the_paired_penalty_is_zero_for_identical_twins_even_with_dropout(output):
    torch.manual_seed(1)
    model = build_model(ModelSettings(dropout=0.5)).train()
    x = torch.randn(64, 184)
    state = torch.get_rng_state()
    logits, twin = same_dropout(model, x, x.clone())
    assert torch.equal(logits, twin)
    assert paired_penalty(logits, twin, torch.rand(64), output).item() == 0.0
    torch.set_rng_state(state)
    model(x)  # the generator ends where one pass leaves it
    after_one = torch.get_rng_state()
    torch.set_rng_state(state)
    same_dropout(model, x, x)
    assert torch.equal(torch.get_rng_state(), after_one)


@pytest.mark.parametrize("output", ["log_odds", "probabilities"])
def test_the_paired_penalty_by_hand_and_its_gradient_by_finite_differences(output):
    logits = torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]], dtype=torch.float64)
    varied = torch.tensor([[1.5, 0.0, -1.0], [0.5, 1.0, 1.0]], dtype=torch.float64)
    weights = torch.tensor([1.0, 3.0], dtype=torch.float64)
    value = paired_penalty(logits, varied, weights, output).item()
    per_jet = []
    for a, b in zip(logits.tolist(), varied.tolist()):
        if output == "log_odds":  # a third of the squared changes of the three pairwise log-odds
            change = [a[i] - a[j] - (b[i] - b[j]) for i, j in ((0, 2), (1, 2), (0, 1))]
            per_jet.append(sum(c * c for c in change) / 3)
        else:
            pa, pb = np.exp(a) / np.exp(a).sum(), np.exp(b) / np.exp(b).sum()
            per_jet.append(float(((pa - pb) ** 2).sum()))
    assert value == pytest.approx((per_jet[0] + 3 * per_jet[1]) / 4, rel=1e-12)
    inputs = (logits.requires_grad_(), varied.requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b: paired_penalty(a, b, weights, output), inputs)


def test_paired_training_with_weight_zero_is_nominal_training(varied, tmp_path):
    """The same model as nominal training, to float32 rounding: the paired step runs the nominal jets in one
    product with their varied twins, and on some CPUs (AVX-512 kernels) a product's row blocking changes the
    last bits of the nominal rows' sums (to the bit on others)."""
    run(varied, tmp_path / "nominal", quick("nominal"))
    run(varied, tmp_path / "paired", quick("paired", paired_weight=0.0))
    for epoch in (1, 2):
        first, second = _tensors(tmp_path / "nominal", epoch), _tensors(tmp_path / "paired", epoch)
        largest = max(float((first[name] - second[name]).abs().max()) for name in first)
        assert largest < 1e-6, (epoch, largest)  # measured: 0 after epoch 1, 2.2e-8 after epoch 2 (AVX-512)


def test_paired_training_refuses_a_variation_of_other_jets(varied, tmp_path):
    swapped = pq.read_table(varied / "resolution_up_train.parquet")
    pq.write_table(swapped.take(np.roll(np.arange(len(swapped)), 1)), tmp_path / "shuffled.parquet")
    settings = quick("paired", variations=VARIATIONS[:1], max_epochs=1)
    files = (varied / "train.parquet", varied / "val.parquet", varied / "preprocessing.json")
    with pytest.raises(ResultsError, match="resolution_up.*not the training jets"):
        train(*files, tmp_path / "out", settings, variations=[tmp_path / "shuffled.parquet"], threads=1)


# --- augmented batches --------------------------------------------------------------------------


def test_augmented_batches_draw_the_declared_variations(varied):
    summary = json.loads((varied / "preprocessing.json").read_text())
    cpu = torch.device("cpu")
    train_split = load_split(varied / "train.parquet", summary, cpu, with_movable=False)
    splits = [load_split(varied / f"{v.name}_train.parquet", summary, cpu, with_movable=False) for v in VARIATIONS]
    augmented = Augmented(train_split, splits, quick("augmented", augmented_fraction=0.4))
    sources = augmented.epoch_draws(epoch=3, device=cpu)
    index = torch.arange(len(train_split))
    batch = augmented.batch(index, sources)
    # the provenance read back: which knobs each jet was simulated with
    knobs = [{} if s == 0 else VARIATIONS[s - 1].scale for s in sources.tolist()]
    n = len(knobs)
    varied_share = sum(1 for k in knobs if k) / n
    assert abs(varied_share - 0.4) < 4 * np.sqrt(0.4 * 0.6 / n)
    for variation in VARIATIONS:
        share = sum(1 for k in knobs if k == variation.scale) / n
        assert abs(share - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)
    for k, split in enumerate([train_split, *splits]):
        rows = sources == k
        assert torch.equal(batch.x[rows], split.x[rows]) and torch.equal(batch.weights[rows], split.weights[rows])
    assert not torch.equal(splits[0].x, train_split.x)  # a variation's inputs differ from the nominal ones
    assert torch.equal(splits[0].labels, train_split.labels)  # ...for the same jets
    assert torch.equal(sources, augmented.epoch_draws(epoch=3, device=cpu))  # resume-safe
    assert not torch.equal(sources, augmented.epoch_draws(epoch=4, device=cpu))


# --- the loop -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MISMODELLING_MODES)
def test_every_defence_trains_and_is_reproducible(varied, tmp_path, mode):
    first = run(varied, tmp_path / "a", quick(mode))
    assert [row["epoch"] for row in first] == [1, 2] and all(0.5 < row["val_auc_bvsl"] <= 1 for row in first)
    second = run(varied, tmp_path / "b", quick(mode))
    assert [r["val_loss"] for r in first] == [r["val_loss"] for r in second]
    _same_model(tmp_path / "a", tmp_path / "b")


_TRAIN_SCRIPT = """
import sys
from pathlib import Path
from robusttag.config import TrainingSettings, Variation
from robusttag.training import train
data, output, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
variations = (Variation("resolution_up", scale={"resolution_scale": 1.3}),
              Variation("lifetimes_down", scale={"lifetime_scale": 0.8}))
target = {"name": "target"} if mode == "domain" else None
settings = TrainingSettings(mode=mode, lr=1e-3, batch_size=256, max_epochs=2, patience=2, seed=5,
                            variations=variations, domain_target=target, domain_ramp=None)
files = [data / f"{v.name}_train.parquet" for v in variations] if mode != "domain" else ()
train(data / "train.parquet", data / "val.parquet", data / "preprocessing.json", output, settings,
      variations=files, target=data / "target.parquet" if mode == "domain" else None, threads=1)
"""


def test_domain_training_resumes_after_kill_bit_identical(varied, tmp_path):
    """Killed after epoch 1 of 2 and resumed: every epoch as the uninterrupted run's, the domain classifier and its
    optimiser restored with the tagger (the mode with a state of its own; the loop's kill -9 behaviour is shared
    with every mode, test_training)."""
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    varied = first_jets(varied, tmp_path / "first_jets", 1280)  # 5 batches an epoch
    reference = started(_TRAIN_SCRIPT, [str(varied), str(straight), "domain"])
    try:
        args = [str(varied), str(interrupted), "domain"]
        assert train_in_process(_TRAIN_SCRIPT, args, kill_after_epoch=1) == -signal.SIGKILL
        assert train_in_process(_TRAIN_SCRIPT, args) == 0
    finally:
        assert finished(reference) == 0
    _same_model(straight, interrupted, epochs=2)
    for epoch in (1, 2):
        a, b = (
            load_checkpoint(straight / f"epoch_{epoch:03d}.pt"),
            load_checkpoint(interrupted / f"epoch_{epoch:03d}.pt"),
        )
        assert a["val_loss"] == b["val_loss"] and a["train_loss"] == b["train_loss"]
        for name, tensor in a["defence"]["classifier"].items():
            assert torch.equal(tensor, b["defence"]["classifier"][name])


@pytest.mark.parametrize("mode", ["augmented", "paired"])
def test_a_defence_resumes_from_its_last_checkpoint_bit_identical(varied, tmp_path, mode, caplog):
    """The state an interrupted training leaves (its first epoch's checkpoint) resumed in a fresh call: epochs 2
    and 3 as the uninterrupted run's (each epoch's draws from the seed and the epoch alone)."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    settings = quick(mode, max_epochs=3, patience=3)
    run(varied, straight, settings)
    state = resumed.with_name(f".{resumed.name}.in_progress")
    state.mkdir()
    shutil.copy2(straight / "epoch_001.pt", state / "epoch_001.pt")
    with caplog.at_level("INFO", logger="robusttag.training.loop"):
        history = run(varied, resumed, settings)
    assert "resuming after epoch 1" in caplog.text  # not trained again from the start
    assert [row["epoch"] for row in history] == [1, 2, 3]
    _same_model(straight, resumed, epochs=3)


@pytest.mark.parametrize("mode", MISMODELLING_MODES)
def test_a_defence_epoch_never_leaves_the_device(mode):
    """As nominal training (test_training): the defences' draws are made on the host once per epoch, beside the
    batch order, never per batch."""
    device, n, width = torch.device("meta"), 512, 184

    def split():
        return Split(
            torch.empty(n, width, device=device),
            torch.zeros(n, dtype=torch.int64, device=device),
            torch.ones(n, device=device),
        )

    data = split()
    model = build_model(ModelSettings()).to(device)
    optimizer = torch.optim.Adam(model.parameters())
    settings = quick(mode, batch_size=64)
    from robusttag.training.mismodelling import Domain, Paired

    defence = {
        "augmented": lambda: Augmented(data, [split(), split()], settings),
        "paired": lambda: Paired(data, [split(), split()], settings),
        "domain": lambda: Domain(n, torch.empty(100, width, device=device), 100, settings),
    }[mode]()
    with _HostWatch("meta") as watch:
        loss = train_epoch(model, optimizer, data, settings, epoch=0, defence=defence)
    assert loss.device == device
    draws = {
        "augmented": ["rand", "lt", "randint", "add", "where"],
        "paired": ["rand", "lt", "randint", "add", "where"],
        "domain": ["randint"],
    }[mode]
    assert watch.offences == ["randperm", "to", *draws, "to"], watch.offences


# --- the settings and the held-out rule ------------------------------------------------------------


def test_a_variation_trained_on_and_held_out_is_refused_naming_both():
    config = default_config()
    config["training"]["modes"] = ["nominal", "paired"]
    config["training"]["variations"] = [{"name": "wider_tracks", "scale": {"resolution_scale": 1.2}}]
    with pytest.raises(ConfigError, match=r"variation 'wider_tracks'.*sample 'd0_resolution_up_20pct'.*same variation"):
        rt.check_config(config)
    config["training"]["variations"] = [{"name": "d0_resolution_up_20pct", "scale": {"resolution_scale": 1.25}}]
    with pytest.raises(ConfigError, match="same variation"):  # the same name
        rt.check_config(config)
    config["training"]["variations"] = [{"name": "wider_tracks", "scale": {"resolution_scale": 1.25}}]
    rt.check_config(config)  # a new value of a held-out knob is another variation
    config["training"]["modes"] = ["nominal", "adversarial"]
    config["training"]["variations"] = [{"name": "wider_tracks", "scale": {"resolution_scale": 1.2}}]
    rt.check_config(config)  # declared, but no training reads it


def test_the_defences_settings_are_checked():
    with pytest.raises(ConfigError, match="generator variations"):
        TrainingSettings(mode="paired", variations=(Variation("fsr", pythia={"TimeShower:renormMultFac": 2.0}),))
    with pytest.raises(ConfigError, match="lists none"):
        TrainingSettings(mode="augmented", variations=())
    with pytest.raises(ConfigError, match="target"):
        TrainingSettings(mode="domain")
    with pytest.raises(ConfigError, match=r"domain.target_fraction must be in \(0, 1\], got 1.5"):
        TrainingSettings(mode="domain", domain_target={"name": "x"}, domain_target_fraction=1.5)
    with pytest.raises(ConfigError, match="distinct"):
        TrainingSettings(mode="augmented", variations=(VARIATIONS[0], VARIATIONS[0]))
    config = default_config()
    config["training"]["modes"] = ["domain"]
    config["training"]["domain"] = {"target": "no_such_sample"}
    with pytest.raises(ConfigError, match="no_such_sample.*shifted_samples"):
        rt.check_config(config)
    config["dataset"]["source"] = "uci"
    config["training"] = {"modes": ["augmented"]}
    with pytest.raises(ConfigError, match="dataset.source is uci"):
        rt.check_config(config)
    constant = TrainingSettings(mode="domain", domain_target={"name": "x"}, domain_ramp=None, domain_weight=0.3)
    assert constant.domain_lambda(0.0) == constant.domain_lambda(0.7) == 0.3
    ramped = replace(TrainingSettings(mode="domain", domain_target={"name": "x"}), domain_weight=2.0)
    assert ramped.domain_lambda(0.0) == 0.0
    assert ramped.domain_lambda(0.5) == pytest.approx(2.0 * (2.0 / (1.0 + np.exp(-5.0)) - 1.0))


# --- the defences' table ----------------------------------------------------------------------------


def _shifted(models=("nominal", "adversarial", "paired"), samples=("a", "b")):
    """Shifted AUC and working-point rows at the selected checkpoints: known values per model, seed, sample."""
    rng = np.random.default_rng(4)
    auc_rows, wp_rows = [], []
    for model in models:
        for seed in (1, 2, 3):
            for sample in samples:
                row = {"model": model, "seed": seed, "epoch": 2, "sample": sample, "discriminator": "BvsL"}
                row["selected"] = True
                change = rng.normal(-0.01, 0.004)
                auc_rows.append(row | {"auc": 0.9 + change, "reference_auc": 0.9, "auc_change": change})
                auc_rows[-1]["auc_change_err"] = 0.002
                for mistag in (0.01, 0.1):
                    efficiency, light = rng.normal(0.97, 0.01), rng.normal(1.2, 0.05)
                    wp_rows.append(
                        row
                        | {"mistag_target": mistag, "sf_efficiency": efficiency, "sf_efficiency_err": 0.01}
                        | {"sf_mistag": light, "sf_mistag_err": 0.03}
                    )
    return pd.DataFrame(auc_rows), pd.DataFrame(wp_rows)


def test_the_defence_table_by_hand():
    from robusttag.analysis.defences import ALL_HELD_OUT, defence_table

    auc, wp = _shifted()
    kinds = {"a": "new value of a trained knob", "b": "knob never trained"}
    table = defence_table(auc, wp, kinds)
    row = table[(table["model"] == "paired") & (table["sample"] == "a") & (table["quantity"] == "auc_change")].iloc[0]
    own = auc[(auc["model"] == "paired") & (auc["sample"] == "a")].sort_values("seed")
    values = (own["auc_change"] / 0.9).abs().to_numpy()
    assert row["value"] == pytest.approx(values.mean())
    assert row["stat_err"] == pytest.approx(0.002 / 0.9)
    assert row["training_err"] == pytest.approx(values.std(ddof=1) / np.sqrt(3))
    assert row["total_err"] == pytest.approx(np.hypot(row["stat_err"], row["training_err"]))
    assert row["held_out"] == "new value of a trained knob" and row["seeds"] == 3
    nominal = auc[(auc["model"] == "nominal") & (auc["sample"] == "a")].sort_values("seed")
    difference = values - (nominal["auc_change"] / 0.9).abs().to_numpy()
    total = np.hypot(np.sqrt(2) * 0.002 / 0.9, difference.std(ddof=1) / np.sqrt(3))
    assert row["minus_nominal"] == pytest.approx(difference.mean())
    assert row["minus_err_nominal"] == pytest.approx(total)
    assert row["z_nominal"] == pytest.approx(difference.mean() / total)
    mistag = table[(table["model"] == "nominal") & (table["sample"] == "b") & (table["quantity"] == "sf_mistag_1pct")]
    own = wp[(wp["model"] == "nominal") & (wp["sample"] == "b") & np.isclose(wp["mistag_target"], 0.01)]
    assert mistag["value"].iloc[0] == pytest.approx((own["sf_mistag"] - 1).abs().mean())
    pooled = table[
        (table["model"] == "paired") & (table["sample"] == ALL_HELD_OUT) & (table["quantity"] == "auc_change")
    ]
    per_seed = auc[auc["model"] == "paired"].assign(v=lambda f: (f["auc_change"] / 0.9).abs()).groupby("seed")["v"]
    assert pooled["value"].iloc[0] == pytest.approx(per_seed.mean().mean())
    assert pooled["stat_err"].iloc[0] == pytest.approx(np.sqrt(2) * 0.002 / 0.9 / 2)
    assert set(table["model"]) == {"nominal", "adversarial", "paired"}
    assert not table.loc[table["model"] == "nominal", "minus_nominal"].notna().any()


def test_domain_training_is_judged_on_its_targets_unseen_half_only():
    from robusttag.analysis.defences import ALL_HELD_OUT, TARGET_HALF, check_judged_rows, defence_table, unseen_half

    auc, wp = _shifted(models=("nominal", "domain"), samples=("a", "b", unseen_half("a")))
    table = defence_table(auc, wp, {"a": "held out", "b": "held out"}, target="a")
    assert not ((table["model"] == "domain") & (table["sample"] == "a")).any()
    assert ((table["model"] == "nominal") & (table["sample"] == "a")).any()
    half = table[table["sample"] == unseen_half("a")]
    assert set(half["model"]) == {"nominal", "domain"} and set(half["held_out"]) == {TARGET_HALF}
    # held out, all: sample b alone (the target and its half are no held-out sample of every mode)
    pooled = table[(table["sample"] == ALL_HELD_OUT) & (table["quantity"] == "auc_change")].set_index("model")
    only_b = table[(table["sample"] == "b") & (table["quantity"] == "auc_change")].set_index("model")
    assert pooled.loc["domain", "value"] == pytest.approx(only_b.loc["domain", "value"])
    with pytest.raises(ResultsError, match="domain model trained on \\['a'\\]"):
        check_judged_rows(
            pd.DataFrame({"model": ["domain"], "sample": ["a"], "held_out": ["held out"]}), {"domain": {"a"}}
        )
    with pytest.raises(ResultsError, match="no declared kind"):
        defence_table(auc, wp, {"a": "held out"}, target="a")


def test_the_dnns_blocked_pass_gives_the_hidden_layer_as_one_layer_at_a_time_does():
    """The same hidden outputs, logits, dropout draws and gradients, to the bit, from both paths of the DNN."""
    torch.manual_seed(2)
    model = build_model(ModelSettings(n_inputs=30, width=24, depth=3, dropout=0.2)).train()
    x = torch.randn(700, 30)  # several blocks of rows, a ragged last one
    weight = torch.randn(700, 24)

    def run(blocked: bool):
        model.zero_grad()
        inputs = x.clone().requires_grad_()
        torch.manual_seed(9)
        if not blocked:
            model._blocked = lambda _: False
        try:
            hidden, logits = model.hidden_and_logits(inputs)
        finally:
            model.__dict__.pop("_blocked", None)
        ((logits**2).sum() + (reverse_gradient(hidden, 0.3) * weight).sum()).backward()
        return hidden.detach(), logits.detach(), inputs.grad, [p.grad.clone() for p in model.parameters()]

    fast, slow = run(True), run(False)
    for a, b in zip(fast[:3], slow[:3]):
        assert torch.equal(a, b)
    assert all(torch.equal(a, b) for a, b in zip(fast[3], slow[3]))
    assert fast[0].shape == (700, 24) and (fast[0] == 0).any()  # the ReLU's output (dropout before it)
