"""FGSM (Goodfellow et al., paper Eq. 2): x_adv = x + eps * sign(grad_x J(x, y)).

J is the unweighted focal loss the tagger is trained with. At evaluation the
step goes to the corner of the constraint box the sign points to
(:func:`.iterative.fgsm_vertex`); in adversarial training it is the plain
Eq. 2 on the movable inputs (:func:`fgsm`), as the paper trains.
"""

from __future__ import annotations

import torch
from torch import nn

from ..losses import focal_loss
from .objectives import parameters_frozen


def input_gradient_sign(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    gamma: float = 25.0,
    double_softmax: bool = False,
    into_parameters: bool = False,
) -> torch.Tensor:
    """sign(d J / d x) of the unweighted focal loss, for the model in its current mode.

    With ``into_parameters`` the loss is back-propagated into the parameters'
    ``.grad`` as well (the authors' training code did, see
    ``training.compat.accumulate_attack_grad``); otherwise only the gradient
    with respect to the inputs is computed and the parameters' gradients are
    left untouched. Where the focal loss's gradient underflows (confident
    jets, :mod:`.objectives`) the sign is 0 and the jet does not move.
    """
    x = x.detach().requires_grad_(True)
    if into_parameters:
        focal_loss(model(x), labels, None, gamma, double_softmax).backward()
        return x.grad.sign_()
    with parameters_frozen(model):  # no weight gradients computed, none accumulated
        (gradient,) = torch.autograd.grad(focal_loss(model(x), labels, None, gamma, double_softmax), x)
    return gradient.sign_()


def fgsm(x: torch.Tensor, sign: torch.Tensor, movable: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The inputs moved by eps * sign where ``movable`` (non-integer, non-default inputs), x elsewhere."""
    return torch.addcmul(x, sign, _as_float(movable, x.dtype), value=epsilon)


def _as_float(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A 0/1 mask as floats: a bool mask through its bytes, whose conversion
    is vectorised (that of bool is not: twice as slow on a CPU).
    """
    return (mask.view(torch.uint8) if mask.dtype == torch.bool else mask).to(dtype)
