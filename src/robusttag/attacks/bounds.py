"""Certified bounds on the tagger's logit differences over boxes of inputs.

For every jet a box lo <= x <= hi (an immovable feature has lo == hi) and a
discriminator's classes (s, g): bounds of z_s - z_g over the whole box. That
difference is the log-odds of the discriminator P(s) / (P(s) + P(g)), so any
input in the box gives a discriminator between the sigmoids of the bounds.

Two methods, for networks of Linear layers and ReLUs (:class:`robusttag.model.Tagger`):

- interval bound propagation (IBP, Gowal et al. 2018): an interval per neuron;
- CROWN (Zhang et al. 2018): linear bounds propagated backwards from the
  specification through linear relaxations of the ReLUs, whose pre-activation
  bounds CROWN itself computes, layer by layer.

The set-based taggers (:mod:`robusttag.architectures`) have IBP only, through
their own ``interval_bounds`` (pooling, LayerNorm, attention).

The arithmetic is float64 throughout: the bounds hold for the network's exact
arithmetic (with its float32 weights) up to float64 rounding, about 1e-15
relative, far below the float32 network's own rounding error (about 1e-6).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ResultsError
from ..metrics import auc
from ..model import ReLUDropout

METHODS: tuple[str, ...] = ("crown", "ibp")

#: most elements of one (jets, rows, features) tensor of CROWN's backward pass: 16 MiB of
#: float64, small enough for the allocator to reuse freed blocks rather than map fresh pages
_CHUNK_ELEMENTS = 1 << 21

#: most jets per batch of a set-based tagger's bounds: attention's intervals hold (jets, heads, tokens,
#: tokens) float64 tensors, some 20 kB per jet each for 25 tracks
_SET_MODEL_JETS = 1024

_Affine = tuple[torch.Tensor, torch.Tensor]  # W (out, in), b (out,)
_Interval = tuple[torch.Tensor, torch.Tensor]  # lower, upper: (jets, neurons)


class _Relaxation(NamedTuple):
    """Linear bounds of relu(z) for l <= z <= u: alpha z <= relu(z) <= slope z + intercept (per jet and neuron).

    Stored as alpha - slope (``gap``), the form the backward pass uses.
    """

    gap: torch.Tensor
    slope: torch.Tensor
    intercept: torch.Tensor


class _Box(NamedTuple):
    """The input box as CROWN's last backward step needs it (per batch of jets)."""

    first_centre: torch.Tensor  #: W_0 centre + b_0, (jets, first width)
    moving_weight: torch.Tensor  #: the columns of W_0 of features that move in some jet, (first width, moving)
    moving_radius: torch.Tensor  #: the half-widths of those features, (jets, moving)


# ---------------------------------------------------------------------------
# the network and the inputs
# ---------------------------------------------------------------------------


def _modules(model: nn.Module) -> Iterator[nn.Module]:
    """The model's layers in order, nested Sequentials flattened."""
    if isinstance(model, nn.Sequential):
        for child in model:
            yield from _modules(child)
    else:
        yield model


def affine_layers(model: nn.Module) -> list[_Affine]:
    """The network's affine layers (W, b) in float64, checked to be Linear, then any number of (ReLU, Linear).

    Raises
    ------
    ConfigError
        On a module other than Linear, ReLUDropout or ReLU, on dropout that
        is active (training mode with p > 0), or when the layers do not
        alternate Linear and ReLU, from a Linear to a Linear.
    """
    modules = list(_modules(model))
    for index, module in enumerate(modules):
        if not isinstance(module, nn.Linear | ReLUDropout | nn.ReLU):
            raise ConfigError(
                f"layer {index} ({type(module).__name__}) has no certified bound: only Linear and ReLU layers do"
            )
        if isinstance(module, ReLUDropout) and module.training and module.p > 0:
            raise ConfigError(f"layer {index} applies dropout (p={module.p}, training mode): call model.eval() first")
        if isinstance(module, nn.Linear) != (index % 2 == 0):
            raise ConfigError(f"layer {index} ({type(module).__name__}): layers must alternate Linear and ReLU")
    if len(modules) % 2 == 0:  # also the empty model
        raise ConfigError(f"the network must end in a Linear layer, got {[type(m).__name__ for m in modules]}")
    return [(m.weight.detach().double(), _bias(m)) for m in modules[::2]]


def _bias(layer: nn.Linear) -> torch.Tensor:
    if layer.bias is None:
        return layer.weight.new_zeros(layer.out_features, dtype=torch.float64)
    return layer.bias.detach().double()


def _check_box(lo: torch.Tensor, hi: torch.Tensor, n_inputs: int) -> None:
    """Raise unless lo and hi are finite (jets, n_inputs) tensors with lo <= hi.

    Raises
    ------
    ResultsError
        On a wrong shape, a value that is not finite, or lo > hi anywhere.
    """
    if lo.shape != hi.shape or lo.ndim != 2 or lo.shape[1] != n_inputs:
        raise ResultsError(
            f"lo and hi must both have shape (jets, {n_inputs}), got {tuple(lo.shape)} and {tuple(hi.shape)}"
        )
    if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
        raise ResultsError("lo or hi contains NaN or infinity")
    if (lo > hi).any():
        raise ResultsError(f"lo > hi for {int((lo > hi).sum())} (jet, feature) entries")


def _specification(pairs: Mapping[str, tuple[int, int]], n_outputs: int, device: torch.device) -> torch.Tensor:
    """The rows e_s - e_g of the pairs, (pairs, outputs) in float64.

    Raises
    ------
    ConfigError
        On a class index outside the network's outputs.
    """
    spec = torch.zeros(len(pairs), n_outputs, dtype=torch.float64, device=device)
    for row, (name, (signal, background)) in enumerate(pairs.items()):
        if not (0 <= signal < n_outputs and 0 <= background < n_outputs):
            raise ConfigError(f"{name}: classes ({signal}, {background}) outside the network's {n_outputs} outputs")
        spec[row, signal] += 1.0
        spec[row, background] -= 1.0  # after the +1: a pair (s, s) is the zero difference
    return spec


# ---------------------------------------------------------------------------
# interval bound propagation
# ---------------------------------------------------------------------------


def _interval_affine(weight: torch.Tensor, bias: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> _Interval:
    """The exact interval of W x + b over the box [lo, hi], in centre/radius form."""
    centre = (hi + lo) / 2 @ weight.T + bias
    radius = (hi - lo) / 2 @ weight.abs().T
    return centre - radius, centre + radius


def _interval_bounds(layers: list[_Affine], lo: torch.Tensor, hi: torch.Tensor) -> list[_Interval]:
    """IBP's bounds of the pre-activations of every hidden layer."""
    bounds = []
    for weight, bias in layers[:-1]:
        lower, upper = _interval_affine(weight, bias, lo, hi)
        bounds.append((lower, upper))
        lo, hi = lower.clamp(min=0), upper.clamp(min=0)  # ReLU is monotone
    return bounds


def _last_activations(bounds: list[_Interval], lo: torch.Tensor, hi: torch.Tensor) -> _Interval:
    """The box of the output layer's input: the last ReLU's output, or the input box without hidden layers."""
    if not bounds:
        return lo, hi
    return bounds[-1][0].clamp(min=0), bounds[-1][1].clamp(min=0)


# ---------------------------------------------------------------------------
# CROWN
# ---------------------------------------------------------------------------


def _relaxation(lower: torch.Tensor, upper: torch.Tensor) -> _Relaxation:
    """CROWN's linear bounds of relu(z) for lower <= z <= upper.

    Stable neurons are exact (slopes 1 and intercept 0 when active, all 0 when
    inactive). An unstable one (lower < 0 < upper) is bounded above by the
    chord u (z - l) / (u - l) and below by alpha z, alpha = 1 where u > -l and
    0 otherwise: of the two, the lower bound with the smaller area between it
    and the ReLU.
    """
    unstable = (lower < 0) & (upper > 0)
    active = (lower >= 0).double()
    span = torch.where(unstable, upper - lower, 1.0)  # > 0 where used; 1 keeps the rest finite
    slope = torch.where(unstable, upper / span, active)
    intercept = torch.where(unstable, -slope * lower, 0.0)
    alpha = torch.where(unstable, (upper > -lower).double(), active)
    return _Relaxation(alpha - slope, slope, intercept)


def _input_box(layers: list[_Affine], lo: torch.Tensor, hi: torch.Tensor) -> _Box:
    weight, bias = layers[0]
    radius = (hi - lo) / 2
    moving = (radius > 0).any(0).nonzero().squeeze(1)  # features fixed in every jet add nothing: skip them
    return _Box((hi + lo) / 2 @ weight.T + bias, weight.index_select(1, moving), radius.index_select(1, moving))


def _rows_times(coefficients: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Each jet's rows of A (shared (rows, n) or (jets, rows, n)) times its vector (jets, n): (jets, rows)."""
    if coefficients.ndim == 2:
        return vectors @ coefficients.T
    return torch.bmm(coefficients, vectors.unsqueeze(-1)).squeeze(-1)


def _backward_lower(
    coefficients: torch.Tensor,
    constant: torch.Tensor,
    layers: list[_Affine],
    relaxations: list[_Relaxation],
    box: _Box,
) -> torch.Tensor:
    """Lower bound over the box of A a + c, where a is the output of ReLU number len(relaxations) - 1.

    A (``coefficients``, (rows, width) or (jets, rows, width)) is carried back
    through each ReLU and Linear layer in turn: at a ReLU a positive
    coefficient takes the ReLU's lower linear bound and a negative one its
    upper bound, so that A a + c stays a lower bound; at the input the linear
    function of the first pre-activation is minimised over the box exactly.

    Returns
    -------
    torch.Tensor
        The lower bounds, (jets, rows).
    """
    for index in reversed(range(len(relaxations))):
        gap, slope, intercept = relaxations[index]
        positive = coefficients.clamp(min=0)
        # only the negative part takes the upper bound's intercept
        constant = constant + _rows_times(coefficients.clamp(max=0), intercept)
        # A+ alpha + A- slope, written as A slope + A+ (alpha - slope): one pass less
        coefficients = (coefficients * slope.unsqueeze(-2)).addcmul_(positive, gap.unsqueeze(-2))
        if index > 0:  # through the Linear layer before this ReLU
            weight, bias = layers[index]
            constant = constant + coefficients @ bias
            coefficients = coefficients @ weight
    # A now acts on the first pre-activation W_0 x + b_0, whose minimum is at its centre - |A W_0| radius
    spread = _rows_times((coefficients @ box.moving_weight).abs_(), box.moving_radius)
    return constant + _rows_times(coefficients, box.first_centre) - spread


def _crown_relaxations(layers: list[_Affine], interval: list[_Interval], box: _Box) -> list[_Relaxation]:
    """The relaxation of every hidden ReLU, from CROWN's pre-activation bounds (:func:`_crown_preactivations`)."""
    return _crown_preactivations(layers, interval, box)[1]


def _crown_preactivations(
    layers: list[_Affine], interval: list[_Interval], box: _Box
) -> tuple[list[_Interval], list[_Relaxation]]:
    """The bounds of every hidden layer's pre-activations by CROWN, layer by layer, and their relaxations.

    The bounds of layer k come from CROWN back from z_k to the input through
    the relaxations of layers 0..k-1, both directions at once (rows W_k and
    -W_k: a lower bound of -z_k is minus an upper bound of z_k), and are
    intersected with IBP's. Only neurons that IBP finds unstable in some jet
    need them: a stable neuron's relaxation is exact whatever its bounds. The
    first layer is affine in the input: its interval is exact already.
    """
    bounds, relaxations = [interval[0]], [_relaxation(*interval[0])]
    for k in range(1, len(layers) - 1):
        lower, upper = interval[k]
        unstable = ((lower < 0) & (upper > 0)).any(0).nonzero().squeeze(1)  # integer indices: faster than a mask
        if unstable.numel():
            weight, bias = (x.index_select(0, unstable) for x in layers[k])
            both = _backward_lower(torch.cat([weight, -weight]), torch.cat([bias, -bias]), layers, relaxations, box)
            tight_lower = torch.maximum(lower.index_select(1, unstable), both[:, : unstable.numel()])
            tight_upper = torch.minimum(upper.index_select(1, unstable), -both[:, unstable.numel() :])
            lower, upper = lower.index_copy(1, unstable, tight_lower), upper.index_copy(1, unstable, tight_upper)
        bounds.append((lower, upper))
        relaxations.append(_relaxation(lower, upper))
    return bounds, relaxations


@torch.no_grad()
def preactivation_bounds(layers: list[_Affine], lo: torch.Tensor, hi: torch.Tensor) -> list[_Interval]:
    """CROWN's lower and upper bounds of every hidden layer's pre-activations, (jets, width) each, float64.

    ``layers`` as :func:`affine_layers` gives them; lo, hi the input boxes (float64).
    """
    return _crown_preactivations(layers, _interval_bounds(layers, lo, hi), _input_box(layers, lo, hi))[0]


def _crown_lower(
    layers: list[_Affine], weight: torch.Tensor, bias: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
) -> torch.Tensor:
    """CROWN's lower bounds (jets, rows) of W a + b, a the last hidden layer's output."""
    box = _input_box(layers, lo, hi)
    relaxations = _crown_relaxations(layers, _interval_bounds(layers, lo, hi), box)
    return _backward_lower(weight, bias, layers, relaxations, box)


def _batch_bounds(
    layers: list[_Affine], spec: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, method: str
) -> _Interval:
    """Lower and upper bounds (jets, pairs) of the specification's rows for one batch of jets.

    CROWN goes through the batch in smaller steps, so that no tensor of its
    backward passes (jets, 2 x width rows, widest layer input) exceeds
    ``_CHUNK_ELEMENTS``.
    """
    weight, bias = layers[-1]
    # the difference folded into the output layer: one interval of (W_s - W_g) a + b_s - b_g,
    # tighter than the difference of two separate intervals
    spec_weight, spec_bias = spec @ weight, spec @ bias
    lower, upper = _interval_affine(
        spec_weight, spec_bias, *_last_activations(_interval_bounds(layers, lo, hi), lo, hi)
    )
    if method == "ibp" or len(layers) == 1:  # without a hidden layer IBP is exact
        return lower, upper
    rows = 2 * max([spec.shape[0], *(w.shape[0] for w, _ in layers[1:-1])])
    step = max(1, _CHUNK_ELEMENTS // (rows * max(w.shape[1] for w, _ in layers)))
    both_weight, both_bias = torch.cat([spec_weight, -spec_weight]), torch.cat([spec_bias, -spec_bias])
    both = torch.cat(
        [
            _crown_lower(layers, both_weight, both_bias, lo[start : start + step], hi[start : start + step])
            for start in range(0, lo.shape[0], step)
        ]
    )
    pairs = spec.shape[0]
    # both bounds are sound, so is their intersection: never looser than IBP, by construction
    return torch.maximum(lower, both[:, :pairs]), torch.minimum(upper, -both[:, pairs:])


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------


@torch.no_grad()
def logit_difference_bounds(
    model: nn.Module,
    lo: torch.Tensor,
    hi: torch.Tensor,
    pairs: Mapping[str, tuple[int, int]],
    method: str = "crown",
    batch_size: int = 65536,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Certified lower and upper bounds of z_s - z_g over each jet's box of inputs.

    ``"ibp"``: interval bound propagation through the hidden layers; the
    difference is folded into the output layer (rows W_s - W_g, b_s - b_g),
    so that its interval is that of the difference itself.

    ``"crown"``: full CROWN (Zhang et al. 2018). The pre-activation bounds of
    every hidden layer come from CROWN itself, layer by layer (each
    intersected with IBP's), not from IBP as in CROWN-IBP; stable ReLUs are
    exact, an unstable one (l < 0 < u) is bounded above by its chord
    u (z - l) / (u - l) and below by alpha z with alpha = 1 if u > -l else 0.
    The specification e_s - e_g is then propagated back in the same way. The
    result is intersected with IBP's bounds (elementwise max of the lower
    bounds, min of the upper ones), so it is never looser than IBP's, by
    construction.

    Both are computed in float64 (weights and boxes converted), on the
    model's device, ``batch_size`` jets at a time. CROWN's work per jet is
    about (depth - 1) (depth - 2) width^3 + 2 (depth - 1) width^2 n_inputs
    multiply-adds (27 million for the paper's 184-100x5-3 network, some 200
    times IBP's; about 3.5 ms per jet on two CPU cores), less where IBP finds
    neurons stable in every jet of a step; it goes through each batch in
    steps of jets small enough that its memory stays bounded (tens of MiB)
    whatever the batch size.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`robusttag.model.Tagger` or any ``nn.Sequential`` of Linear
        layers and ReLUs (``ReLUDropout`` or ``nn.ReLU``) alternating, from a
        Linear to a Linear; in evaluation mode where it has dropout.
    lo, hi : torch.Tensor
        The box, (jets, inputs) each, lo <= hi; lo == hi for a feature that
        does not move.
    pairs : Mapping[str, tuple[int, int]]
        Name -> (signal class, background class), e.g.
        :data:`robusttag.metrics.DISCRIMINATORS`.
    method : str
        ``"crown"`` or ``"ibp"``.
    batch_size : int
        Jets per batch.

    Returns
    -------
    dict[str, tuple[torch.Tensor, torch.Tensor]]
        Name -> (lower, upper), each (jets,) float64 on the device of ``lo``:
        lower <= z_s(x) - z_g(x) <= upper for every x in the jet's box.

    Raises
    ------
    ConfigError
        On an unknown method, a batch size below 1, a model with another
        kind of layer or with active dropout, or a class outside its outputs.
    ResultsError
        When lo and hi are not finite (jets, inputs) tensors with lo <= hi.
    """
    if method not in METHODS:
        raise ConfigError(f"bound method '{method}' is unknown; choose from {METHODS}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if hasattr(model, "interval_bounds"):
        return _set_model_bounds(model, lo, hi, pairs, method, batch_size)
    layers = affine_layers(model)
    _check_box(lo, hi, layers[0][0].shape[1])
    spec = _specification(pairs, layers[-1][0].shape[0], layers[0][0].device)
    return _in_batches(
        lambda low, high: _batch_bounds(layers, spec, low, high, method), lo, hi, pairs, batch_size, spec
    )


def _in_batches(bounds_of, lo, hi, pairs, batch_size: int, spec) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``bounds_of(lo, hi)`` (jets, pairs) a batch of jets at a time, in float64 on the device of ``spec``;
    the result by pair name, on the device of ``lo``.
    """
    lowers, uppers = [], []
    for start in range(0, lo.shape[0], batch_size):
        batch = [x[start : start + batch_size].to(spec.device, torch.float64) for x in (lo, hi)]
        lower, upper = bounds_of(*batch)
        lowers.append(lower.to(lo.device))
        uppers.append(upper.to(lo.device))
    empty = torch.empty(0, len(pairs), dtype=torch.float64, device=lo.device)
    lower, upper = (torch.cat(parts) if parts else empty for parts in (lowers, uppers))
    return {name: (lower[:, row], upper[:, row]) for row, name in enumerate(pairs)}


def bound_network(model: nn.Module) -> nn.Module | None:
    """The network whose bounds stand for the model's: itself, or an audited model's plain equivalent
    (``certifiable()``, :class:`robusttag.external.ExternalTagger`), None where it has none.
    """
    return model.certifiable() if hasattr(model, "certifiable") else model


def bound_method(model: nn.Module, requested: str) -> str:
    """The method a model's bounds use: ``requested``, but IBP for a model without CROWN (the set-based taggers)."""
    return "ibp" if hasattr(model, "interval_bounds") else requested


def _set_model_bounds(model, lo, hi, pairs, method, batch_size) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """:func:`logit_difference_bounds` by a model's own interval propagation (``model.interval_bounds``).

    Raises
    ------
    ConfigError
        For CROWN, or a model with active dropout.
    ResultsError
        When lo and hi are not a box of the model's inputs.
    """
    if method != "ibp":
        raise ConfigError(f"{type(model).__name__} has interval bounds (ibp) only, not {method}")
    if model.training and any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules()):
        raise ConfigError("the model applies dropout (training mode): call model.eval() first")
    _check_box(lo, hi, model.settings.layout.n_inputs)
    spec = _specification(pairs, model.settings.n_classes, next(model.parameters()).device)
    batch_size = min(batch_size, _SET_MODEL_JETS)
    return _in_batches(lambda low, high: model.interval_bounds(low, high, spec), lo, hi, pairs, batch_size, spec)


def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def certified_auc(lower, upper, labels, signal: int, background: int, weights=None) -> float:
    """A certified lower bound of a discriminator's AUC when every jet's input may be anywhere in its box.

    The AUC is the (weighted) fraction of (signal, background) pairs in which
    the signal jet scores higher, ties counting 1/2: it depends only on the
    order of the scores, so the log-odds z_s - z_g give the same AUC as the
    discriminator, and each pair's credit can only fall when its signal jet's
    score falls or its background jet's rises. With every signal jet at its
    lowest log-odds and every background jet at its highest, each pair's
    credit is at most what it is at any inputs in the boxes, and so is the
    AUC: a lower bound, whatever inputs an attacker picks.

    Parameters
    ----------
    lower, upper : array-like or torch.Tensor
        Bounds of each jet's log-odds, (jets,), e.g. from
        :func:`logit_difference_bounds`.
    labels : array-like or torch.Tensor
        True class of each jet, (jets,).
    signal, background : int
        The discriminator's classes; jets of other classes are left out.
    weights : array-like or torch.Tensor, optional
        Jet weights, (jets,).

    Returns
    -------
    float
        The AUC of the worst-case scores.

    Raises
    ------
    ResultsError
        When lower, upper, labels and weights differ in shape or are not 1-d, or
        lower exceeds upper beyond rounding (arguments swapped?); and as
        :func:`robusttag.metrics.auc` raises (no jet of a class, a bad weight).
    """
    lower, upper, labels = (_numpy(x) for x in (lower, upper, labels))
    lower, upper = lower.astype(np.float64), upper.astype(np.float64)
    weights = None if weights is None else _numpy(weights)
    shapes = [x.shape for x in (lower, upper, labels, weights) if x is not None]
    if lower.ndim != 1 or len(set(shapes)) != 1:
        raise ResultsError(f"lower, upper, labels (and weights) must be 1-d of equal length, got shapes {shapes}")
    if (lower > upper + 1e-9 * (1 + np.abs(upper))).any():  # beyond the rounding of a zero-width box
        raise ResultsError("lower bounds above upper bounds: are lower and upper swapped?")
    is_signal = labels == signal
    selected = is_signal | (labels == background)
    scores = np.where(is_signal, lower, upper)[selected]
    return auc(scores, is_signal[selected], None if weights is None else weights[selected])
