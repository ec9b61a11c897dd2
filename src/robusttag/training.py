"""Training of the tagger, nominal or FGSM-adversarial, with per-epoch
checkpoints, early stopping and exact resume.

Checkpoint selection and early stopping minimise the same score
(``training.selection``): by default a trailing mean of one minus the
validation AUCs, since the focal loss (gamma 25) of the validation jets is
dominated by a few badly misclassified jets and wanders between late epochs.

Batches are slices of a seeded permutation of a split held on the device
(``data.Split``).

Resume: the epochs in progress live in a state folder outside the job's
declared output (a workflow manager deletes the outputs of a failed job);
a rerun continues after the last complete epoch whose checkpoint carries
the same configuration hash. Everything random is either re-seeded per epoch
(the batch order) or restored from the checkpoint (dropout's generator), so a
resumed run ends bit-identical to an uninterrupted one on the same device.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch

from .architectures import build_model
from .attacks import Constraints, fgsm, input_gradient_sign
from .attacks.adversaries import default_step_size, ngm_batch, pgd_batch
from .checkpoints import checkpoint_name, resume_point, save_checkpoint
from .config import NOMINAL, ModelSettings, TrainingSettings
from .data import Split, choose_device, load_split, n_inputs
from .errors import ConfigError
from .features import InputLayout
from .history import HISTORY_COLUMNS, selection_score
from .io import atomic_output, reuse_freed_memory
from .losses import focal_loss
from .paths import history_file
from .validation import validation_metrics

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# One epoch
# ---------------------------------------------------------------------------


def learning_rate(settings: TrainingSettings, epoch: int) -> float:
    """The paper's schedule, epoch counted from 0: lr / (1 + epoch / 30)."""
    return settings.lr / (1.0 + epoch / settings.lr_decay_epochs)


def batch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """A permutation that depends only on the seed and the epoch (resume-safe)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).to(device)


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Split,
    settings: TrainingSettings,
    epoch: int,
) -> torch.Tensor:
    """One pass over the training split; returns the mean weighted batch loss,
    still on the device (reading it waits for the device: once per epoch).
    """
    model.train()
    order = batch_order(len(data), settings.seed, epoch, data.x.device)
    total, batches = torch.zeros((), device=data.x.device), 0
    for start in range(0, len(data), settings.batch_size):
        batch = data.rows(order[start : start + settings.batch_size])
        optimizer.zero_grad(set_to_none=True)
        loss = backpropagate(model, batch.x, batch.labels, batch.weights, batch.movable, settings, batch.box)
        optimizer.step()
        total += loss.detach()
        batches += 1
    return total / batches


def backpropagate(
    model: torch.nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    movable: torch.Tensor | None,
    settings: TrainingSettings,
    box: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Loss of one batch, its gradients accumulated into the parameters.

    An attacking mode replaces the batch by its attacked version first
    (:func:`adversarial_batch`); with ``clean_fraction`` f the loss is
    (1 - f) times the attacked batch's plus f times the clean batch's, else
    the network never sees the clean batch.
    """
    clean = x
    if settings.mode != NOMINAL:
        x = adversarial_batch(model, x, labels, movable, settings, box)
    loss = focal_loss(model(x), labels, weights, settings.focal_gamma, settings.double_softmax)
    if settings.mode != NOMINAL and settings.clean_fraction > 0:
        clean_loss = focal_loss(model(clean), labels, weights, settings.focal_gamma, settings.double_softmax)
        loss = (1 - settings.clean_fraction) * loss + settings.clean_fraction * clean_loss
    loss.backward()
    return loss


def adversarial_batch(
    model: torch.nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    movable: torch.Tensor,
    settings: TrainingSettings,
    box: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The attacked version of a batch, crafted on the current model: FGSM (Eq. 2, no cap) in mode
    ``adversarial``; PGD or NGM (:mod:`.attacks.adversaries`) in ``box``, the batch's (lo, hi) at
    ``epsilon`` (:func:`attack_box`), with steps in units of ``epsilon``.

    Raises
    ------
    ConfigError
        For PGD or NGM without a box.
    """
    if not settings.attack_dropout:
        model.eval()
    try:
        if settings.mode == "adversarial":
            sign = input_gradient_sign(
                model,
                x,
                labels,
                gamma=settings.focal_gamma,
                double_softmax=settings.double_softmax,
                into_parameters=settings.accumulate_attack_grad,
            )
            return fgsm(x, sign, movable, settings.epsilon)
        if box is None:
            raise ConfigError(f"training mode {settings.mode} needs the constraint box of its inputs")
        lo, hi = box
        budget = x.new_full((), settings.epsilon)  # made on the device: no host copy per batch
        if settings.mode == "pgd":
            step_size = settings.pgd_step_size or default_step_size(settings.pgd_steps)
            return pgd_batch(
                model,
                x,
                labels,
                lo,
                hi,
                budget,
                steps=settings.pgd_steps,
                step_size=step_size,
                random_start=settings.pgd_random_start,
            )
        return ngm_batch(
            model,
            x,
            labels,
            movable,
            lo,
            hi,
            budget,
            steps=settings.ngm_steps,
            step_size=settings.ngm_step_size,
            norm=settings.ngm_norm,
        )
    finally:
        model.train()


def model_settings(model: ModelSettings, summary: dict) -> ModelSettings:
    """The network's shape on the inputs of ``summary`` (``preprocessing.json``): its width and layout.

    Raises
    ------
    ConfigError
        When the architecture reads another layout than the preprocessing made.
    """
    layout = InputLayout.from_summary(summary)
    if layout.kind != model.input_layout:
        raise ConfigError(
            f"the {model.architecture} tagger reads the {model.input_layout} layout of the inputs, "
            f"but the preprocessing made the {layout.kind} layout"
        )
    return replace(model, n_inputs=n_inputs(summary), layout=layout)


@torch.no_grad()
def attack_box(data: Split, summary: dict, settings: TrainingSettings) -> Split:
    """The split with the attack box of every jet at the training epsilon: the evaluation attacks' box
    (:class:`.attacks.Constraints`: integers and defaults fixed, eps per input, the mode's raw-value cap,
    the default floor, exact to the last bit), computed once, since it depends on the jet alone, and
    gathered with each batch. It holds twice the split's inputs in memory.
    """
    constraints = Constraints.from_summary(summary, data.x.device, cap=settings.attack_cap)
    lo, hi = constraints.box(data.x, data.movable, settings.epsilon)
    return replace(data, lo=lo, hi=hi)


# ---------------------------------------------------------------------------
# The whole training
# ---------------------------------------------------------------------------


def train(
    train_path: str | os.PathLike,
    val_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    settings: TrainingSettings,
    *,
    state_dir: str | os.PathLike | None = None,
    threads: int | None = None,
) -> list[dict]:
    """Train until early stopping or ``max_epochs``; returns the history rows.

    ``output_dir`` receives ``epoch_NNN.pt`` for every epoch and
    ``history.csv`` when training is complete. ``state_dir`` (default: a
    sibling ``.<name>.in_progress``) holds the epochs while training runs, so
    that an interrupted job resumes.
    """
    if threads:
        torch.set_num_threads(threads)
    reuse_freed_memory()
    device = choose_device(settings.device)
    output_dir = Path(output_dir)
    state_dir = Path(state_dir) if state_dir else output_dir.with_name(f".{output_dir.name}.in_progress")
    summary_text = Path(summary_path).read_text()
    summary = json.loads(summary_text)
    fingerprint = settings.fingerprint(hashlib.sha256(summary_text.encode()).hexdigest())

    torch.manual_seed(settings.seed)
    model = build_model(model_settings(settings.model, summary)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    progress = {"history": [], "best_selection_score": float("inf"), "epochs_without_improvement": 0}
    resumed = resume_point(state_dir, fingerprint, device)
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        torch.set_rng_state(resumed["rng_cpu"].cpu())
        if resumed["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in resumed["rng_cuda"]])
        progress = {key: resumed[key] for key in progress}
        log.info("resuming after epoch %d", resumed["epoch"])

    data = load_split(train_path, summary, device, with_movable=settings.mode != NOMINAL)
    if settings.mode in ("pgd", "ngm"):
        data = attack_box(data, summary, settings)
    val = load_split(val_path, summary, device, with_movable=False)
    log.info("%s training on %s: %d training jets, %d validation jets", settings.mode, device, len(data), len(val))
    state_dir.mkdir(parents=True, exist_ok=True)
    epoch = len(progress["history"])
    while epoch < settings.max_epochs and progress["epochs_without_improvement"] < settings.patience:
        row = _run_epoch(model, optimizer, data, val, settings, epoch)
        epoch += 1
        row["epoch"] = epoch
        score = selection_score([*progress["history"], row], settings.selection_metric, settings.selection_smoothing)
        row["selection_score"] = score
        if score < progress["best_selection_score"]:
            progress["best_selection_score"], progress["epochs_without_improvement"] = score, 0
        else:
            progress["epochs_without_improvement"] += 1
        progress["history"].append(row)
        save_checkpoint(state_dir / checkpoint_name(epoch), model, optimizer, epoch, row, progress, fingerprint)
        log.info(
            "epoch %d: train loss %.6g, val loss %.6g, val AUC BvsL %.4f CvsL %.4f, lr %.3g, %.1f s (%.0f jets/s)",
            epoch,
            row["train_loss"],
            row["val_loss"],
            row["val_auc_bvsl"],
            row["val_auc_cvsl"],
            row["lr"],
            row["seconds"],
            row["jets_per_s"],
        )
    _publish(state_dir, output_dir, progress["history"])
    return progress["history"]


def _run_epoch(model, optimizer, data: Split, val: Split, settings: TrainingSettings, epoch: int) -> dict:
    lr = learning_rate(settings, epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
    start = time.perf_counter()
    train_loss = float(train_epoch(model, optimizer, data, settings, epoch))  # waits for the device
    seconds = time.perf_counter() - start
    return {
        "train_loss": train_loss,
        **validation_metrics(model, val, settings),
        "lr": lr,
        "seconds": seconds,
        "jets_per_s": len(data) / seconds,
    }


def _publish(state_dir: Path, output_dir: Path, history: list[dict]) -> None:
    """Link the finished epochs into the output folder and write history.csv last;
    the state goes only once all is in place (a crash here still resumes).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    for row in history:
        name = checkpoint_name(row["epoch"])
        (output_dir / name).unlink(missing_ok=True)
        try:
            os.link(state_dir / name, output_dir / name)
        except OSError:  # another file system
            shutil.copy2(state_dir / name, output_dir / name)
    with atomic_output(history_file(output_dir)) as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows({key: row[key] for key in HISTORY_COLUMNS} for row in history)
    shutil.rmtree(state_dir, ignore_errors=True)
