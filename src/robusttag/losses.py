"""Focal loss on logits (Lin et al. 2017), as the paper trains with (gamma = 25).

l_i = -(1 - p_t)^gamma log p_t, with log p_t from a log-softmax of the
logits, and (1 - p_t) as -expm1(log p_t) so that confident predictions give
exact small numbers instead of 1 - 1 = 0; no NaN or inf for any gamma.
Batch loss: sum(l_i w_i) / sum(w_i) with per-jet weights, plain mean without.

Where a gradient is wanted, the loss is one autograd node whose backward
pass is the gradient in closed form (:class:`_FocalLossFunction`): a handful
of passes over the (n, classes) inputs instead of the twenty-odd nodes of the
composition.
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
    if torch.is_grad_enabled() and inputs.requires_grad and (weights is None or not weights.requires_grad):
        return _FocalLossFunction.apply(inputs, labels, weights, gamma)
    return _focal_loss_terms(inputs, labels, weights, gamma)[0]


def _focal_loss_terms(inputs: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None, gamma: float):
    """The loss and what its gradient reuses: (loss, log-softmax, log p_t, 1 - p_t, normaliser)."""
    log_p = _log_softmax(inputs)
    log_pt = log_p.gather(1, labels[:, None]).squeeze(1)
    one_minus_pt = -torch.expm1(log_pt)
    per_jet = -log_pt if gamma == 0 else -(one_minus_pt**gamma) * log_pt
    if weights is None:
        return per_jet.mean(), log_p, log_pt, one_minus_pt, len(per_jet)
    total = weights.sum()
    return (per_jet * weights).sum() / total, log_p, log_pt, one_minus_pt, total


def _log_softmax(inputs: torch.Tensor) -> torch.Tensor:
    """Log-softmax over the last dimension of (n, classes) inputs.

    For a few classes it is computed down the columns of the transposed
    copy, vectorised over the n rows: three times as fast on a CPU for three
    classes as along each row of three, and the same numbers but for a rare
    last bit.
    """
    if inputs.dim() != 2 or inputs.shape[1] > 16:
        return torch.log_softmax(inputs, dim=-1)
    return torch.log_softmax(inputs.t().contiguous(), dim=0).t()


class _FocalLossFunction(torch.autograd.Function):
    """:func:`focal_loss` (after any double softmax) with its gradient in closed form.

    With q = 1 - p_t and l = log p_t, d l_i / d l = -q^gamma + gamma p_t l q^(gamma - 1),
    and d l / d z_j = [j = t] - softmax_j; so the gradient with respect to
    the inputs z is c_i ([j = t_i] - softmax_ij), c_i = w_i / sum(w) * d l_i / d l.
    At the label 1 - softmax is q itself, from expm1: autograd's composition
    takes c_i - c_i p_t there, which loses the digits of a confident jet.
    p_t is 1 - q, as autograd's derivative of expm1 takes it.
    """

    @staticmethod
    def forward(ctx, inputs, labels, weights, gamma):
        loss, log_p, log_pt, one_minus_pt, total = _focal_loss_terms(inputs, labels, weights, gamma)
        ctx.gamma, ctx.total = gamma, total
        ctx.save_for_backward(log_p, log_pt, one_minus_pt, labels, weights)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable  # in place on fresh tensors: no graph of its own
    def backward(ctx, grad_loss):
        log_p, log_pt, q, labels, weights = ctx.saved_tensors
        coefficient = _per_jet_slope(log_pt, q, ctx.gamma)
        if weights is not None:
            coefficient.mul_(weights)
        coefficient.mul_(grad_loss / ctx.total)
        grad = log_p.exp().mul_(coefficient.neg()[:, None])  # -c_i softmax_ij
        grad.scatter_(1, labels[:, None], coefficient.mul_(q)[:, None])  # c_i q at the label
        return grad, None, None, None


def _per_jet_slope(log_pt: torch.Tensor, q: torch.Tensor, gamma: float) -> torch.Tensor:
    """The derivative d l_i / d log p_t of l_i = -q^gamma log p_t, q = 1 - p_t (a fresh tensor).

    That is -q^gamma + gamma p_t log p_t q^(gamma - 1).
    """
    if gamma == 0:
        return torch.full_like(log_pt, -1.0)
    power = q.pow(gamma - 1)
    slope = (1.0 - q).mul_(log_pt).mul_(power).mul_(gamma).sub_(power.mul_(q))
    if gamma < 1:  # where q = 0, log p_t = 0 too: the limit is 0, not 0 * inf
        slope = torch.where(q > 0, slope, 0.0)
    return slope
