"""What the set-based taggers share: reading the sequence layout and the jet-level head.

A row of the sequence layout (:class:`robusttag.features.InputLayout`) is the
jet's features, then one block per track slot of its fields and PRESENT, the
padding mask (1 for a track, 0 for padding). The models multiply by the mask
rather than compare with it, so padded slots contribute exact zeros and the
input gradient never reaches them (the attacks leave them alone anyway).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..features import InputLayout
from .intervals import Interval


def check_layout(layout: InputLayout, architecture: str) -> None:
    """Check that a set-based tagger gets the sequence layout.

    Raises
    ------
    ConfigError
        When ``layout`` is not a sequence layout.
    """
    if layout.kind != "sequence":
        raise ConfigError(f"the {architecture} tagger reads the sequence layout of the inputs, got {layout.kind}")


def split_inputs(x: torch.Tensor, layout: InputLayout) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The jet features (jets, J), the track fields (jets, tracks, F) and the padding mask
    (jets, tracks, 1) of a batch of rows.

    Raises
    ------
    ConfigError
        When the rows are not as wide as the layout.
    """
    if x.dim() != 2 or x.shape[1] != layout.n_inputs:
        raise ConfigError(f"expected inputs of shape (jets, {layout.n_inputs}), got {tuple(x.shape)}")
    blocks = x[:, layout.n_jet_features :].reshape(
        x.shape[0], layout.n_tracks, layout.n_track_fields
    )  # shape[0]: traceable
    return x[:, : layout.n_jet_features], blocks[..., :-1], blocks[..., -1:]


def split_interval(interval: Interval, layout: InputLayout) -> tuple[Interval, Interval, torch.Tensor]:
    """:func:`split_inputs` of the two ends of a box; the padding mask must be the same at both.

    Raises
    ------
    ConfigError
        When the box moves a padding mask (a track would appear or vanish).
    """
    (jets_lo, tracks_lo, present), (jets_hi, tracks_hi, present_hi) = (split_inputs(x, layout) for x in interval)
    if not torch.equal(present, present_hi):
        raise ConfigError("the box moves the padding mask of some track: the attacks must keep it fixed")
    return (jets_lo, jets_hi), (tracks_lo, tracks_hi), present


def head(n_inputs: int, width: int, depth: int, n_classes: int, dropout: float) -> nn.Sequential:
    """Linear + ReLU (+ dropout but after the last hidden layer), then a linear output: the DNN's
    pattern, in plain torch layers.
    """
    layers: list[nn.Module] = []
    for layer in range(depth):
        layers += [nn.Linear(n_inputs if layer == 0 else width, width), nn.ReLU()]
        if dropout > 0 and layer < depth - 1:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)
