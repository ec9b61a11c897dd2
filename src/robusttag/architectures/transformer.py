"""A small particle-transformer-like encoder on the track sequence (after ParT,
Qu et al. 2022, without its pairwise interaction features).

Each track's fields are embedded by one linear map; a learned class token
joins the tracks, and pre-norm blocks of masked multi-head self-attention and
a ReLU feed-forward network update every token (padded tracks are never
attended to; the class token always is, so no row of attention is empty).
The class token's final state, normalised, joins the jet-level features
before a head like the DNN's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelSettings
from . import intervals
from .intervals import Interval
from .sequence import check_layout, head, split_inputs, split_interval


class Block(nn.Module):
    """h + attention(norm(h)), then h + feed-forward(norm(h)); dropout in the feed-forward network."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.feed_forward_norm = nn.LayerNorm(dim)
        layers: list[nn.Module] = [nn.Linear(dim, 2 * dim), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.feed_forward = nn.Sequential(*layers, nn.Linear(2 * dim, dim))

    def _heads(self, qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(jets, tokens, 3 dim) -> query, key, value of shape (jets, heads, tokens, dim / heads)."""
        n, tokens, width = qkv.shape
        parts = qkv.view(n, tokens, 3, self.heads, width // (3 * self.heads)).permute(2, 0, 3, 1, 4)
        return parts[0], parts[1], parts[2]

    def forward(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``keep``: (jets, 1, 1, tokens) bool, the tokens every query may attend to."""
        q, k, v = self._heads(self.qkv(self.attention_norm(h)))
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        h = h + self.out(attended.transpose(1, 2).reshape(h.shape))
        return h + self.feed_forward(self.feed_forward_norm(h))

    def interval_forward(self, h: Interval, keep: torch.Tensor) -> Interval:
        """The block on an interval of token states (float64)."""
        qkv = intervals.linear(intervals.layer_norm(h, self.attention_norm), self.qkv)
        q, k, v = zip(self._heads(qkv[0]), self._heads(qkv[1]))
        scale = 1.0 / math.sqrt(q[0].shape[-1])
        scores = intervals.scale(intervals.matmul(q, (k[0].transpose(-1, -2), k[1].transpose(-1, -2))), scale)
        weights = intervals.masked_softmax(scores, keep)
        attended = intervals.matmul(weights, v)
        merged = tuple(x.transpose(1, 2).reshape(h[0].shape) for x in attended)
        h = intervals.add(h, intervals.linear(merged, self.out))
        return intervals.add(
            h, intervals.sequential(intervals.layer_norm(h, self.feed_forward_norm), self.feed_forward)
        )


class Transformer(nn.Module):
    """Track embedding, class token, attention blocks, then the head on [class token, jet features]."""

    def __init__(self, settings: ModelSettings) -> None:
        super().__init__()
        check_layout(settings.layout, "transformer")
        shape, layout = settings.transformer, settings.layout
        self.embedding = nn.Linear(layout.n_track_fields - 1, shape.dim)
        self.class_token = nn.Parameter(torch.zeros(shape.dim))
        nn.init.normal_(self.class_token, std=0.02)
        self.blocks = nn.ModuleList(Block(shape.dim, shape.heads, settings.dropout) for _ in range(shape.blocks))
        self.norm = nn.LayerNorm(shape.dim)
        self.head = head(
            layout.n_jet_features + shape.dim, shape.width, shape.depth, settings.n_classes, settings.dropout
        )
        self.settings = settings

    @staticmethod
    def _attended(present: torch.Tensor) -> torch.Tensor:
        """(jets, 1, 1, 1 + tracks) bool: the class token and the jet's tracks."""
        keep = torch.cat([torch.ones_like(present[:, :1, 0]), present[..., 0]], 1) > 0
        return keep[:, None, None, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        jets, tracks, present = split_inputs(x, self.settings.layout)
        tokens = self.embedding(tracks * present)  # padding embeds as the bias: a fixed, never attended token
        h = torch.cat([self.class_token.expand(x.shape[0], 1, -1), tokens], 1)
        keep = self._attended(present)
        for block in self.blocks:
            h = block(h, keep)
        return self.head(torch.cat([self.norm(h[:, 0]), jets], 1))

    def interval_bounds(self, lo: torch.Tensor, hi: torch.Tensor, specification: torch.Tensor) -> Interval:
        """Bounds of S z (``specification`` S: pairs x classes) for inputs in [lo, hi], float64, by IBP
        through every block (LayerNorm, attention's products and softmax: :mod:`.intervals`).
        """
        jets, tracks, present = split_interval((lo, hi), self.settings.layout)
        tokens = intervals.linear(intervals.scale(tracks, present), self.embedding)
        token = self.class_token.double().expand(len(lo), 1, -1)
        h = tuple(torch.cat([token, t], 1) for t in tokens)
        keep = self._attended(present)
        for block in self.blocks:
            h = block.interval_forward(h, keep)
        cls = intervals.layer_norm((h[0][:, 0], h[1][:, 0]), self.norm)
        joined = tuple(torch.cat([c, j], 1) for c, j in zip(cls, jets))
        return intervals.sequential(joined, self.head, specification)
