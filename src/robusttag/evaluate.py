"""Scores of trained taggers on the test set, raw and under attack (paper section 4).

Per (model, checkpoint): test-set probabilities under raw inputs and under
FGSM at every epsilon. One input-gradient pass serves every epsilon, since
sign(grad) does not depend on it. At each model's selected checkpoint
(``training.selection``), a second file adds what is scored only there: the
baselines of the same sizes (Gaussian noise, coherent up/down shift) and the
transferred attacks, FGSM crafted on each other model. Each (attack, source,
epsilon) is scored once per checkpoint.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from .attacks import Constraints, input_gradient_sign, noise_step, project
from .attacks.constraints import budget_scale
from .attacks.iterative import fgsm_vertex
from .checkpoints import checkpoint_name, load_tagger
from .config import LossSettings, SampleSettings, ScoringSettings
from .data import Split, choose_device, load_split
from .errors import ConfigError
from .features import PRESENT, default_column
from .io import atomic_output, reuse_freed_memory
from .model import probabilities
from .paths import model_identity
from .preprocess import read_summary
from .scores import NO_SOURCE, SHIFTED_SAMPLE

log = logging.getLogger(__name__)


@dataclass
class TestSet:
    data: Split  #: standardised inputs, labels, flavour weights, movable mask
    constraints: Constraints  #: the box every attack stays in (scaling, floors, budget scale, cap)
    genuine_integers: torch.Tensor  #: (n, features) integer inputs that are not defaults

    def box(self, jets: slice, eps: float | None, capped: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(lo, hi) of a slice of jets at eps (None: the cap and floors only); without the cap unless ``capped``."""
        constraints = self.constraints if capped else replace(self.constraints, cap=None)
        return constraints.box(self.data.x[jets], self.data.movable[jets], eps)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.constraints.std + self.constraints.mean


def load_test_set(
    test_path,
    summary: dict,
    device: torch.device,
    max_jets: int | None = None,
    cap: float | None = None,
    scale: torch.Tensor | None = None,
) -> TestSet:
    """The test split on ``device`` with the scaling of ``summary`` (``preprocessing.json``),
    and the constraints of its attacks (``cap``: the raw-value cap; ``scale``: per-feature budget scale).
    """
    data = load_split(test_path, summary, device)
    genuine = genuine_integer_mask(test_path, summary, device)
    if max_jets is not None and max_jets < len(data):
        data, genuine = data.rows(torch.arange(max_jets, device=device)), genuine[:max_jets]
    return TestSet(data, Constraints.from_summary(summary, device, cap, scale), genuine)


def constrained_test_set(test_path, summary: dict, device: torch.device, settings, train_path) -> TestSet:
    """The test set of a job's settings: its jets, cap and budget scale (the quantile one from the training split)."""
    scale = budget_scale(settings.epsilon_scale, train_path, summary, device)
    return load_test_set(test_path, summary, device, settings.max_jets, settings.restrict_impact, scale)


def genuine_integer_mask(path, summary: dict, device: torch.device) -> torch.Tensor:
    """(n, features) bool: the integer inputs of a split that are not defaults (what an integer step may move).

    Never the sequence layout's padding masks: an integer step must not make a track appear or vanish.
    """
    names = summary["feature_order"]
    integer = [n for n, c in zip(names, summary["features"]) if c["is_integer"] and c["source"] != PRESENT]
    table = pq.read_table(path, columns=[default_column(n) for n in integer])
    mask = np.zeros((table.num_rows, len(names)), dtype=bool)
    for name, column in zip(integer, table.columns):
        mask[:, names.index(name)] = ~column.to_numpy(zero_copy_only=False)
    return torch.from_numpy(mask).to(device)


# ---------------------------------------------------------------------------
# Attacks and predictions over the whole test set, in batches
# ---------------------------------------------------------------------------


def jet_slices(n: int, size: int) -> Iterable[slice]:
    """Consecutive slices of ``size`` jets covering ``n``."""
    return (slice(start, start + size) for start in range(0, n, size))


def gradient_sign(model: torch.nn.Module, test: TestSet, loss: LossSettings, batch_size: int) -> torch.Tensor:
    """sign(grad_x J) of the unweighted loss for every test jet, model in eval mode."""
    model.eval()
    data = test.data
    parts = jet_slices(len(data), batch_size)
    return torch.cat([input_gradient_sign(model, data.x[p], data.labels[p], **loss_keywords(loss)) for p in parts])


def loss_keywords(loss: LossSettings) -> dict:
    """The keywords of the focal loss (:func:`.losses.focal_loss`) from the training's loss settings."""
    return {"gamma": loss.focal_gamma, "double_softmax": loss.double_softmax}


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(n, 3) probabilities p_b, p_c, p_light, on the inputs' device."""
    model.eval()
    return torch.cat([probabilities(model(x[part])) for part in jet_slices(len(x), batch_size)])


Inputs = Callable[[slice], torch.Tensor]  #: the (attacked) inputs of a slice of test jets


def raw_attack(test: TestSet) -> tuple[str, str, float, Inputs]:
    """(attack, attack_source, epsilon, inputs) of the raw test jets."""
    return "raw", NO_SOURCE, 0.0, lambda jets: test.data.x[jets]


def fgsm_attacks(
    test: TestSet, settings: ScoringSettings, signs: dict[str, torch.Tensor]
) -> Iterable[tuple[str, str, float, Inputs]]:
    """(attack, attack_source, epsilon, inputs) of FGSM from every source's
    gradient sign at every epsilon.

    ``inputs(jets)`` makes the inputs of a slice of jets only when asked: an
    attacked copy of the whole test set at a time (several temporaries of it
    for the cap) would need ~10 GB for the full dataset's 2.3 M test jets.
    """
    for source, sign in signs.items():
        for eps in settings.epsilons:
            yield "fgsm", source, eps, fgsm_inputs(test, sign, eps)


def baseline_attacks(test: TestSet, settings: ScoringSettings) -> Iterable[tuple[str, str, float, Inputs]]:
    """Gaussian noise and coherent up/down shifts of every epsilon, bounded as the attacks are
    by the cap and the default floors (the noise's width is eps; it has no eps box).

    Each noise attack draws from its own generator, in the order its slices are asked for.
    """
    x = test.data.x
    for index, eps in enumerate(settings.epsilons):
        generator = torch.Generator(device=x.device).manual_seed(settings.noise_seed * 1000 + index)
        noise = lambda jets, g=generator, eps=eps: noise_step(x[jets], eps, g)  # noqa: E731
        yield "noise", NO_SOURCE, eps, moved(test, noise)
        yield "shift_up", NO_SOURCE, eps, moved(test, lambda jets, eps=eps: torch.full_like(x[jets], eps))
        yield "shift_down", NO_SOURCE, eps, moved(test, lambda jets, eps=eps: torch.full_like(x[jets], -eps))


def fgsm_inputs(test: TestSet, sign: torch.Tensor, eps: float, capped: bool = True) -> Inputs:
    """FGSM (Eq. 2) from the gradient sign of every test jet: the corner of its box at eps
    the sign points to (the box without the cap unless ``capped``).
    """

    def inputs(jets: slice) -> torch.Tensor:
        return fgsm_vertex(test.data.x[jets], *test.box(jets, eps, capped), sign[jets])

    return inputs


def moved(test: TestSet, step: Inputs) -> Inputs:
    """The test jets moved by ``step``, projected onto their box without an eps budget."""
    return lambda jets: project(test.data.x[jets] + step(jets), *test.box(jets, None))


def in_slices(inputs: Inputs, n: int, batch_size: int, then: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """``then`` of the inputs of every slice of ``batch_size`` jets, joined on the host."""
    return np.concatenate([then(inputs(jets)).cpu().numpy() for jets in jet_slices(n, batch_size)])


def score_table(
    model: torch.nn.Module, identity: tuple[str, int, int], test: TestSet, attacks, batch_size: int
) -> pa.Table:
    """One row per (attack, test jet): the model's probabilities and the jet's label and weight.

    ``identity`` (mode, seed, epoch) is written into every row: a score file says what it scores.
    """
    probabilities_of = {
        (attack, source, eps): in_slices(inputs, len(test.data), batch_size, lambda x: predict(model, x, batch_size))
        for attack, source, eps, inputs in attacks
    }
    return scores_of(identity, test.data, probabilities_of)


def scores_of(identity: tuple[str, int, int], data: Split, probabilities_of: dict) -> pa.Table:
    """The score table of {(attack, attack_source, epsilon): (jets, 3) probabilities of every jet of ``data``}."""
    labels = data.labels.cpu().numpy().astype(np.int8)
    weights = data.weights.cpu().numpy()
    parts = []
    for (attack, source, eps), p in probabilities_of.items():
        columns = {
            "model": identity[0],
            "seed": identity[1],
            "epoch": identity[2],
            "attack": attack,
            "attack_source": source,
            "epsilon": eps,
            "label": labels,
            "weight": weights,
            "p_b": p[:, 0],
            "p_c": p[:, 1],
            "p_light": p[:, 2],
        }
        parts.append(_constant_columns_filled(columns, len(p)))
    return pa.concat_tables(parts, promote_options="permissive").combine_chunks()


def _constant_columns_filled(columns: dict, n: int) -> pa.Table:
    """A table of ``n`` rows: scalars repeated (strings dictionary-encoded, epsilon float32)."""

    def column(name, value):
        if isinstance(value, str):
            return pa.array([value] * n).dictionary_encode()
        if name in ("seed", "epoch"):
            return np.full(n, value, dtype=np.int32)
        if np.isscalar(value):
            return np.full(n, value, dtype=np.float32)
        return value

    return pa.table({name: column(name, value) for name, value in columns.items()})


# ---------------------------------------------------------------------------
# The jobs
# ---------------------------------------------------------------------------


def job_device(device: str, threads: int | None) -> torch.device:
    """A job's device (``auto``: CUDA when present) and its CPU threads; freed buffers stay in the heap."""
    reuse_freed_memory()
    if threads:
        torch.set_num_threads(threads)
    return choose_device(device)


def score_checkpoint(
    model_dir: str | os.PathLike,
    epoch: int,
    test_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    output: str | os.PathLike,
    settings: ScoringSettings,
    loss: LossSettings,
    *,
    white_box: bool = True,
    transfer_from: dict[str, str | os.PathLike] | None = None,
    baselines: bool = False,
    train_path: str | os.PathLike | None = None,
    threads: int | None = None,
) -> None:
    """Write the scores of one checkpoint of a trained model.

    Parameters
    ----------
    model_dir : the model's training output (``results/models/{mode}/seed_{seed}``: its identity).
    epoch : the checkpoint scored.
    test_path, summary_path : the test split and ``preprocessing.json``.
    output : the score file (Parquet, the columns ``tables.SCORE_COLUMNS`` reads).
    settings : the attacks' sizes, cap, baselines, test jets and batching.
    loss : the loss whose input gradient the attacks follow.
    white_box : score the raw inputs and FGSM crafted on this checkpoint itself.
    transfer_from : {source model: its checkpoint}: FGSM crafted on those (the
        transferred attacks of Fig. 4); a source named as this model is refused,
        since the white-box attack is scored by its own job.
    baselines : score the noise and shift baselines (when ``settings.baselines``).
    train_path : the training split, read for ``epsilon_scale: quantile`` only.

    Raises
    ------
    ConfigError
        When nothing is asked for, or a transfer source is the model itself.
    """
    model_dir, transfer_from = Path(model_dir), dict(transfer_from or {})
    name, seed = model_identity(model_dir)
    if name in transfer_from:
        raise ConfigError(f"{name}: the white-box FGSM is scored by the checkpoint's own job, not as a transfer")
    baselines = baselines and settings.baselines
    if not (white_box or transfer_from or baselines):
        raise ConfigError(f"{output}: no attack asked for (white box, transfers or baselines)")
    device = job_device(settings.device, threads)
    summary = read_summary(summary_path)
    test = constrained_test_set(test_path, summary, device, settings, train_path)
    model = load_tagger(model_dir / checkpoint_name(epoch), device)
    attacks = []
    if white_box:
        signs = {name: gradient_sign(model, test, loss, settings.batch_size)}
        attacks += [raw_attack(test), *fgsm_attacks(test, settings, signs)]
    signs = {
        source: gradient_sign(load_tagger(path, device), test, loss, settings.batch_size)
        for source, path in transfer_from.items()
    }
    attacks += list(fgsm_attacks(test, settings, signs))
    if baselines:
        attacks += list(baseline_attacks(test, settings))
    table = score_table(model, (name, seed, epoch), test, attacks, settings.batch_size)
    with atomic_output(output) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    log.info("%s: %d rows from %s seed %d epoch %d", output, table.num_rows, name, seed, epoch)


def score_validation(
    model_dir: str | os.PathLike,
    epoch: int,
    validation_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    output: str | os.PathLike,
    settings: ScoringSettings,
    *,
    threads: int | None = None,
) -> None:
    """Write the raw scores of the validation split (attack ``raw``): where the
    fixed-cut working points get their cuts (:mod:`.working_points`).

    Every validation jet is scored (``max_jets`` limits the test jets only).
    """
    device = job_device(settings.device, threads)
    data = load_split(validation_path, read_summary(summary_path), device, with_movable=False)
    name, seed = model_identity(model_dir)
    model = load_tagger(Path(model_dir) / checkpoint_name(epoch), device)
    p = predict(model, data.x, settings.batch_size).cpu().numpy()
    table = scores_of((name, seed, epoch), data, {("raw", NO_SOURCE, 0.0): p})
    with atomic_output(output) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    log.info("%s: %d validation jets from %s seed %d epoch %d", output, table.num_rows, name, seed, epoch)


def score_shifted_samples(
    model_dir: str | os.PathLike,
    epochs: list[int],
    samples: dict[str, str | os.PathLike],
    validation_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    outputs: tuple[str | os.PathLike, str | os.PathLike],
    settings: ScoringSettings,
    *,
    threads: int | None = None,
) -> None:
    """Write a model's raw scores on every shifted sample and on the nominal validation split, at ``epochs``.

    ``samples`` are {name: preprocessed file} (``preprocess.preprocess_like``: the nominal statistics);
    their rows carry the name as ``attack`` and SHIFTED_SAMPLE as ``attack_source``. The validation rows
    (attack ``raw``) give each checkpoint its working-point cuts, fixed on nominal simulation.
    ``outputs`` are (sample scores, validation scores). Every jet of every sample is scored.
    """
    device = job_device(settings.device, threads)
    summary = read_summary(summary_path)
    name, seed = model_identity(model_dir)
    data = {sample: load_split(path, summary, device, with_movable=False) for sample, path in samples.items()}
    validation = load_split(validation_path, summary, device, with_movable=False)
    shifted_parts, validation_parts = [], []
    for epoch in epochs:
        model = load_tagger(Path(model_dir) / checkpoint_name(epoch), device)
        for sample, split in data.items():
            p = predict(model, split.x, settings.batch_size).cpu().numpy()
            shifted_parts.append(scores_of((name, seed, epoch), split, {(sample, SHIFTED_SAMPLE, 0.0): p}))
        p = predict(model, validation.x, settings.batch_size).cpu().numpy()
        validation_parts.append(scores_of((name, seed, epoch), validation, {("raw", NO_SOURCE, 0.0): p}))
    for output, parts in zip(outputs, (shifted_parts, validation_parts)):
        table = pa.concat_tables(parts, promote_options="permissive").combine_chunks()
        with atomic_output(output) as tmp:
            pq.write_table(table, tmp, compression="zstd")
    log.info("%s: %d samples x %d checkpoints of %s seed %d", outputs[0], len(samples), len(epochs), name, seed)


def adversarial_samples(
    checkpoints: dict[str, str | os.PathLike],
    test_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    output: str | os.PathLike,
    settings: SampleSettings,
    loss: LossSettings,
    *,
    train_path: str | os.PathLike | None = None,
    threads: int | None = None,
) -> None:
    """Write the raw-unit values of the figures' features, raw and under FGSM, per model.

    Fig. 5: capped as configured, at ``input_epsilons``; Fig. 10: at
    ``uncapped_epsilon`` without the cap. Only these few columns are kept
    (full samples are large); they are found by name in the preprocessing's
    feature order, whatever the number of track slots.

    Raises
    ------
    ConfigError
        When a feature asked for is not among the preprocessed inputs.
    """
    device = job_device(settings.device, threads)
    summary = read_summary(summary_path)
    order = summary["feature_order"]
    missing = [n for n in settings.sampled_features() if n not in order]
    if missing:
        raise ConfigError(
            f"evaluation.figures.input_features: {missing} are not among the {len(order)} inputs of {summary_path}"
        )
    names = sorted(settings.sampled_features(), key=order.index)
    columns = [order.index(n) for n in names]
    test = constrained_test_set(test_path, summary, device, settings, train_path)
    data, cap = test.data, settings.restrict_impact
    parts = []
    for model_name, checkpoint in checkpoints.items():
        sign = gradient_sign(load_tagger(checkpoint, device), test, loss, settings.batch_size)
        variants = [("raw", 0.0, False, lambda jets: data.x[jets])]
        variants += [("fgsm", eps, cap is not None, fgsm_inputs(test, sign, eps)) for eps in settings.input_epsilons]
        variants.append(
            ("fgsm", settings.uncapped_epsilon, False, fgsm_inputs(test, sign, settings.uncapped_epsilon, capped=False))
        )
        for attack, eps, capped, inputs in variants:
            raw = in_slices(inputs, len(data), settings.batch_size, lambda x: test.raw(x)[:, columns])
            n = len(raw)
            parts.append(
                pa.table(
                    {
                        "model": pa.array([model_name] * n).dictionary_encode(),
                        "label": data.labels.cpu().numpy().astype(np.int8),
                        "attack": pa.array([attack] * n).dictionary_encode(),
                        "epsilon": np.full(n, eps, dtype=np.float32),
                        "capped": np.full(n, capped),
                        **{name: raw[:, i] for i, name in enumerate(names)},
                    }
                )
            )
    with atomic_output(output) as tmp:
        pq.write_table(pa.concat_tables(parts, promote_options="permissive"), tmp, compression="zstd")
