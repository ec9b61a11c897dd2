"""Model, focal loss, FGSM training batches, the loop, checkpoints and resume."""

from __future__ import annotations

import math
import signal
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from killed_training import finished, first_jets, started, train_in_process
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from robusttag.architectures import build_model
from robusttag.attacks import Constraints
from robusttag.checkpoints import load_checkpoint
from robusttag.config import ARCHITECTURES, ATTACK_MODES, NOMINAL, ModelSettings, TrainingSettings
from robusttag.data import Split, choose_device, load_split
from robusttag.errors import ConfigError
from robusttag.features import InputLayout, default_column
from robusttag.history import HISTORY_COLUMNS, read_history
from robusttag.losses import focal_loss
from robusttag.model import ReLUDropout, Tagger
from robusttag.preprocess import preprocess
from robusttag.sources.synthetic import generate
from robusttag.training import adversarial_batch, backpropagate, train, train_epoch, validation_metrics

# --- focal loss -------------------------------------------------------------------


def test_gamma_zero_is_weighted_cross_entropy():
    torch.manual_seed(0)
    logits, labels, weights = torch.randn(50, 3), torch.randint(0, 3, (50,)), torch.rand(50)
    per_jet = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    expected = (per_jet * weights).sum() / weights.sum()
    torch.testing.assert_close(focal_loss(logits, labels, weights, gamma=0), expected)
    torch.testing.assert_close(focal_loss(logits, labels, None, gamma=0), per_jet.mean())


def test_known_gamma_25_value():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, -1.0]])
    labels = torch.tensor([0, 2])
    weights = torch.tensor([1.0, 3.0])
    expected = []
    for row, label in zip(logits.tolist(), labels.tolist()):
        p = math.exp(row[label]) / sum(math.exp(v) for v in row)
        expected.append(-((1 - p) ** 25) * math.log(p))
    value = (expected[0] * 1 + expected[1] * 3) / 4
    assert focal_loss(logits, labels, weights, gamma=25).item() == pytest.approx(value, rel=1e-5)


def test_confident_predictions_stay_finite():
    logits = torch.tensor([[60.0, -60.0, 0.0], [-80.0, 80.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 0])  # one right and sure, one wrong and sure
    loss = focal_loss(logits, labels, torch.ones(2), gamma=25)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert loss.item() == pytest.approx(160.0 / 2, rel=1e-4)  # the wrong one: -log p_t = 160, (1 - p_t) = 1


def test_double_softmax_switch_squeezes_p_t():
    logits = torch.tensor([[40.0, 0.0, 0.0], [0.0, 40.0, 0.0]])
    labels = torch.tensor([0, 0])
    per_jet = [focal_loss(logits[i : i + 1], labels[i : i + 1], None, gamma=0, double_softmax=True) for i in range(2)]
    p_t = [math.exp(-value.item()) for value in per_jet]
    assert p_t[0] == pytest.approx(math.e / (math.e + 2), rel=1e-5)  # the most it can be: 0.576
    assert p_t[1] == pytest.approx(1 / (math.e + 2), rel=1e-5)  # the least: 0.212
    assert focal_loss(logits, labels, None, gamma=0).item() != pytest.approx(sum(-math.log(p) for p in p_t) / 2)


# --- the model ---------------------------------------------------------------------


def test_model_layout():
    model = Tagger()
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(184, 100)] + [(100, 100)] * 4 + [(100, 3)]
    activations = [m for m in model if isinstance(m, ReLUDropout)]
    assert [m.p for m in activations] == [0.1, 0.1, 0.1, 0.1, 0.0]  # no dropout after the last hidden layer
    narrow = Tagger(ModelSettings(n_inputs=10, width=7, depth=2, dropout=0.0))
    assert narrow(torch.zeros(4, 10)).shape == (4, 3)


def test_fused_relu_dropout_is_relu_then_dropout():
    layer = ReLUDropout(0.1)
    x = torch.randn(1_000_000, requires_grad=True)
    torch.manual_seed(8)
    y = layer(x * 1.0)  # works in place, like nn.ReLU(inplace=True): not on a leaf
    kept = y != 0
    positive = x.detach() > 0
    assert not (kept & ~positive).any()  # ReLU
    torch.testing.assert_close(y[kept], x.detach()[kept] / 0.9)  # inverted-dropout scale
    dropped = (~kept[positive]).float().mean().item()
    assert abs(dropped - 0.1) < 5 * (0.1 * 0.9 / positive.sum().item()) ** 0.5  # Bernoulli(0.1), 5 sigma
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / 0.9)
    torch.manual_seed(8)
    assert torch.equal(layer(x.detach().clone()), y.detach())  # the default generator drives it: seeded, resumable
    layer.eval()
    torch.testing.assert_close(layer(x.detach().clone()), torch.relu(x.detach()))


def test_dropout_masks_differ_between_layers_and_calls():
    """Independent draws: no two masks of a step may repeat or correlate."""
    layer = ReLUDropout(0.5)
    torch.manual_seed(3)
    first, second = (layer(torch.ones(100_000)) != 0 for _ in range(2))
    agreement = (first == second).float().mean().item()
    assert abs(agreement - 0.5) < 0.01


def test_tagger_gradients_equal_those_of_plain_torch_layers():
    """Our Linear and fused ReLU+dropout (in-place backward) against nn.Linear,
    nn.ReLU and the same dropout draws applied by hand."""
    torch.manual_seed(4)
    model = Tagger(ModelSettings(n_inputs=7, width=5, depth=3))
    x, labels = torch.randn(300, 7), torch.randint(0, 3, (300,))  # 300: not a multiple of the bias-sum blocks
    torch.manual_seed(11)
    focal_loss(model(x), labels, gamma=2.0).backward()

    ours = [m for m in model if isinstance(m, torch.nn.Linear)]
    reference = [torch.nn.Linear(m.in_features, m.out_features) for m in ours]
    for mine, plain in zip(ours, reference, strict=True):
        plain.load_state_dict(mine.state_dict())
    plain_layers = iter(reference)
    torch.manual_seed(11)  # the same draws, taken by a standalone layer
    h = x
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            h = next(plain_layers)(h)
        else:
            kept = ReLUDropout(layer.p)(torch.ones_like(h)) if layer.p else torch.ones_like(h)
            h = torch.relu(h) * kept
    focal_loss(h, labels, gamma=2.0).backward()
    for mine, plain in zip(ours, reference, strict=True):
        torch.testing.assert_close(mine.weight.grad, plain.weight.grad)
        torch.testing.assert_close(mine.bias.grad, plain.bias.grad)


# --- FGSM batches in adversarial training --------------------------------------------


def _batch(n=64, features=184):
    torch.manual_seed(1)
    x = torch.randn(n, features)
    movable = (torch.rand(n, features) > 0.3).float()
    return x, torch.randint(0, 3, (n,)), torch.rand(n) + 0.5, movable


def test_fgsm_moves_exactly_the_movable_inputs_by_epsilon():
    x, labels, _, movable = _batch()
    settings = TrainingSettings(mode="adversarial", epsilon=0.01)
    model = Tagger()
    x_adv = adversarial_batch(model, x, labels, movable, settings)
    step = (x_adv - x).abs()
    assert torch.all(step[movable == 0] == 0)
    moved = step[movable == 1]
    assert torch.allclose(moved, torch.full_like(moved, 0.01), atol=1e-6)
    assert model.training  # back in training mode after the attack


def _parameter_gradients(model):
    return torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize("accumulate", [False, True])
def test_attack_gradients_leak_only_with_the_compat_switch(accumulate):
    x, labels, weights, movable = _batch()
    settings = TrainingSettings(mode="adversarial", accumulate_attack_grad=accumulate, model=ModelSettings(dropout=0.0))
    torch.manual_seed(3)
    model = Tagger(settings.model)
    backpropagate(model, x, labels, weights, movable, settings)
    got = _parameter_gradients(model)

    model.zero_grad()
    x_adv = adversarial_batch(model, x, labels, movable, replace(settings, accumulate_attack_grad=False))
    model.zero_grad()
    focal_loss(model(x_adv), labels, weights, 25.0).backward()
    adversarial_only = _parameter_gradients(model).clone()
    model.zero_grad()
    focal_loss(model(x), labels, None, 25.0).backward()
    clean_unweighted = _parameter_gradients(model).clone()

    expected = adversarial_only + clean_unweighted if accumulate else adversarial_only
    torch.testing.assert_close(got, expected)


def test_attack_dropout_switch():
    x, labels, _, movable = _batch()
    torch.manual_seed(4)
    model = Tagger()
    with torch.no_grad():  # make dropout matter for the sign
        for layer in model:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(3)
    model.eval()
    eval_sign = torch.autograd.grad(focal_loss(model(x.requires_grad_()), labels, None, 25.0), x)[0].sign()
    x = x.detach()
    without = adversarial_batch(
        model.train(), x, labels, movable, TrainingSettings(mode="adversarial", attack_dropout=False)
    )
    torch.testing.assert_close((without - x) * movable, 0.01 * eval_sign * movable)
    with_dropout = adversarial_batch(model.train(), x, labels, movable, TrainingSettings(mode="adversarial"))
    assert not torch.equal(with_dropout, without)


def test_clean_fraction_mixes_the_attacked_and_the_clean_loss():
    torch.manual_seed(2)
    model = Tagger(ModelSettings(dropout=0.0))
    x, labels, weights = torch.randn(300, 184), torch.randint(0, 3, (300,)), torch.rand(300)
    movable = torch.rand(300, 184) > 0.3
    settings = TrainingSettings(mode="adversarial", attack_dropout=False, clean_fraction=0.3)
    attacked = adversarial_batch(model, x, labels, movable, settings)
    with torch.no_grad():
        expected = 0.7 * focal_loss(model(attacked), labels, weights) + 0.3 * focal_loss(model(x), labels, weights)
    loss = backpropagate(model, x, labels, weights, movable, settings)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    without = backpropagate(model, x, labels, weights, movable, replace(settings, clean_fraction=0.0))
    assert without.item() == pytest.approx(focal_loss(model(attacked), labels, weights).item(), rel=1e-6)


@pytest.mark.parametrize("mode", ["pgd", "ngm"])
def test_pgd_and_ngm_batches_stay_in_the_box_and_need_it(mode):
    """In the box the training split holds for every jet (the evaluation attacks' box)."""
    torch.manual_seed(3)
    model = Tagger(ModelSettings(n_inputs=6, width=8, depth=2))
    x, labels = torch.randn(200, 6), torch.randint(0, 3, (200,))
    movable = torch.rand(200, 6) > 0.3
    features = torch.zeros(6)
    constraints = Constraints(features, features + 1, features - 0.5, features.double() + 1, None)
    settings = TrainingSettings(mode=mode, epsilon=0.2)
    lo, hi = constraints.box(x, movable, 0.2)
    attacked = adversarial_batch(model, x, labels, movable, settings, (lo, hi))
    assert bool(((attacked >= lo) & (attacked <= hi)).all()) and torch.equal(attacked[~movable], x[~movable])
    assert float((attacked - x).abs().max()) > 0.1 and model.training  # it moved; the model back in training
    with pytest.raises(ConfigError, match="constraint box"):
        adversarial_batch(model, x, labels, movable, settings)


# --- the loop ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("train")
    pq.write_table(generate(6000, seed=17).to_arrow(), base / "raw.parquet")
    preprocess(base / "raw.parquet", base / "pre", rows_per_batch=3000)
    return base / "pre"


def quick(mode="nominal", **changes) -> TrainingSettings:
    return TrainingSettings(
        **{"mode": mode, "lr": 1e-3, "batch_size": 256, "max_epochs": 4, "patience": 4, "seed": 5, **changes}
    )


def run_training(data, output, settings, state=None):
    return train(
        data / "train.parquet",
        data / "val.parquet",
        data / "preprocessing.json",
        output,
        settings,
        state_dir=state,
        threads=1,
    )


def test_one_epoch_lowers_the_validation_loss(data):
    import json

    summary = json.loads((data / "preprocessing.json").read_text())
    val = load_split(data / "val.parquet", summary, torch.device("cpu"))
    torch.manual_seed(5)
    before = validation_metrics(Tagger(), val, quick())
    history = run_training(data, data.parent / "one", replace(quick(), max_epochs=1))
    assert history[0]["val_loss"] < before["val_loss"]
    assert history[0]["val_auc_bvsl"] > before["val_auc_bvsl"] and history[0]["val_auc_cvsl"] > before["val_auc_cvsl"]
    assert history[0]["train_loss"] > 0


@pytest.mark.parametrize("mode", [NOMINAL, *ATTACK_MODES])  # the defences against mismodelling: test_defences
def test_checkpoints_and_history(data, mode):
    output = data.parent / f"models_{mode}"
    history = run_training(data, output, quick(mode, max_epochs=3))
    assert sorted(p.name for p in output.iterdir()) == ["epoch_001.pt", "epoch_002.pt", "epoch_003.pt", "history.csv"]
    lines = (output / "history.csv").read_text().splitlines()
    assert lines[0] == ",".join(HISTORY_COLUMNS)
    rows = read_history(output / "history.csv")
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert [row["lr"] for row in rows] == pytest.approx([1e-3, 1e-3 / (1 + 1 / 30), 1e-3 / (1 + 2 / 30)])
    # the default selection: the trailing mean over 3 epochs of 1 - the mean of the two validation AUCs
    misses = [1 - (row["val_auc_bvsl"] + row["val_auc_cvsl"]) / 2 for row in rows]
    expected = [misses[0], (misses[0] + misses[1]) / 2, sum(misses) / 3]
    assert [row["selection_score"] for row in rows] == pytest.approx(expected, rel=1e-12)
    state = torch.load(output / "epoch_002.pt", weights_only=True)
    assert state["epoch"] == 2 and state["val_loss"] == history[1]["val_loss"]
    assert {"model", "optimizer", "rng_cpu", "config_hash", "train_loss"} <= set(state)
    assert not output.with_name(f".{output.name}.in_progress").exists()


def test_early_stopping_the_papers_rule(data):
    # a learning rate so large that the validation loss cannot keep improving
    paper = replace(quick(), lr=5.0, max_epochs=30, patience=2, selection_metric="val_loss", selection_smoothing=1)
    history = run_training(data, data.parent / "early", paper)
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    assert len(history) == best + 1 + 2 < 30
    assert [row["selection_score"] for row in history] == [row["val_loss"] for row in history]


def test_early_stopping_on_the_smoothed_score(data):
    settings = replace(quick(), lr=5.0, max_epochs=30, patience=2, selection_metric="val_loss", selection_smoothing=2)
    history = run_training(data, data.parent / "early_smoothed", settings)
    losses = [row["val_loss"] for row in history]
    smoothed = [losses[0]] + [(a + b) / 2 for a, b in zip(losses, losses[1:])]
    assert [row["selection_score"] for row in history] == pytest.approx(smoothed, rel=1e-12)
    best = min(range(len(history)), key=lambda i: smoothed[i])
    assert len(history) == best + 1 + 2 < 30


def test_same_seed_same_numbers(data):
    first = run_training(data, data.parent / "a", replace(quick("adversarial"), max_epochs=2))
    second = run_training(data, data.parent / "b", replace(quick("adversarial"), max_epochs=2))
    assert [r["val_loss"] for r in first] == [r["val_loss"] for r in second]


# --- resume after a real kill -----------------------------------------------------------

_TRAIN_SCRIPT = """
import sys
from pathlib import Path
from robusttag.config import TrainingSettings
from robusttag.training import train
data, output, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
settings = TrainingSettings(mode=mode, lr=1e-3, batch_size=64, max_epochs=4, patience=4, seed=5)
train(data / "train.parquet", data / "val.parquet", data / "preprocessing.json", output, settings, threads=1)
"""


def _train_in_process(data, output, mode, kill_after_epoch=None, timeout=300):
    return train_in_process(_TRAIN_SCRIPT, [str(data), str(output), mode], kill_after_epoch, timeout)


@pytest.mark.parametrize("mode", ["adversarial", "pgd", "ngm"])  # nominal: the same loop, fewer draws
def test_resume_after_kill_is_bit_identical(data, mode):
    """Killed after epoch 2 of 4 and resumed: epochs 3 and 4 (their smoothed selection score reaching back
    over the restart) as the uninterrupted run's, trained beside it."""
    straight, interrupted = data.parent / f"straight_{mode}", data.parent / f"interrupted_{mode}"
    data = first_jets(data, data.parent / f"first_jets_{mode}", 1500)  # 24 batches an epoch
    reference = started(_TRAIN_SCRIPT, [str(data), str(straight), mode])
    try:
        assert _train_in_process(data, interrupted, mode, kill_after_epoch=2) == -signal.SIGKILL
        assert not (interrupted / "history.csv").exists()
        assert _train_in_process(data, interrupted, mode) == 0
    finally:
        assert finished(reference) == 0
    for epoch in range(1, 5):
        a = load_checkpoint(straight / f"epoch_{epoch:03d}.pt")
        b = load_checkpoint(interrupted / f"epoch_{epoch:03d}.pt")
        for name, tensor in a["model"].items():
            assert torch.equal(tensor, b["model"][name]), (epoch, name)
        assert a["val_loss"] == b["val_loss"] and a["train_loss"] == b["train_loss"]
        assert torch.equal(a["rng_cpu"], b["rng_cpu"])


def test_state_of_another_configuration_is_not_resumed(data):
    output = data.parent / "changed"
    run_training(data, output, replace(quick(), max_epochs=2))
    history = run_training(data, output, replace(quick(), max_epochs=2, lr=2e-3))
    assert [row["lr"] for row in history] == pytest.approx([2e-3, 2e-3 / (1 + 1 / 30)])


def test_auto_device_is_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert choose_device("auto").type == expected
    torch.set_float32_matmul_precision("high")  # as a library or a notebook might leave it
    assert choose_device("cpu").type == "cpu"
    assert torch.get_float32_matmul_precision() == "highest"  # no TF32 products


# --- the device path, with the device abstracted ------------------------------------


class _HostWatch(TorchFunctionMode):
    """Records every torch call that reads a value of ``device`` on the host
    (a wait for the device) or takes or makes a tensor (beyond a 0-dim scalar,
    such as Adam's step count) that is not on ``device``."""

    READS = {"item", "__float__", "__int__", "__bool__", "tolist", "numpy", "cpu"}

    def __init__(self, device: str) -> None:
        super().__init__()
        self.device, self.offences = device, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if name in self.READS and args and args[0].device.type == self.device:
            self.offences.append(name)
        result = func(*args, **(kwargs or {}))
        tensors = [t for t in tree_flatten((args, kwargs, result))[0] if isinstance(t, torch.Tensor)]
        if any(t.device.type != self.device and t.dim() > 0 for t in tensors):
            self.offences.append(name)
        return result


@pytest.mark.parametrize("mode", [NOMINAL, *ATTACK_MODES])  # the defences against mismodelling: test_defences
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_an_epoch_never_leaves_the_device(architecture, mode):
    """The 'meta' device stands for a GPU: a tensor made on the host (say a
    dropout mask from numpy), a per-batch host copy or a read of a value
    (.item(), float()) inside the loop would be recorded."""
    device, n = torch.device("meta"), 512
    layout = InputLayout() if architecture == "dnn" else InputLayout("sequence", 16 + 5 * 29, 16, 5, 29)
    width = layout.n_inputs
    data = Split(
        torch.empty(n, width, device=device),
        torch.zeros(n, dtype=torch.int64, device=device),
        torch.ones(n, device=device),
        torch.ones(n, width, dtype=torch.bool, device=device),
        *(torch.empty(n, width, device=device), torch.empty(n, width, device=device)),  # the box of PGD and NGM
    )
    shape = ModelSettings(architecture=architecture, n_inputs=width, layout=layout)
    model = build_model(shape).to(device)
    optimizer = torch.optim.Adam(model.parameters())
    with _HostWatch("meta") as watch:
        loss = train_epoch(model, optimizer, data, TrainingSettings(mode=mode, batch_size=64, model=shape), epoch=0)
    assert loss.device == device
    # the batch order is drawn on the host, once per epoch, and copied over whole
    assert watch.offences == ["randperm", "to"], watch.offences
    with _HostWatch("meta") as watch:
        data.x[:64].mul_(torch.ones(width))  # what a host-made mask would do
    assert watch.offences == ["ones", "mul_"]


def test_split_read_row_group_by_row_group_equals_a_whole_read(data, tmp_path):
    import json

    summary = json.loads((data / "preprocessing.json").read_text())
    table = pq.read_table(data / "train.parquet")
    pq.write_table(table, tmp_path / "train.parquet", row_group_size=97)  # several groups, a ragged last one
    assert pq.ParquetFile(tmp_path / "train.parquet").num_row_groups > 3
    split = load_split(tmp_path / "train.parquet", summary, torch.device("cpu"))
    names = summary["feature_order"]
    x = np.column_stack([table.column(n).to_numpy() for n in names])
    default = np.column_stack([table.column(default_column(n)).to_numpy() for n in names])
    integer = np.array([c["is_integer"] for c in summary["features"]])
    assert np.array_equal(split.x.numpy(), x)
    assert split.movable.dtype == torch.bool
    assert np.array_equal(split.movable.numpy(), ~default & ~integer)
    assert integer.any() and default.any()  # both exclusions are exercised
    assert np.array_equal(split.labels.numpy(), table.column("label").to_numpy())
    assert np.array_equal(split.weights.numpy(), table.column("weight").to_numpy())
