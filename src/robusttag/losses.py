"""Focal loss on logits (Lin et al. 2017), as the paper trains with (gamma = 25).

l_i = -(1 - p_t)^gamma log p_t, with log p_t from a log-softmax of the
logits, and (1 - p_t) as -expm1(log p_t) so that confident predictions give
exact small numbers instead of 1 - 1 = 0; no NaN or inf for any gamma.
Batch loss: sum(l_i w_i) / sum(w_i) with per-jet weights, plain mean without.
"""

from __future__ import annotations

import torch


def focal_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None = None,
    gamma: float = 25.0,
    double_softmax: bool = False,
) -> torch.Tensor:
    """Focal loss of a batch.

    Parameters
    ----------
    logits : (n, classes) network outputs.
    labels : (n,) class indices.
    weights : (n,) per-jet weights, or None for the unweighted mean.
    gamma : focusing parameter; 0 gives the (weighted) cross entropy.
    double_softmax : reproduce the authors' code, whose network already ended
        in a softmax before the loss's own log-softmax (paper-compatibility
        switch; squeezes p_t into about [0.21, 0.58]).
    """
    inputs = torch.softmax(logits, dim=-1) if double_softmax else logits
    log_pt = torch.log_softmax(inputs, dim=-1).gather(1, labels[:, None]).squeeze(1)
    per_jet = -log_pt if gamma == 0 else -((-torch.expm1(log_pt)) ** gamma) * log_pt
    if weights is None:
        return per_jet.mean()
    return (per_jet * weights).sum() / weights.sum()
