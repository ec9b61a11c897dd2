"""The sequence layout of the inputs and the set-based taggers: the layout by hand,
the taggers' invariances, every training mode, checkpoints, resume after kill -9,
the attacks' constraints on tracks and the soundness of the interval bounds."""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from killed_training import finished, first_jets, started, train_in_process
from relu_minima import enumerated_minimum, searched

from robusttag.architectures import DeepSets, Transformer, build_model
from robusttag.attacks import Constraints
from robusttag.attacks.adversaries import pgd_batch
from robusttag.attacks.bounds import bound_method, logit_difference_bounds, preactivation_bounds
from robusttag.attacks.worst_case import exact_worst_case, verifiable_networks
from robusttag.checkpoints import load_checkpoint, load_tagger
from robusttag.config import ATTACK_MODES, NOMINAL, DeepSetsSettings, ModelSettings, TrainingSettings
from robusttag.data import load_split
from robusttag.errors import ConfigError
from robusttag.features import PRESENT, SEQUENCE_TRACK_FIELDS, InputLayout, default_column
from robusttag.jets import JetBatch
from robusttag.metrics import DISCRIMINATORS, auc
from robusttag.preprocess import PreprocessSettings, preprocess, preprocess_like, split_assignment
from robusttag.sources.synthetic import generate
from robusttag.training import model_settings, train

MAX_TRACKS = 12
SET_MODELS = ("deepsets", "transformer")
N_JETS = 4000


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> tuple[Path, JetBatch]:
    batch = generate(N_JETS, seed=23)
    path = tmp_path_factory.mktemp("raw") / "jets.parquet"
    pq.write_table(batch.to_arrow(), path)
    return path, batch


@pytest.fixture(scope="module")
def sequence(raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sequence")
    preprocess(raw[0], out, PreprocessSettings(layout="sequence", max_tracks=MAX_TRACKS), rows_per_batch=1500)
    return out


def _summary(directory: Path) -> dict:
    return json.loads((directory / "preprocessing.json").read_text())


def _model(architecture: str, summary: dict, seed: int = 0, **changes) -> torch.nn.Module:
    torch.manual_seed(seed)
    settings = model_settings(ModelSettings(architecture=architecture, dropout=0.0, **changes), summary)
    return build_model(settings).eval()


# --- the layout ----------------------------------------------------------------------


def test_the_sequence_layout_is_the_jet_features_then_track_blocks_with_a_padding_mask(raw, sequence):
    summary = _summary(sequence)
    layout = InputLayout.from_summary(summary)
    assert layout == InputLayout("sequence", 16 + MAX_TRACKS * 29, 16, MAX_TRACKS, 29)
    names = summary["feature_order"]
    assert names[16:45] == [f"trk0_{field}" for field in SEQUENCE_TRACK_FIELDS]
    assert names[-1] == f"trk{MAX_TRACKS - 1}_{PRESENT}"
    # the padding mask is 1 exactly for the jet's tracks (a jet identified by its raw pT and eta), never scaled
    test = pd.read_parquet(sequence / "test.parquet")
    _, batch = raw
    keys = pd.MultiIndex.from_arrays([batch.jets["jet_pt"], batch.jets["jet_eta"]])
    assert keys.is_unique
    n_tracks = pd.Series(batch.n_tracks, index=keys).loc[list(zip(test["raw_jet_pt"], test["raw_jet_eta"]))].to_numpy()
    present = test[[f"trk{slot}_{PRESENT}" for slot in range(MAX_TRACKS)]].to_numpy()
    assert np.array_equal(present, (np.arange(MAX_TRACKS) < n_tracks[:, None]).astype(np.float32))
    assert (n_tracks > MAX_TRACKS).any() or n_tracks.max() == MAX_TRACKS  # the truncation is exercised
    columns = {c["name"]: c for c in summary["features"]}
    assert columns[f"trk3_{PRESENT}"] | {"name": None} == {
        "name": None,
        "group": "track_padding",
        "source": PRESENT,
        "slot": 3,
        "is_integer": True,
        "default": 0.0,
        "mean": 0.0,
        "std": 1.0,
    }
    # a padded slot is default in every field; a track's own default shows in its mask only
    padded = present == 0
    for field in ("d0", "vertex_mass", PRESENT):
        mask = test[[default_column(f"trk{slot}_{field}") for slot in range(MAX_TRACKS)]].to_numpy()
        assert mask[padded].all()
    assert not test[[default_column(f"trk{s}_d0") for s in range(MAX_TRACKS)]].to_numpy()[~padded].any()


def test_a_track_field_is_scaled_alike_in_every_slot_with_its_pooled_genuine_training_values(raw, sequence, tmp_path):
    summary = _summary(sequence)
    columns = {c["name"]: c for c in summary["features"]}
    train_rows = pd.read_parquet(sequence / "train.parquet")
    for field in ("d0", "qoverp", "vertex_mass", "weight"):
        stats = {(columns[f"trk{s}_{field}"]["mean"], columns[f"trk{s}_{field}"]["std"]) for s in range(MAX_TRACKS)}
        assert len(stats) == 1, field
        (mean, std), default = stats.pop(), columns[f"trk0_{field}"]["default"]
        genuine = []
        for slot in range(MAX_TRACKS):
            name = f"trk{slot}_{field}"
            keep = ~train_rows[default_column(name)].to_numpy()
            genuine.append(train_rows[name].to_numpy(np.float64)[keep] * std + mean)
        genuine = np.concatenate(genuine)
        assert mean == pytest.approx(genuine.mean(), rel=1e-5, abs=1e-7), field
        assert std == pytest.approx(genuine.std(ddof=1), rel=1e-4), field
        assert default < genuine.min(), field
    # the flat layout (the DNN's) keeps a scale per slot, as the paper's code does
    preprocess(raw[0], tmp_path, PreprocessSettings(layout="flat"))
    flat = {c["name"]: c for c in _summary(tmp_path)["features"]}
    assert flat["trk0_d0"]["std"] != flat["trk5_d0"]["std"]
    assert InputLayout.from_summary(_summary(tmp_path)) == InputLayout("flat", 184, 16, 6, 28)


def test_preprocess_like_reproduces_the_sequence_test_split(raw, sequence, tmp_path):
    summary = _summary(sequence)
    assert preprocess_like(raw[0], tmp_path / "like.parquet", summary, rows_per_batch=1700) == N_JETS
    like = pd.read_parquet(tmp_path / "like.parquet")
    test_rows = split_assignment(N_JETS, PreprocessSettings.split, PreprocessSettings.seed) == 2
    expected = pd.read_parquet(sequence / "test.parquet")
    pd.testing.assert_frame_equal(like[test_rows].reset_index(drop=True), expected, check_exact=True)


# --- the taggers -------------------------------------------------------------------------


def _rows(sequence: Path, n: int = 300) -> tuple[torch.Tensor, dict]:
    summary = _summary(sequence)
    split = load_split(sequence / "test.parquet", summary, torch.device("cpu"))
    return split.x[:n].clone(), summary


def _present(x: torch.Tensor, layout: InputLayout) -> torch.Tensor:
    return x[:, 16:].reshape(len(x), layout.n_tracks, layout.n_track_fields)[..., -1]


@pytest.mark.parametrize("architecture", SET_MODELS)
def test_the_order_of_the_tracks_and_the_padding_values_do_not_matter(sequence, architecture):
    x, summary = _rows(sequence)
    layout = InputLayout.from_summary(summary)
    model = _model(architecture, summary)
    with torch.no_grad():
        reference = model(x)
        blocks = x[:, 16:].reshape(len(x), layout.n_tracks, layout.n_track_fields).clone()
        generator = torch.Generator().manual_seed(1)
        for row, count in enumerate(_present(x, layout).sum(1).long().tolist()):  # shuffle each jet's tracks
            order = torch.randperm(count, generator=generator)
            blocks[row, :count] = blocks[row, order]
        padded = blocks[..., -1] == 0
        blocks[..., :-1][padded] = torch.randn(int(padded.sum()), layout.n_track_fields - 1, generator=generator) * 50
        shuffled = torch.cat([x[:, :16], blocks.reshape(len(x), -1)], 1)
        assert padded.any() and not torch.equal(shuffled, x)
        torch.testing.assert_close(model(shuffled), reference, rtol=1e-5, atol=1e-5)
        # but a real track's fields do matter
        moved = x.clone()
        moved[:, 16] += 1.0  # the first track's d0
        assert (model(moved) - reference).abs().max() > 1e-4  # ten times the tolerance above


@pytest.mark.parametrize("architecture", SET_MODELS)
def test_a_jet_without_tracks_gets_finite_scores(sequence, architecture):
    x, summary = _rows(sequence, 4)
    layout = InputLayout.from_summary(summary)
    model = _model(architecture, summary)
    empty = x.clone()
    empty[:, 16:] = 0.0  # every slot padding
    with torch.no_grad():
        assert torch.isfinite(model(empty)).all()
    assert _present(empty, layout).sum() == 0


def test_a_set_based_tagger_refuses_the_flat_layout(sequence):
    flat = {"feature_order": ["x"] * 184, "features": [], "layout": {"kind": "flat", "n_inputs": 184}}
    with pytest.raises(ConfigError, match="deepsets tagger reads the sequence layout.*flat"):
        model_settings(ModelSettings(architecture="deepsets"), flat)
    with pytest.raises(ConfigError, match="dnn tagger reads the flat layout.*sequence"):
        model_settings(ModelSettings(), _summary(sequence))
    with pytest.raises(ConfigError, match="sequence layout"):
        Transformer(ModelSettings(architecture="transformer"))  # no layout from the data
    with pytest.raises(ConfigError, match="multiple of heads"):
        ModelSettings.from_dict({"architecture": "transformer", "transformer": {"dim": 30, "heads": 4}})
    model = _model("deepsets", _summary(sequence))
    with pytest.raises(ConfigError, match=r"shape \(jets, 364\)"):
        model(torch.zeros(2, 184))


# --- training in every mode ----------------------------------------------------------------


def _quick(mode: str, architecture: str, **changes) -> TrainingSettings:
    model = ModelSettings.from_dict({"architecture": architecture, "transformer": {"dim": 16, "blocks": 1}})
    return TrainingSettings(
        **{"mode": mode, "batch_size": 256, "max_epochs": 2, "patience": 2, "seed": 3, "model": model, **changes}
    )


def _train(sequence: Path, output: Path, settings: TrainingSettings) -> list[dict]:
    files = (sequence / "train.parquet", sequence / "val.parquet", sequence / "preprocessing.json")
    return train(*files, output, settings, threads=1)


@pytest.mark.parametrize("mode", [NOMINAL, *ATTACK_MODES])  # the defences against mismodelling: test_defences
@pytest.mark.parametrize("architecture", SET_MODELS)
def test_every_architecture_trains_in_every_mode_and_reloads_from_its_checkpoint(
    sequence, tmp_path, architecture, mode
):
    history = _train(sequence, tmp_path / "model", _quick(mode, architecture))
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(np.isfinite(row["train_loss"]) and 0.5 < row["val_auc_bvsl"] <= 1 for row in history)
    model = load_tagger(tmp_path / "model" / "epoch_002.pt", torch.device("cpu"))
    assert type(model) is {"deepsets": DeepSets, "transformer": Transformer}[architecture]
    assert model.settings.layout.kind == "sequence" and not model.training
    state = load_checkpoint(tmp_path / "model" / "epoch_002.pt")
    x, _ = _rows(sequence, 50)
    reference = build_model(model.settings)
    reference.load_state_dict(state["model"])
    with torch.no_grad():
        assert torch.equal(model(x), reference.eval()(x))


_TRAIN_SCRIPT = """
import sys
from pathlib import Path
from robusttag.config import ModelSettings, TrainingSettings
from robusttag.training import train
data, output, architecture, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
model = ModelSettings.from_dict({"architecture": architecture, "transformer": {"dim": 16, "blocks": 1}})
settings = TrainingSettings(mode=mode, batch_size=256, max_epochs=2, patience=2, seed=5, model=model)
train(data / "train.parquet", data / "val.parquet", data / "preprocessing.json", output, settings, threads=1)
"""


def _train_in_process(data: Path, output: Path, architecture: str, mode: str, kill_after_epoch=None, timeout=300):
    args = [str(data), str(output), architecture, mode]
    return train_in_process(_TRAIN_SCRIPT, args, kill_after_epoch, timeout)


# One mode per architecture: the resume itself is the architecture's state (its dropout's draws) with the
# mode's, and every mode's own draws are resumed on the DNN (test_training.py). nominal and adversarial: the
# same loop with fewer draws (dropout's are in these too; FGSM draws nothing).
@pytest.mark.parametrize("architecture, mode", [("deepsets", "pgd"), ("transformer", "ngm")])
def test_resume_after_kill_is_bit_identical(sequence, tmp_path, architecture, mode):
    """Dropout's draws (and PGD's random starts) come back from the checkpoint: killed after the first of two
    epochs, resumed for the second."""
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    sequence = first_jets(sequence, tmp_path / "first_jets", 1280)  # 5 batches an epoch
    reference = started(_TRAIN_SCRIPT, [str(sequence), str(straight), architecture, mode])  # beside the others
    try:
        assert _train_in_process(sequence, interrupted, architecture, mode, kill_after_epoch=1) == -signal.SIGKILL
        assert not (interrupted / "history.csv").exists()
        assert _train_in_process(sequence, interrupted, architecture, mode) == 0
    finally:
        assert finished(reference) == 0
    for epoch in range(1, 3):
        a = load_checkpoint(straight / f"epoch_{epoch:03d}.pt")
        b = load_checkpoint(interrupted / f"epoch_{epoch:03d}.pt")
        for name, tensor in a["model"].items():
            assert torch.equal(tensor, b["model"][name]), (epoch, name)
        assert a["val_loss"] == b["val_loss"] and a["train_loss"] == b["train_loss"]


# --- attacks and bounds on the track sequence ------------------------------------------------


def _box(sequence: Path, eps: float, n: int = 200, cap: float | None = 0.25):
    summary = _summary(sequence)
    split = load_split(sequence / "test.parquet", summary, torch.device("cpu"))
    x, movable = split.x[:n], split.movable[:n]
    constraints = Constraints.from_summary(summary, torch.device("cpu"), cap=cap)
    return summary, x, movable, split.labels[:n], constraints, *constraints.box(x, movable, eps)


@pytest.mark.parametrize("architecture", SET_MODELS)
def test_an_attack_never_moves_padding_defaults_or_integer_track_fields(sequence, architecture):
    summary, x, movable, labels, constraints, lo, hi = _box(sequence, 0.5)
    model = _model(architecture, summary)
    budget = torch.tensor(0.5)
    attacked = pgd_batch(model, x, labels, lo, hi, budget, steps=3, step_size=0.8, random_start=True)
    names = np.array(summary["feature_order"])
    fields = np.array([name.split("_", 1)[1] if name.startswith("trk") else "" for name in names])
    changed = (attacked != x).numpy()
    assert changed.any()
    fixed = ~movable.numpy()
    assert not changed[fixed].any()
    present = torch.as_tensor(fields == PRESENT)
    assert torch.equal(attacked[:, present], x[:, present])  # no track appears or vanishes
    integer = torch.as_tensor(fields == "vertex_n_tracks")
    assert torch.equal(attacked[:, integer], x[:, integer])
    padded = (x[:, present] == 0).repeat_interleave(len(SEQUENCE_TRACK_FIELDS), 1)
    assert torch.equal(attacked[:, 16:][padded], x[:, 16:][padded])
    assert set(constraints.violations(x, attacked, movable, 0.5).values()) == {0}


@pytest.mark.parametrize("architecture", SET_MODELS)
@pytest.mark.parametrize("eps", [0.0, 0.01, 0.2])
def test_interval_bounds_hold_every_point_of_the_box(sequence, architecture, eps):
    summary, x, movable, labels, _, lo, hi = _box(sequence, eps, n=60)
    model = _model(architecture, summary, seed=4)
    bounds = logit_difference_bounds(model, lo, hi, DISCRIMINATORS, "ibp")
    generator = torch.Generator().manual_seed(2)
    points = [x, lo, hi] + [lo + (hi - lo) * torch.rand(lo.shape, generator=generator) for _ in range(40)]
    points.append(
        pgd_batch(model, x, labels, lo, hi, torch.tensor(max(eps, 1e-9)), steps=5, step_size=0.5, random_start=False)
    )
    with torch.no_grad():
        logits = torch.stack([model(p) for p in points]).double()
    for name, (signal_class, background) in DISCRIMINATORS.items():
        lower, upper = bounds[name]
        difference = logits[..., signal_class] - logits[..., background]
        assert (difference >= lower - 1e-4).all() and (difference <= upper + 1e-4).all(), name
        if eps == 0:  # a box of one point: the bounds are the model's value
            torch.testing.assert_close(lower, difference[0], rtol=0, atol=1e-4)
            torch.testing.assert_close(upper, difference[0], rtol=0, atol=1e-4)
        else:
            assert (upper - lower > 0).all()


def test_set_based_taggers_are_bounded_by_ibp_only(sequence):
    summary, x, movable, _, _, lo, hi = _box(sequence, 0.01, n=5)
    model = _model("deepsets", summary)
    assert bound_method(model, "crown") == "ibp"
    with pytest.raises(ConfigError, match="ibp"):
        logit_difference_bounds(model, lo, hi, DISCRIMINATORS, "crown")
    moved = hi.clone()
    moved[:, 16 + 28] += 1.0  # the first track's padding mask
    with pytest.raises(ConfigError, match="padding mask"):
        logit_difference_bounds(model, lo, torch.maximum(moved, lo), DISCRIMINATORS, "ibp")
    assert replace(model.settings, architecture="dnn").input_layout == "flat"


def test_an_integer_step_may_move_a_tracks_vertex_count_but_never_its_padding_mask(sequence):
    from robusttag.evaluate import genuine_integer_mask

    summary = _summary(sequence)
    mask = genuine_integer_mask(sequence / "test.parquet", summary, torch.device("cpu")).numpy()
    names = summary["feature_order"]
    assert not mask[:, [i for i, n in enumerate(names) if n.endswith(f"_{PRESENT}")]].any()
    vertex_tracks = [i for i, n in enumerate(names) if n.endswith("_vertex_n_tracks")]
    assert mask[:, vertex_tracks].any()


# --- the deep set's exact verification -------------------------------------------------------


def _value(layers, x: torch.Tensor) -> torch.Tensor:
    """A plain Linear/ReLU network's logits in float64."""
    for weight, bias in layers[:-1]:
        x = (x @ weight.T + bias).clamp(min=0)
    return x @ layers[-1][0].T + layers[-1][1]


def test_the_deep_set_unrolled_per_pattern_of_tracks_is_the_deep_set(sequence):
    """One plain network per pattern of tracks, every jet in one: the same logits as the deep set at the
    jets, the corners and random points of their boxes, and the jet features it carries through its
    ReLUs never unstable (they add no branching)."""
    summary, x, _, _, _, lo, hi = _box(sequence, 0.2, n=120)
    model = _model("deepsets", summary, seed=4)
    networks = verifiable_networks(model, lo, hi)
    jets = np.concatenate([jets for _, jets in networks])
    assert sorted(jets) == list(range(120)) and len(networks) > 3
    reference = _model("deepsets", summary, seed=4).double()
    generator = torch.Generator().manual_seed(1)
    n_jet = model.settings.layout.n_jet_features
    for layers, jets in networks:
        box = lo[jets].double(), hi[jets].double()
        points = [x[jets].double(), *box, box[0] + (box[1] - box[0]) * torch.rand(box[0].shape, generator=generator)]
        for point in points:
            with torch.no_grad():
                torch.testing.assert_close(_value(layers, point), reference(point), rtol=0, atol=1e-10)
        for lower, _ in preactivation_bounds(layers, *box)[: model.settings.deepsets.track_depth]:
            assert (lower[:, :n_jet] >= 0).all()
    assert verifiable_networks(_model("transformer", summary), lo, hi) is None


def test_the_deep_sets_exact_search_finds_theenumerated_minimum(sequence):
    """On a tiny deep set (2 per-track neurons, a head of 3), jets of at most two tracks: the search on each
    pattern's network solves every problem (the BvsL log-odds minimised, and maximised) at the minimum found
    by enumerating the activation patterns of the unrolled network's unstable neurons."""
    summary, x, _, labels, _, lo, hi = _box(sequence, 0.3, n=1000)
    shape = DeepSetsSettings(track_width=2, track_depth=1, width=3, depth=1)
    model = _model("deepsets", summary, seed=3, deepsets=shape)
    layout = model.settings.layout
    present = x[:, layout.n_jet_features + layout.n_track_fields - 1 :: layout.n_track_fields]
    few = (present.sum(1) <= 2).nonzero().squeeze(1)[:8]  # up to 7 unstable neurons each
    lo, hi = lo[few].double(), hi[few].double()
    networks = verifiable_networks(model, lo, hi)
    assert len(networks) > 1
    for layers, jets in networks:
        box = lo[jets].repeat(2, 1), hi[jets].repeat(2, 1)
        spec = torch.tensor([[1.0, 0.0, -1.0]] * len(jets) + [[-1.0, 0.0, 1.0]] * len(jets), dtype=torch.float64)
        search = searched(layers, *box, spec)
        assert search.solved.all()
        bounds = preactivation_bounds(layers, *box)
        for i in range(len(spec)):
            stable = [(lower[i], upper[i]) for lower, upper in bounds]
            exact = enumerated_minimum(layers, box[0][i].numpy(), box[1][i].numpy(), spec[i].numpy(), stable)
            assert abs(float(search.lower[i]) - exact) <= 1e-5 and abs(float(search.upper[i]) - exact) <= 1e-5


def test_the_deep_sets_exact_bracket_lies_between_its_bound_and_every_attack(sequence):
    """The default deep set: each jet's certified log-odds at or above its interval bound and at or below
    every attack point's (PGD on the model itself, with and without a random start; the first given to the
    search as its start, so what it attains is at least as bad), and the certified AUC well above the
    interval bound's."""
    summary, x, _, labels, _, lo, hi = _box(sequence, 0.05, n=40)
    model = _model("deepsets", summary, seed=4)
    intervals = logit_difference_bounds(model, lo, hi, DISCRIMINATORS, "ibp")
    attacks = [
        pgd_batch(model, x, labels, lo, hi, torch.tensor(0.05), steps=10, step_size=0.3, random_start=start)
        for start in (False, True)
    ]
    starts = dict.fromkeys(DISCRIMINATORS, attacks[0])
    networks = verifiable_networks(model, lo, hi)
    cases = exact_worst_case(networks, lo.double(), hi.double(), labels.numpy(), DISCRIMINATORS, 1000, starts)
    with torch.no_grad():
        logits = [model.double()(attacked.double()) for attacked in attacks]
    for name, (signal_class, background) in DISCRIMINATORS.items():
        case = cases[name]
        lower, upper = (b.numpy()[case.jets] for b in intervals[name])
        bound = np.where(case.is_signal, lower, upper)
        sign = np.where(case.is_signal, 1.0, -1.0)
        assert (sign * case.certified >= sign * bound - 1e-6).all()
        assert (sign * case.certified <= sign * case.attained + 1e-9).all()
        for i, values in enumerate(logits):
            attack = (values[:, signal_class] - values[:, background]).numpy()[case.jets]
            assert (sign * case.certified <= sign * attack + 1e-9).all()
            if i == 0:
                assert (sign * case.attained <= sign * attack + 1e-9).all()
        assert auc(case.certified, case.is_signal) > auc(bound, case.is_signal) + 0.05
