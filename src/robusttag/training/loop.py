"""The training loop of every mode (nominal; against attacks, :mod:`.adversarial`; against mismodelling,
:mod:`.mismodelling`), with per-epoch checkpoints, early stopping and exact resume.

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
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from ..architectures import build_model
from ..checkpoints import checkpoint_name, resume_point, save_checkpoint
from ..config import MISMODELLING_MODES, ModelSettings, TrainingSettings
from ..data import Split, choose_device, load_split, n_inputs
from ..errors import ConfigError, ResultsError
from ..features import InputLayout
from ..history import HISTORY_COLUMNS, selection_score
from ..io import atomic_output, reuse_freed_memory
from ..paths import history_file
from ..validation import validation_metrics
from .adversarial import attack_box, backpropagate
from .mismodelling import Augmented, Domain, Paired, final_layer

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
    defence: Augmented | Domain | Paired | None = None,
) -> torch.Tensor:
    """One pass over the training split; returns the mean weighted batch loss (the focal loss of the batches
    the tagger learns from), still on the device (reading it waits for the device: once per epoch).
    """
    model.train()
    order = batch_order(len(data), settings.seed, epoch, data.x.device)
    draws = defence.epoch_draws(epoch, data.x.device) if defence else None
    own_optimizer = getattr(defence, "optimizer", None)
    total, batches = torch.zeros((), device=data.x.device), 0
    starts = range(0, len(data), settings.batch_size)
    for number, start in enumerate(starts):
        index = order[start : start + settings.batch_size]
        batch = data.rows(index)
        optimizer.zero_grad(set_to_none=True)
        if defence is None:
            loss = backpropagate(model, batch.x, batch.labels, batch.weights, batch.movable, settings, batch.box)
        else:
            if own_optimizer is not None:
                own_optimizer.zero_grad(set_to_none=True)
            progress = (epoch + number / len(starts)) / settings.max_epochs
            loss = defence.backpropagate(model, batch, index, draws[start : start + settings.batch_size], progress)
            if own_optimizer is not None:
                own_optimizer.step()
        optimizer.step()
        total += loss.detach()
        batches += 1
    return total / batches


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
    variations: Sequence[str | os.PathLike] = (),
    target: str | os.PathLike | None = None,
    state_dir: str | os.PathLike | None = None,
    threads: int | None = None,
) -> list[dict]:
    """Train until early stopping or ``max_epochs``; returns the history rows.

    ``output_dir`` receives ``epoch_NNN.pt`` for every epoch and
    ``history.csv`` when training is complete. ``state_dir`` (default: a
    sibling ``.<name>.in_progress``) holds the epochs while training runs, so
    that an interrupted job resumes. The defences against mismodelling read
    ``variations`` (augmented, paired: the training split of each of
    ``settings.variations``, preprocessed as the training jets) or ``target``
    (domain: the target sample, preprocessed so; its even-numbered jets).
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
    data = load_split(train_path, summary, device, with_movable=settings.attacks)
    defence = _defence(settings, data, summary, device, variations, target, model)
    progress = {"history": [], "best_selection_score": float("inf"), "epochs_without_improvement": 0}
    resumed = resume_point(state_dir, fingerprint, device)
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        if isinstance(defence, Domain):
            defence.load_state_dict(resumed["defence"])
        torch.set_rng_state(resumed["rng_cpu"].cpu())
        if resumed["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in resumed["rng_cuda"]])
        progress = {key: resumed[key] for key in progress}
        log.info("resuming after epoch %d", resumed["epoch"])

    if settings.mode in ("pgd", "ngm"):
        data = attack_box(data, summary, settings)
    val = load_split(val_path, summary, device, with_movable=False)
    log.info("%s training on %s: %d training jets, %d validation jets", settings.mode, device, len(data), len(val))
    state_dir.mkdir(parents=True, exist_ok=True)
    epoch = len(progress["history"])
    while epoch < settings.max_epochs and progress["epochs_without_improvement"] < settings.patience:
        row = _run_epoch(model, optimizer, data, val, settings, epoch, defence)
        epoch += 1
        row["epoch"] = epoch
        score = selection_score([*progress["history"], row], settings.selection_metric, settings.selection_smoothing)
        row["selection_score"] = score
        if score < progress["best_selection_score"]:
            progress["best_selection_score"], progress["epochs_without_improvement"] = score, 0
        else:
            progress["epochs_without_improvement"] += 1
        progress["history"].append(row)
        extra = {"defence": defence.state_dict()} if isinstance(defence, Domain) else {}
        save_checkpoint(state_dir / checkpoint_name(epoch), model, optimizer, epoch, row, progress, fingerprint, extra)
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


def _defence(settings: TrainingSettings, data: Split, summary: dict, device, variations, target, model):
    """What a defence against mismodelling trains with (None for the other modes).

    Raises
    ------
    ConfigError
        When the mode's files are not given (one per training variation; the target).
    ResultsError
        When a paired variation's jets are not the training jets (other flavours).
    """
    if settings.mode not in MISMODELLING_MODES:
        return None
    if settings.mode == "domain":
        if target is None:
            raise ConfigError("domain training needs its target sample's preprocessed jets")
        jets = load_split(target, summary, device, with_movable=False)
        return Domain(len(data), jets.x[0::2].contiguous(), final_layer(model).in_features, settings)
    if len(variations) != len(settings.variations):
        raise ConfigError(
            f"{settings.mode} training reads one file per training variation {[v.name for v in settings.variations]}, "
            f"got {len(variations)}"
        )
    splits = [load_split(path, summary, device, with_movable=False) for path in variations]
    for path, split, declared in zip(variations, splits, settings.variations):
        if declared.paired and not torch.equal(split.labels, data.labels):
            raise ResultsError(
                f"{path}: the jets of training variation '{declared.name}' are not the training jets (other "
                "flavours or another count): made with another seed, size or split than the dataset?"
            )
    return (Augmented if settings.mode == "augmented" else Paired)(data, splits, settings)


def _run_epoch(model, optimizer, data: Split, val: Split, settings: TrainingSettings, epoch: int, defence) -> dict:
    lr = learning_rate(settings, epoch)
    for group in [*optimizer.param_groups, *getattr(getattr(defence, "optimizer", None), "param_groups", [])]:
        group["lr"] = lr
    start = time.perf_counter()
    train_loss = float(train_epoch(model, optimizer, data, settings, epoch, defence))  # waits for the device
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
