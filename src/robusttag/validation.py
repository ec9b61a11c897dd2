"""A model on the validation split: its loss and the AUCs by which checkpoints are selected, for the
training loop and for an audited model's one checkpoint alike.
"""

from __future__ import annotations

import torch

from .config import TrainingSettings
from .data import Split
from .losses import focal_loss
from .metrics import curve_metrics, discriminator_curves
from .model import probabilities


@torch.no_grad()
def validation_metrics(
    model: torch.nn.Module, data: Split, settings: TrainingSettings, batch_size: int = 1 << 16
) -> dict:
    """Unweighted focal loss and the BvsL and CvsL AUCs on the validation split, model in eval mode."""
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=data.x.device)
    p = []
    for start in range(0, len(data), batch_size):
        part = slice(start, start + batch_size)
        logits = model(data.x[part])
        total += focal_loss(logits, data.labels[part], None, settings.focal_gamma, settings.double_softmax) * len(
            data.labels[part]
        )
        p.append(probabilities(logits))
    curves = discriminator_curves(torch.cat(p).cpu().numpy(), data.labels.cpu().numpy(), names=("BvsL", "CvsL"))
    aucs = {name: curve_metrics(*curve, mistags=())["auc"] for name, curve in curves.items()}
    return {"val_loss": float(total) / len(data), "val_auc_bvsl": aucs["BvsL"], "val_auc_cvsl": aucs["CvsL"]}
