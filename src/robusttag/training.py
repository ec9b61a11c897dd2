"""Training of the tagger, nominal or FGSM-adversarial, with per-epoch
checkpoints, early stopping and exact resume.

Speed: each split is one contiguous tensor on the device; batches are slices
of a seeded permutation (no Dataset, no DataLoader workers, no per-batch
copies between host and device).

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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from .attacks import fgsm, input_gradient_sign
from .errors import ConfigError
from .features import default_column
from .io import atomic_output, reuse_freed_memory
from .losses import focal_loss
from .model import ModelSettings, Tagger

log = logging.getLogger(__name__)

MODES = ("nominal", "adversarial")
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "lr", "seconds", "jets_per_s")


@dataclass(frozen=True)
class TrainingSettings:
    """The ``training`` section of the config (defaults: the paper's)."""

    mode: str = "nominal"
    seed: int = 1
    device: str = "auto"
    lr: float = 1e-4
    lr_decay_epochs: float = 30.0  #: lr(epoch) = lr / (1 + epoch / lr_decay_epochs)
    batch_size: int = 65536
    max_epochs: int = 1000
    patience: int = 30  #: epochs without a lower validation loss before stopping
    focal_gamma: float = 25.0
    epsilon: float = 0.01  #: FGSM step of adversarial training, standardised units
    attack_dropout: bool = True  #: craft the attack with dropout on, as the authors did
    double_softmax: bool = False  #: paper-compatibility: softmax twice (authors' code)
    accumulate_attack_grad: bool = False  #: paper-compatibility: attack's gradients leak into the update
    model: ModelSettings = field(default_factory=ModelSettings)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"training mode '{self.mode}' is unknown; choose from {MODES}")
        if self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1:
            raise ConfigError("training.batch_size, max_epochs and patience must be at least 1")

    @classmethod
    def from_config(cls, section: dict, mode: str) -> TrainingSettings:
        """From the config's ``training`` section (nested as in config.yaml)."""
        flat = {k: v for k, v in section.items() if k not in ("model", "adversarial", "compat")}
        flat.update(section.get("adversarial", {}))
        flat.update(section.get("compat", {}))
        return cls(mode=mode, model=ModelSettings(**section.get("model", {})), **flat)

    def fingerprint(self, data_summary: str) -> str:
        """Hash of these settings and of the preprocessing that made the data."""
        text = json.dumps(asdict(self), sort_keys=True) + data_summary
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def choose_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU; or any torch device name.

    Matrix products stay in full float32 on every device: TF32 (10-bit
    mantissas on Ampere and later GPUs) is PyTorch's default off, set here so
    that no environment or library turns it on behind the user's back. The
    network has no convolutions, so cuDNN's own TF32 and autotuning switches
    do not apply.
    """
    torch.set_float32_matmul_precision("highest")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ---------------------------------------------------------------------------
# Data on the device
# ---------------------------------------------------------------------------


@dataclass
class Split:
    """One split as contiguous tensors on the device."""

    x: torch.Tensor  #: (n, features) float32, standardised
    labels: torch.Tensor  #: (n,) int64
    weights: torch.Tensor  #: (n,) float32
    movable: torch.Tensor | None = None  #: (n, features) bool, where an attack may move the input

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, index: torch.Tensor) -> Split:
        """The jets at ``index``, gathered into new contiguous tensors (a batch).

        ``index_select`` rather than ``x[index]``: the same result, about twice
        as fast on a CPU.
        """
        tensors = (self.x, self.labels, self.weights, self.movable)
        return Split(*(None if t is None else torch.index_select(t, 0, index) for t in tensors))


def load_split(path: str | os.PathLike, summary: dict, device: torch.device, with_movable: bool = True) -> Split:
    """Read a preprocessed split; the movable mask (only what an attack needs)
    excludes integer features and defaults.

    Read row group by row group into arrays of the final size: the peak is
    the split itself (4 bytes per input, 1 more with the mask), not several
    copies of it, which matters for the full dataset (8.3 M training jets:
    6.1 GB of inputs). ``iter_batches`` would read ahead and keep gigabytes in
    Arrow's memory pool.
    """
    names = summary["feature_order"]
    integer = np.array([column["is_integer"] for column in summary["features"]])
    defaults = [default_column(n) for n in names] if with_movable else []
    parquet = pq.ParquetFile(path)
    n = parquet.metadata.num_rows
    x = np.empty((n, len(names)), dtype=np.float32)
    movable = np.empty((n, len(names)), dtype=bool) if with_movable else None
    labels, weights = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float32)
    start = 0
    for group in range(parquet.num_row_groups):
        part = parquet.read_row_group(group, columns=[*names, *defaults, "label", "weight"])
        rows = slice(start, start + part.num_rows)
        columns = [column.to_numpy(zero_copy_only=False) for column in part.columns]
        x[rows] = np.column_stack(columns[: len(names)])
        if with_movable:
            movable[rows] = ~np.column_stack(columns[len(names) : 2 * len(names)]) & ~integer
        labels[rows], weights[rows] = columns[-2], columns[-1]
        start = rows.stop
    return Split(
        torch.from_numpy(x).to(device),
        torch.from_numpy(labels).to(device),
        torch.from_numpy(weights).to(device),
        None if movable is None else torch.from_numpy(movable).to(device),
    )


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
    model: Tagger, optimizer: torch.optim.Optimizer, data: Split, settings: TrainingSettings, epoch: int
) -> torch.Tensor:
    """One pass over the training split; returns the mean weighted batch loss,
    still on the device (reading it waits for the device: once per epoch)."""
    model.train()
    order = batch_order(len(data), settings.seed, epoch, data.x.device)
    total, batches = torch.zeros((), device=data.x.device), 0
    for start in range(0, len(data), settings.batch_size):
        batch = data.rows(order[start : start + settings.batch_size])
        optimizer.zero_grad(set_to_none=True)
        loss = backpropagate(model, batch.x, batch.labels, batch.weights, batch.movable, settings)
        optimizer.step()
        total += loss.detach()
        batches += 1
    return total / batches


def backpropagate(
    model: Tagger,
    x: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    movable: torch.Tensor | None,
    settings: TrainingSettings,
) -> torch.Tensor:
    """Loss of one batch, its gradients accumulated into the parameters.

    Adversarial mode replaces the batch by its FGSM version first: the network
    never sees the clean batch.
    """
    if settings.mode == "adversarial":
        x = adversarial_batch(model, x, labels, movable, settings)
    loss = focal_loss(model(x), labels, weights, settings.focal_gamma, settings.double_softmax)
    loss.backward()
    return loss


def adversarial_batch(
    model: Tagger, x: torch.Tensor, labels: torch.Tensor, movable: torch.Tensor, settings: TrainingSettings
) -> torch.Tensor:
    """The FGSM version of a batch (Eq. 2, no cap), crafted on the current model."""
    if not settings.attack_dropout:
        model.eval()
    sign = input_gradient_sign(
        model,
        x,
        labels,
        gamma=settings.focal_gamma,
        double_softmax=settings.double_softmax,
        into_parameters=settings.accumulate_attack_grad,
    )
    model.train()
    return fgsm(x, sign, movable, settings.epsilon)


@torch.no_grad()
def validation_loss(model: Tagger, data: Split, settings: TrainingSettings, batch_size: int = 1 << 16) -> float:
    """Unweighted focal loss on the validation split, model in eval mode."""
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=data.x.device)
    for start in range(0, len(data), batch_size):
        part = slice(start, start + batch_size)
        logits = model(data.x[part])
        total += focal_loss(logits, data.labels[part], None, settings.focal_gamma, settings.double_softmax) * len(
            data.labels[part]
        )
    return float(total) / len(data)


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------


def checkpoint_name(epoch: int) -> str:
    return f"epoch_{epoch:03d}.pt"


def _save_checkpoint(path: Path, model, optimizer, epoch: int, row: dict, progress: dict, fingerprint: str) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "train_loss": row["train_loss"],
        "val_loss": row["val_loss"],
        "lr": row["lr"],
        "history": progress["history"],
        "best_val_loss": progress["best_val_loss"],
        "epochs_without_improvement": progress["epochs_without_improvement"],
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "config_hash": fingerprint,
        "model_settings": asdict(model.settings),
    }
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    """A checkpoint as saved after an epoch (safe to load: tensors and plain types only)."""
    return torch.load(path, map_location=device, weights_only=True)


def _resume_point(state_dir: Path, fingerprint: str, device: torch.device) -> dict | None:
    """The newest complete checkpoint of this configuration, or None (stale state is cleared)."""
    for path in sorted(state_dir.glob("epoch_*.pt"), reverse=True):
        try:
            state = load_checkpoint(path, device)
        except Exception as error:  # a checkpoint cut short by a crash: ignore it
            log.warning("ignoring unreadable checkpoint %s (%s)", path, error)
            continue
        if state.get("config_hash") == fingerprint:
            return state
        log.info("state in %s is from another configuration: starting over", state_dir)
        break
    if state_dir.exists():
        shutil.rmtree(state_dir)
    return None


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
    model = Tagger(settings.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    progress = {"history": [], "best_val_loss": float("inf"), "epochs_without_improvement": 0}
    resumed = _resume_point(state_dir, fingerprint, device)
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        torch.set_rng_state(resumed["rng_cpu"].cpu())
        if resumed["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in resumed["rng_cuda"]])
        progress = {key: resumed[key] for key in progress}
        log.info("resuming after epoch %d", resumed["epoch"])

    data = load_split(train_path, summary, device, with_movable=settings.mode == "adversarial")
    val = load_split(val_path, summary, device, with_movable=False)
    log.info("%s training on %s: %d training jets, %d validation jets", settings.mode, device, len(data), len(val))
    state_dir.mkdir(parents=True, exist_ok=True)
    epoch = len(progress["history"])
    while epoch < settings.max_epochs and progress["epochs_without_improvement"] < settings.patience:
        row = _run_epoch(model, optimizer, data, val, settings, epoch)
        epoch += 1
        row["epoch"] = epoch
        if row["val_loss"] < progress["best_val_loss"]:
            progress["best_val_loss"], progress["epochs_without_improvement"] = row["val_loss"], 0
        else:
            progress["epochs_without_improvement"] += 1
        progress["history"].append(row)
        _save_checkpoint(state_dir / checkpoint_name(epoch), model, optimizer, epoch, row, progress, fingerprint)
        log.info("epoch %d: train loss %.6g, val loss %.6g, lr %.3g, %.1f s (%.0f jets/s)",
                 epoch, row["train_loss"], row["val_loss"], row["lr"], row["seconds"], row["jets_per_s"])  # fmt: skip
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
        "val_loss": validation_loss(model, val, settings),
        "lr": lr,
        "seconds": seconds,
        "jets_per_s": len(data) / seconds,
    }


def _publish(state_dir: Path, output_dir: Path, history: list[dict]) -> None:
    """Link the finished epochs into the output folder and write history.csv last;
    the state goes only once all is in place (a crash here still resumes)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for row in history:
        name = checkpoint_name(row["epoch"])
        (output_dir / name).unlink(missing_ok=True)
        try:
            os.link(state_dir / name, output_dir / name)
        except OSError:  # another file system
            shutil.copy2(state_dir / name, output_dir / name)
    with atomic_output(output_dir / "history.csv") as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows({key: row[key] for key in HISTORY_COLUMNS} for row in history)
    shutil.rmtree(state_dir, ignore_errors=True)
