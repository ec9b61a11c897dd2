"""A deep set on the track sequence (Zaheer et al. 2017; the Energy Flow Network /
DeepJet family of flavour taggers).

Each track's fields go through the same network (Linear + ReLU layers); the
tracks of a jet are pooled by a masked sum and a masked mean, so the result
does not depend on the order of the tracks nor on the padding; the pooled
vectors and the jet-level features go through a head like the DNN's.

With the padding mask fixed (every attack keeps it), the whole network is piecewise
linear in the inputs: for the jets of one pattern of tracks it is a plain
Linear/ReLU network (:meth:`DeepSets.unrolled_networks`), which the exact
verification (:mod:`robusttag.attacks.worst_case`) searches as it does the DNN.
"""

from __future__ import annotations

import numpy as np
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

    def unrolled_networks(self, lo: torch.Tensor, hi: torch.Tensor) -> list[tuple[list, np.ndarray]]:
        """The deep set on the boxes [lo, hi] as plain Linear/ReLU networks, one per pattern of tracks:
        [(affine layers (W, b) in float64 on CPU, the indices of the jets with that pattern)].

        Raises
        ------
        ConfigError
            When the box moves a padding mask.
        """
        _, _, present = split_interval((lo.cpu(), hi.cpu()), self.settings.layout)
        patterns, jets_of = torch.unique(present[..., 0] > 0, dim=0, return_inverse=True)
        jet_lo = lo.cpu().double()[:, : self.settings.layout.n_jet_features]
        networks = []
        for number, pattern in enumerate(patterns):
            jets = (jets_of == number).nonzero().squeeze(1)
            networks.append((self.unrolled_layers(pattern, jet_lo[jets].amin(0)), jets.numpy()))
        return networks

    def unrolled_layers(self, present: torch.Tensor, floor: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The deep set for jets whose tracks fill the slots ``present`` ((tracks,) bool), as a plain
        Linear/ReLU network on the whole input row: the per-track layers block by block on those slots
        (padded slots' inputs unused), the jet features carried through their ReLUs as x - ``floor``
        (exact for features >= floor: the ReLU is then the identity and never unstable), the masked sum
        and mean folded into the head's first layer. Affine layers (W, b) in float64 on CPU.
        """
        layout, width = self.settings.layout, self.settings.deepsets.track_width
        n_jet = layout.n_jet_features
        slots = present.nonzero().squeeze(1).tolist()
        floor = floor.double().cpu()
        per_track = [_affine(m) for m in self.per_track if isinstance(m, nn.Linear)]
        weight, bias = per_track[0]
        first = torch.zeros(n_jet + len(slots) * weight.shape[0], layout.n_inputs, dtype=torch.float64)
        first[:n_jet, :n_jet] = torch.eye(n_jet, dtype=torch.float64)
        for k, slot in enumerate(slots):
            column = n_jet + slot * layout.n_track_fields
            first[n_jet + k * width : n_jet + (k + 1) * width, column : column + weight.shape[1]] = weight
        layers = [(first, torch.cat([-floor, bias.repeat(len(slots))]))]
        for weight, bias in per_track[1:]:
            blocks = torch.block_diag(torch.eye(n_jet, dtype=torch.float64), *([weight] * len(slots)))
            layers.append((blocks, torch.cat([torch.zeros(n_jet, dtype=torch.float64), bias.repeat(len(slots))])))
        head = [_affine(m) for m in self.head if isinstance(m, nn.Linear)]
        weight, bias = head[0]
        jet_part, total, mean = weight[:, :n_jet], weight[:, n_jet : n_jet + width], weight[:, n_jet + width :]
        pooled = (total + mean / max(len(slots), 1)).repeat(1, len(slots))
        layers.append((torch.cat([jet_part, pooled], 1), bias + jet_part @ floor))
        return layers + head[1:]


def _affine(layer: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    return layer.weight.detach().double().cpu(), layer.bias.detach().double().cpu()
