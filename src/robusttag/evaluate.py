"""Scores of trained taggers on the test set, raw and under attack (paper section 4).

Per (model, checkpoint): test-set probabilities under raw inputs and under
FGSM at every epsilon. One input-gradient pass serves every epsilon, since
sign(grad) does not depend on it. At each model's selected checkpoint (the
lowest validation loss), also the baselines of the same sizes (Gaussian noise,
coherent up/down shift) and the cross attack: FGSM crafted on the other model.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from .attacks import input_gradient_sign, noise_step, perturb, raw_step_limit
from .errors import ConfigError
from .features import INPUT_NAMES
from .io import atomic_output
from .model import ModelSettings, Tagger, probabilities
from .training import Split, TrainingSettings, choose_device, load_checkpoint, load_split

log = logging.getLogger(__name__)

ATTACKS = ("raw", "fgsm", "noise", "shift_up", "shift_down")
NO_SOURCE = "none"  #: attack_source of raw inputs' and baselines' rows: crafted on no model


@dataclass(frozen=True)
class FigureSettings:
    input_features: tuple[str, ...] = ("trk0_d0", "trk0_z0", "track_2_d0_significance", "vertex_mass")
    input_epsilons: tuple[float, ...] = (0.01, 0.05)  #: Fig. 5
    uncapped_epsilon: float = 0.1  #: Fig. 10, plain Eq. 2
    checkpoints: int = 4  #: Fig. 7: checkpoints drawn, evenly spaced

    def __post_init__(self) -> None:
        unknown = [name for name in self.input_features if name not in INPUT_NAMES]
        if unknown:
            raise ConfigError(f"evaluation.figures.input_features: {unknown} are not among the 184 inputs")


@dataclass(frozen=True)
class EvaluationSettings:
    epsilons: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05)
    restrict_impact: float | None = 0.25  #: the cap, fraction of the raw value; None: plain Eq. 2
    epochs: str | tuple[int, ...] = "all"  #: checkpoints scanned (the selected one always is)
    baselines: bool = True  #: Gaussian noise and coherent shifts at the selected checkpoint
    noise_seed: int = 1
    weighted: bool = False  #: metrics with the test jets' flavour weights
    max_jets: int | None = None  #: evaluate only the first test jets (None: all)
    summary_epsilon: float = 0.05  #: the epsilon of the summary and of Figs. 7 and 8
    batch_size: int = 65536
    device: str = "auto"
    figures: FigureSettings = field(default_factory=FigureSettings)

    def __post_init__(self) -> None:
        if not self.epsilons or any(e <= 0 for e in self.epsilons):
            raise ConfigError(f"evaluation.epsilons must be positive, got {list(self.epsilons)}")
        if self.summary_epsilon not in self.epsilons:
            raise ConfigError(
                f"evaluation.summary_epsilon {self.summary_epsilon} must be one of evaluation.epsilons "
                f"{list(self.epsilons)}"
            )
        if self.restrict_impact is not None and self.restrict_impact <= 0:
            raise ConfigError(f"evaluation.restrict_impact must be positive or null, got {self.restrict_impact}")
        if self.epochs != "all" and (isinstance(self.epochs, str) or any(e < 1 for e in self.epochs)):
            raise ConfigError(f"evaluation.epochs must be 'all' or a list of epochs >= 1, got {self.epochs}")

    @classmethod
    def from_config(cls, section: dict) -> EvaluationSettings:
        values = dict(section)
        figures = FigureSettings(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in values.pop("figures", {}).items()})  # fmt: skip
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(figures=figures, **values)


# ---------------------------------------------------------------------------
# Inputs: checkpoints, the selected epoch, the test set
# ---------------------------------------------------------------------------


def read_history(path: str | os.PathLike) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def selected_epoch(history_path: str | os.PathLike) -> int:
    """The checkpoint a model is judged by: the epoch of the lowest validation loss."""
    rows = read_history(history_path)
    if not rows:
        raise ConfigError(f"{history_path}: no epochs in the training history")
    return int(min(rows, key=lambda row: row["val_loss"])["epoch"])


def scanned_epochs(history_path: str | os.PathLike, settings: EvaluationSettings) -> list[int]:
    """The checkpoints to evaluate: those asked for that were trained, and always the selected one."""
    trained = [int(row["epoch"]) for row in read_history(history_path)]
    wanted = set(trained) if settings.epochs == "all" else set(settings.epochs) & set(trained)
    skipped = sorted(set(() if settings.epochs == "all" else settings.epochs) - set(trained))
    if skipped:
        log.info("%s: epochs %s were not trained (early stopping); not scanned", history_path, skipped)
    return sorted(wanted | {selected_epoch(history_path)})


def selected_checkpoints(model_dirs: Iterable[str | os.PathLike]) -> dict[str, Path]:
    """{model name: its selected checkpoint} for trained model directories (named by mode)."""
    paths = {}
    for directory in map(Path, model_dirs):
        epoch = selected_epoch(directory / "history.csv")
        paths[directory.name] = directory / f"epoch_{epoch:03d}.pt"
    return paths


def load_tagger(path: str | os.PathLike, device: torch.device) -> Tagger:
    """A trained tagger from its checkpoint, in evaluation mode."""
    state = load_checkpoint(path, device)
    model = Tagger(ModelSettings(**state["model_settings"])).to(device)
    model.load_state_dict(state["model"])
    return model.eval()


@dataclass
class TestSet:
    data: Split  #: standardised inputs, labels, flavour weights, movable mask
    mean: torch.Tensor  #: (features,) for raw = x * std + mean
    std: torch.Tensor

    def step_limit(self, cap: float | None, jets: slice = slice(None)) -> torch.Tensor | None:
        return None if cap is None else raw_step_limit(self.data.x[jets], self.mean, self.std, cap)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


def load_test_set(test_path, summary_path, device: torch.device, max_jets: int | None = None) -> TestSet:
    summary = json.loads(Path(summary_path).read_text())
    data = load_split(test_path, summary, device)
    if max_jets is not None and max_jets < len(data):
        data = data.rows(torch.arange(max_jets, device=device))
    columns = summary["features"]
    mean = torch.tensor([c["mean"] for c in columns], dtype=torch.float32, device=device)
    std = torch.tensor([c["std"] for c in columns], dtype=torch.float32, device=device)
    return TestSet(data, mean, std)


# ---------------------------------------------------------------------------
# Attacks and predictions over the whole test set, in batches
# ---------------------------------------------------------------------------


def _batches(n: int, size: int) -> Iterable[slice]:
    return (slice(start, start + size) for start in range(0, n, size))


def gradient_sign(model: Tagger, test: TestSet, training: TrainingSettings, batch_size: int) -> torch.Tensor:
    """sign(grad_x J) of the unweighted loss for every test jet, model in eval mode."""
    model.eval()
    data = test.data
    return torch.cat([
        input_gradient_sign(model, data.x[part], data.labels[part],
                            gamma=training.focal_gamma, double_softmax=training.double_softmax)
        for part in _batches(len(data), batch_size)
    ])  # fmt: skip


@torch.no_grad()
def predict(model: Tagger, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(n, 3) probabilities p_b, p_c, p_light, on the inputs' device."""
    model.eval()
    return torch.cat([probabilities(model(x[part])) for part in _batches(len(x), batch_size)])


Inputs = Callable[[slice], torch.Tensor]  #: the (attacked) inputs of a slice of test jets


def attacked_inputs(
    test: TestSet, settings: EvaluationSettings, signs: dict[str, torch.Tensor], baselines: bool
) -> Iterable[tuple[str, str, float, Inputs]]:
    """(attack, attack_source, epsilon, inputs) for raw inputs, FGSM from every
    source's gradient sign at every epsilon, and the baselines if asked.

    ``inputs(jets)`` makes the inputs of a slice of jets only when asked: an
    attacked copy of the whole test set at a time (several temporaries of it
    for the cap) would need ~10 GB for the full dataset's 2.3 M test jets.
    Each noise attack draws from its own generator, in the order its slices
    are asked for.
    """
    data, cap = test.data, settings.restrict_impact
    yield "raw", NO_SOURCE, 0.0, lambda jets: data.x[jets]
    for source, sign in signs.items():
        for eps in settings.epsilons:
            yield "fgsm", source, eps, fgsm_inputs(test, sign, eps, cap)
    if not baselines:
        return
    for index, eps in enumerate(settings.epsilons):
        generator = torch.Generator(device=data.x.device).manual_seed(settings.noise_seed * 1000 + index)
        noise = lambda jets, g=generator, eps=eps: noise_step(data.x[jets], eps, g)  # noqa: E731
        yield "noise", NO_SOURCE, eps, moved(test, noise, cap)
        yield "shift_up", NO_SOURCE, eps, moved(test, lambda jets, eps=eps: torch.full_like(data.x[jets], eps), cap)
        yield "shift_down", NO_SOURCE, eps, moved(test, lambda jets, eps=eps: torch.full_like(data.x[jets], -eps), cap)


def fgsm_inputs(test: TestSet, sign: torch.Tensor, eps: float, cap: float | None) -> Inputs:
    """FGSM (Eq. 2) from the gradient sign of every test jet, capped when ``cap`` is given."""
    return moved(test, lambda jets: sign[jets] * eps, cap)


def moved(test: TestSet, step: Inputs, cap: float | None) -> Inputs:
    """The test jets moved by ``step`` where movable, each step capped when ``cap`` is given."""
    data = test.data
    return lambda jets: perturb(data.x[jets], step(jets), data.movable[jets], test.step_limit(cap, jets))


def in_slices(inputs: Inputs, n: int, batch_size: int, then: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """``then`` of the inputs of every slice of ``batch_size`` jets, joined on the host."""
    return np.concatenate([then(inputs(jets)).cpu().numpy() for jets in _batches(n, batch_size)])


def score_table(model: Tagger, test: TestSet, attacks, batch_size: int) -> pa.Table:
    """One row per (attack, test jet): the model's probabilities and the jet's label and weight."""
    parts = []
    labels = test.data.labels.cpu().numpy().astype(np.int8)
    weights = test.data.weights.cpu().numpy()
    for attack, source, eps, inputs in attacks:
        p = in_slices(inputs, len(labels), batch_size, lambda x: predict(model, x, batch_size))
        n = len(p)
        parts.append(pa.table({
            "label": labels, "weight": weights,
            "attack": pa.array([attack] * n).dictionary_encode(),
            "attack_source": pa.array([source] * n).dictionary_encode(),
            "epsilon": np.full(n, eps, dtype=np.float32),
            "p_b": p[:, 0], "p_c": p[:, 1], "p_light": p[:, 2],
        }))  # fmt: skip
    return pa.concat_tables(parts, promote_options="permissive").combine_chunks()


# ---------------------------------------------------------------------------
# The jobs
# ---------------------------------------------------------------------------


def _setup(settings: EvaluationSettings, threads: int | None) -> torch.device:
    if threads:
        torch.set_num_threads(threads)
    return choose_device(settings.device)


def score_checkpoint(
    model_name: str,
    checkpoint: str | os.PathLike,
    test_path,
    summary_path,
    output: str | os.PathLike,
    settings: EvaluationSettings,
    training: TrainingSettings,
    *,
    cross: dict[str, str | os.PathLike] | None = None,
    threads: int | None = None,
) -> None:
    """Scores of one checkpoint. Without ``cross``: raw and its own FGSM at every
    epsilon. With ``cross`` ({source model: its checkpoint}): FGSM crafted on
    those models, and the baselines when configured (the selected checkpoint's
    extra file)."""
    device = _setup(settings, threads)
    test = load_test_set(test_path, summary_path, device, settings.max_jets)
    model = load_tagger(checkpoint, device)
    if cross is None:
        signs = {model_name: gradient_sign(model, test, training, settings.batch_size)}
        attacks = attacked_inputs(test, settings, signs, baselines=False)
    else:
        signs = {source: gradient_sign(load_tagger(path, device), test, training, settings.batch_size)
                 for source, path in cross.items()}  # fmt: skip
        attacks = (a for a in attacked_inputs(test, settings, signs, settings.baselines) if a[0] != "raw")
    table = score_table(model, test, attacks, settings.batch_size)
    with atomic_output(output) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    log.info("%s: %d rows from %s", output, table.num_rows, checkpoint)


def adversarial_samples(
    checkpoints: dict[str, str | os.PathLike],
    test_path,
    summary_path,
    output: str | os.PathLike,
    settings: EvaluationSettings,
    training: TrainingSettings,
    *,
    threads: int | None = None,
) -> None:
    """Raw-unit values of the figures' features, raw and under FGSM, per model
    (Fig. 5: capped, at ``figures.input_epsilons``; Fig. 10: ``figures.uncapped_epsilon``
    without the cap). Only these few columns are kept: full samples are large."""
    device = _setup(settings, threads)
    test = load_test_set(test_path, summary_path, device, settings.max_jets)
    names = sorted(set(settings.figures.input_features) | {"trk0_d0"}, key=INPUT_NAMES.index)
    columns = [INPUT_NAMES.index(n) for n in names]
    data, cap = test.data, settings.restrict_impact
    parts = []
    for model_name, checkpoint in checkpoints.items():
        sign = gradient_sign(load_tagger(checkpoint, device), test, training, settings.batch_size)
        variants = [("raw", 0.0, False, lambda jets: data.x[jets])]
        variants += [("fgsm", eps, cap is not None, fgsm_inputs(test, sign, eps, cap))
                     for eps in settings.figures.input_epsilons]  # fmt: skip
        eps = settings.figures.uncapped_epsilon
        variants.append(("fgsm", eps, False, fgsm_inputs(test, sign, eps, None)))
        for attack, eps, capped, inputs in variants:
            raw = in_slices(inputs, len(data), settings.batch_size, lambda x: test.raw(x)[:, columns])
            n = len(raw)
            parts.append(pa.table({
                "model": pa.array([model_name] * n).dictionary_encode(),
                "label": data.labels.cpu().numpy().astype(np.int8),
                "attack": pa.array([attack] * n).dictionary_encode(),
                "epsilon": np.full(n, eps, dtype=np.float32),
                "capped": np.full(n, capped),
                **{name: raw[:, i] for i, name in enumerate(names)},
            }))  # fmt: skip
    with atomic_output(output) as tmp:
        pq.write_table(pa.concat_tables(parts, promote_options="permissive"), tmp, compression="zstd")

