"""The paper's tagger: a fully connected network on the 184 inputs.

184 -> 5 x 100 (ReLU, dropout 0.1 after every hidden layer but the last) -> 3.
The network returns logits; class probabilities (b, c, light) are their
softmax (:func:`probabilities`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .features import N_INPUTS


@dataclass(frozen=True)
class ModelSettings:
    n_inputs: int = N_INPUTS
    width: int = 100
    depth: int = 5  #: hidden layers
    dropout: float = 0.1
    n_classes: int = 3


class Tagger(nn.Sequential):
    """Linear+ReLU(+Dropout) blocks, as the authors' code builds them, then a linear output."""

    def __init__(self, settings: ModelSettings = ModelSettings()) -> None:
        if settings.depth < 1 or settings.width < 1:
            raise ValueError(f"depth and width must be at least 1, got {settings.depth} and {settings.width}")
        layers: list[nn.Module] = []
        width_in = settings.n_inputs
        for layer in range(settings.depth):
            layers += [nn.Linear(width_in, settings.width), nn.ReLU()]
            if layer < settings.depth - 1 and settings.dropout > 0:
                layers.append(nn.Dropout(settings.dropout))
            width_in = settings.width
        layers.append(nn.Linear(width_in, settings.n_classes))
        super().__init__(*layers)
        self.settings = settings


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities (b, c, light) from the network's logits."""
    return torch.softmax(logits, dim=-1)
