"""The baselines the attacks are compared with: Gaussian noise and coherent shifts,
bounded by the same constraints as the attacks (the cap and the default floor, no eps box).
"""

from __future__ import annotations

import torch


def noise_step(like: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise of width sigma (standardised units), from its own seeded generator."""
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype).mul_(sigma)
