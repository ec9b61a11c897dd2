"""Checkpoints of a training: their names, loading, and a trained tagger from one."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import torch

from .architectures import build_model
from .config import ModelSettings
from .errors import ResultsError
from .external import external_tagger
from .history import selected_epochs
from .io import atomic_output
from .paths import model_identity

log = logging.getLogger(__name__)


def checkpoint_name(epoch: int) -> str:
    return f"epoch_{epoch:03d}.pt"


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    """A checkpoint as saved after an epoch (safe to load: tensors and plain types only)."""
    return torch.load(path, map_location=device, weights_only=True)


def save_checkpoint(
    path: Path, model, optimizer, epoch: int, row: dict, progress: dict, fingerprint: str, extra: dict | None = None
) -> None:
    """The state after an epoch: the model, the optimiser, the history and the random generators (and ``extra``:
    a defence's own state).
    """
    state = (extra or {}) | {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "train_loss": row["train_loss"],
        "val_loss": row["val_loss"],
        "lr": row["lr"],
        "history": progress["history"],
        "best_selection_score": progress["best_selection_score"],
        "epochs_without_improvement": progress["epochs_without_improvement"],
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "config_hash": fingerprint,
        "model_settings": asdict(model.settings),
    }
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def resume_point(state_dir: Path, fingerprint: str, device: torch.device) -> dict | None:
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


def load_tagger(path: str | os.PathLike, device: torch.device) -> torch.nn.Module:
    """A trained tagger from its checkpoint, in evaluation mode (an audited model's: :mod:`.external`)."""
    state = load_checkpoint(path, device)
    if "external" in state:
        return external_tagger(state, device)
    model = build_model(ModelSettings.from_dict(state["model_settings"], str(path))).to(device)
    model.load_state_dict(state["model"])
    return model.eval()


def selected_checkpoints(model_dirs) -> dict[str, Path]:
    """{mode: its selected checkpoint (``training.selection``)} for the training folders of one seed.

    Raises
    ------
    ResultsError
        When two folders are of the same mode (the checkpoints are named by mode).
    """
    folders = {model_identity(d): Path(d) for d in model_dirs}
    modes = [mode for mode, _ in folders]
    if len(set(modes)) != len(modes):
        raise ResultsError(f"{sorted(map(str, model_dirs))}: one training per mode, please (one seed)")
    return {
        mode: folders[mode, seed] / checkpoint_name(epoch)
        for (mode, seed), epoch in selected_epochs(folders.values()).items()
    }
