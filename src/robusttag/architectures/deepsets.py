"""A deep set on the track sequence (Zaheer et al. 2017; the Energy Flow Network /
DeepJet family of flavour taggers).

Each track's fields go through the same network (Linear + ReLU layers); the
tracks of a jet are pooled by a masked sum and a masked mean, so the result
does not depend on the order of the tracks nor on the padding; the pooled
vectors and the jet-level features go through a head like the DNN's.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelSettings
from . import intervals
from .intervals import Interval
from .sequence import check_layout, head, split_inputs, split_interval


class DeepSets(nn.Module):
    """phi per track, sum and mean over the jet's tracks, then rho on [jet features, sum, mean]."""

    def __init__(self, settings: ModelSettings) -> None:
        super().__init__()
        check_layout(settings.layout, "deepsets")
        shape, layout = settings.deepsets, settings.layout
        layers: list[nn.Module] = []
        for layer in range(shape.track_depth):
            layers += [nn.Linear(layout.n_track_fields - 1 if layer == 0 else shape.track_width, shape.track_width)]
            layers.append(nn.ReLU())
        self.per_track = nn.Sequential(*layers)
        n_head_inputs = layout.n_jet_features + 2 * shape.track_width
        self.head = head(n_head_inputs, shape.width, shape.depth, settings.n_classes, settings.dropout)
        self.settings = settings

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        jets, tracks, present = split_inputs(x, self.settings.layout)
        per_track = self.per_track(tracks) * present
        total = per_track.sum(1)
        mean = total / present.sum(1).clamp_min(1.0)
        return self.head(torch.cat([jets, total, mean], 1))

    def interval_bounds(self, lo: torch.Tensor, hi: torch.Tensor, specification: torch.Tensor) -> Interval:
        """Bounds of S z (``specification`` S: pairs x classes) for inputs in [lo, hi], float64, by IBP.

        The padding mask is exact (fixed by every attack), so padded tracks drop out exactly,
        and the mean's divisor is a constant of the jet.
        """
        jets, tracks, present = split_interval((lo, hi), self.settings.layout)
        per_track = intervals.scale(intervals.sequential(tracks, self.per_track), present)
        total = per_track[0].sum(1), per_track[1].sum(1)
        mean = intervals.scale(total, 1.0 / present.sum(1).clamp_min(1.0))
        pooled = tuple(torch.cat([j, t, m], 1) for j, t, m in zip(jets, total, mean))
        return intervals.sequential(pooled, self.head, specification)
