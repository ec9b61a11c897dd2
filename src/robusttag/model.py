"""The paper's tagger: a fully connected network on the model inputs.

184 (6 track slots; in general as many as ``preprocessing.json`` lists)
-> 5 x 100 (ReLU, dropout 0.1 after every hidden layer but the last) -> 3.
The network returns logits; class probabilities (b, c, light) are their
softmax (:func:`probabilities`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .config import ModelSettings
from .errors import ConfigError


class _ReLUDropoutFunction(torch.autograd.Function):
    """relu(x) * keep * scale, computed in place on x (a linear layer's
    output, which its own backward pass does not need).

    ``scale`` is dropout's 1 / (1 - p), or 1 where the next linear layer
    applies it to its weights instead (:meth:`Tagger.forward`): a pass over
    the activations less forward and one less backward.

    The backward pass needs no saved mask: an output is positive exactly where
    the input was positive and kept, and there the derivative is ``scale``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float, scale: float, own_gradient: bool) -> torch.Tensor:
        ctx.mark_dirty(x)
        if p > 0:
            _drop(x, p)
        x.relu_()
        if scale != 1.0:
            x.mul_(scale)
        ctx.scale = scale
        ctx.own_gradient = own_gradient
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (output,) = ctx.saved_tensors
        if ctx.own_gradient:  # a fresh tensor nobody else holds: overwrite it
            torch.ops.aten.threshold_backward.grad_input(grad, output, 0, grad_input=grad)
        else:
            grad = torch.ops.aten.threshold_backward(grad, output, 0)
        return (grad.mul_(ctx.scale) if ctx.scale != 1.0 else grad), None, None, None


def _drop(x: torch.Tensor, p: float) -> None:
    """Zero every element of x with probability p, independently, in place.

    On a CPU through the indices of the dropped elements (:func:`_dropped`):
    one draw per dropped element rather than per element, and a scatter of
    zeros rather than a mask to build and multiply by. On other devices, and
    for a non-contiguous x, through a 0/1 mask (:func:`_kept`).
    """
    if x.device.type == "cpu" and x.is_contiguous():
        x.view(-1).index_fill_(0, _dropped(x.numel(), p), 0.0)
    else:
        x.mul_(_kept(x, p))


#: gaps are drawn for this many standard deviations beyond the expected
#: number of dropped elements: one round of draws nearly always suffices
_SPARE_SIGMAS = 8


def _dropped(n: int, p: float) -> torch.Tensor:
    """Flat indices in [0, n) of the dropped elements, each index with probability p.

    The gaps between the dropped elements of a Bernoulli(p) sequence are
    geometric, G = floor(log(U) / log(1 - p)) + 1 with U uniform in (0, 1];
    their running sums are the indices. U has 24 bits and the logarithm is
    taken in float32, so P(G > k) is exact to about 1e-7 (against 6e-6 for
    the drop probability of the 16-bit mask of :func:`_kept`), and a drop
    costs one draw, not a draw per element. The random bits come from numpy's SFC64,
    seeded by one draw of torch's default generator: ``torch.manual_seed``
    reproduces them, and a restored generator state continues them.

    Parameters
    ----------
    n : int
        Number of elements.
    p : float
        Drop probability, 0 < p < 1.

    Returns
    -------
    torch.Tensor
        The indices (int64), increasing.
    """
    bits = np.random.SFC64(int(torch.randint(1 << 62, ())))
    expected = n * p
    count = int(expected + _SPARE_SIGMAS * math.sqrt(expected)) + 16
    per_log = 1.0 / math.log1p(-p)
    chunks, last = [torch.empty(0, dtype=torch.int64)], -1
    while last < n - 1:  # indices up to n - 1 not all decided yet (rarely a second round)
        gaps = _geometric(bits, count, per_log)
        gaps[0] += last  # continue after the last index: the running sum gives indices
        chunks.append(gaps.cumsum_(0))
        last = int(chunks[-1][-1])
    indices = chunks[1] if len(chunks) == 2 else torch.cat(chunks)
    return indices[: int(torch.searchsorted(indices, n))]


def _geometric(bits: np.random.SFC64, count: int, per_log: float) -> torch.Tensor:
    """Geometric draws floor(log(U) * per_log) + 1 (``count`` of them, int64), per_log = 1 / log(1 - p).

    U = k / 2^24 with k uniform in 1..2^24, from the top 24 bits of the
    32-bit halves of the generator's words (two draws per word); every step
    up to the logarithm is exact in float32.
    """
    lanes = torch.from_numpy(bits.random_raw((count + 1) // 2).view(np.int32)[:count])
    uniform = (lanes >> 8).to(torch.float32).add_(float((1 << 23) + 1)).mul_(2.0**-24)
    return uniform.log_().mul_(per_log).add_(1.0).to(torch.int64)  # >= 1: truncation is floor


_LANE_BITS = 16


def _kept(x: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout's draws, shaped like x: 1 with probability 1 - p, else 0.

    Used off the CPU, where no draw may come from the host. Each draw is one
    16-bit lane of a 64-bit random word (four draws per word), compared with
    a threshold in exact small integers: several times cheaper than
    ``bernoulli_``, which draws a float per element. The drop probability is
    p rounded to a multiple of 2^-16 (0.1000061 for 0.1), well below a
    batch's own fluctuation.
    """
    n = x.numel()
    lanes = _random_words((n + 3) // 4, x.device).view(torch.int16)[:n]  # uniform in [-2^15, 2^15)
    threshold = -(1 << (_LANE_BITS - 1)) + round(p * (1 << _LANE_BITS))  # kept: lane >= threshold
    return lanes.clamp_(threshold - 1, threshold).sub_(threshold - 1).to(x.dtype).view(x.shape)


def _random_words(n: int, device: torch.device) -> torch.Tensor:
    """Uniform random 64-bit integers (n of them), determined by the default generator's state.

    On a CPU they come from numpy's SFC64, seeded by one draw of the default
    generator: twice as fast as the default generator's Mersenne Twister, and
    still reproduced by ``torch.manual_seed`` and restored with its state.
    """
    if device.type != "cpu":
        return torch.empty(n, dtype=torch.int64, device=device).random_(-(1 << 63), None)
    seed = int(torch.randint(1 << 62, ()))
    return torch.from_numpy(np.random.SFC64(seed).random_raw(n).view(np.int64))


class ReLUDropout(nn.Module):
    """ReLU followed by dropout, fused: the same mathematics as ``nn.ReLU`` then
    ``nn.Dropout(p)``, at a fraction of the cost; in place, like ``nn.ReLU(inplace=True)``.
    """

    def __init__(self, p: float = 0.0, *, feeds_linear: bool = False) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ConfigError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        #: the output goes only into a linear layer, whose backward pass hands
        #: over a fresh gradient that may be overwritten
        self.feeds_linear = feeds_linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p if self.training else 0.0
        return _ReLUDropoutFunction.apply(x, p, 1.0 / (1.0 - p), self.feeds_linear)

    def unscaled(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """The output without dropout's scale, and that scale.

        For a next layer that applies the scale itself (:meth:`Tagger.forward`):
        relu(x) * keep, and 1 / (1 - p) (1 in evaluation mode).

        Parameters
        ----------
        x : torch.Tensor
            The input; overwritten, as by :meth:`forward`.

        Returns
        -------
        tuple[torch.Tensor, float]
            The output (x itself) and the factor that :meth:`forward` would
            have multiplied it by.
        """
        p = self.p if self.training else 0.0
        return _ReLUDropoutFunction.apply(x, p, 1.0, self.feeds_linear), 1.0 / (1.0 - p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _LinearFunction(torch.autograd.Function):
    """(s x) W^T + b, computed as x (s W)^T + b, with the bias gradient summed in blocks (below).

    s (``input_scale``) is the dropout scale of the layer before
    (:meth:`Tagger.forward`), applied to the small weight matrix rather
    than the batch of inputs; the weight gradient is then s g^T x.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, input_scale: float) -> torch.Tensor:
        scaled = weight if input_scale == 1.0 else weight * input_scale
        ctx.input_scale = input_scale
        ctx.save_for_backward(x, scaled)
        return torch.addmm(bias, x, scaled.t())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, scaled = ctx.saved_tensors
        grad_x = grad @ scaled if ctx.needs_input_grad[0] else None
        grad_weight = grad.t() @ x if ctx.needs_input_grad[1] else None
        if grad_weight is not None and ctx.input_scale != 1.0:
            grad_weight.mul_(ctx.input_scale)
        grad_bias = _sum_over_batch(grad) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias, None


_BIAS_BLOCK = 256  #: rows per partial sum of a bias gradient


def _sum_over_batch(grad: torch.Tensor, block: int = _BIAS_BLOCK) -> torch.Tensor:
    """Column sums of a (batch, n) matrix: partial sums over row blocks first,
    which runs about twice as fast on a CPU as a single sum over dimension 0.
    """
    rows = grad.shape[0] - grad.shape[0] % block
    total = grad[:rows].view(-1, block, grad.shape[1]).sum(1).sum(0) if rows else grad.new_zeros(grad.shape[1])
    return total + grad[rows:].sum(0) if rows < grad.shape[0] else total


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same mathematics) with a faster backward pass."""

    def forward(self, x: torch.Tensor, input_scale: float = 1.0) -> torch.Tensor:
        """The layer's output for the input times ``input_scale``.

        Parameters
        ----------
        x : torch.Tensor
            The input, (batch, in_features).
        input_scale : float
            A factor of the input, applied to the weights instead.

        Returns
        -------
        torch.Tensor
            (input_scale x) W^T + b.
        """
        if self.bias is None:
            return super().forward(x * input_scale if input_scale != 1.0 else x)
        return _LinearFunction.apply(x, self.weight, self.bias, input_scale)


#: rows per block of the CPU's fused pass (:class:`_BlockedNetwork`): a block's
#: activations (4096 x 100 floats, 1.6 MB, half per thread) stay in the cores'
#: L2 caches from one layer to the next, and a block's matrix products are
#: long enough that the Python around them costs little (on a 2-core AMD EPYC
#: Zen 4, 4096 rows ran the adversarial step about 15 % faster than 2048);
#: a multiple of the bias gradient's 256-row blocks
CPU_BLOCK_ROWS = 4096


class _BlockedNetwork(torch.autograd.Function):
    """The whole network, Linear and ReLU (+ dropout) layers in turn, as one
    autograd node that runs a block of rows at a time through every layer.

    Per layer the same operations as the layer-by-layer path (addmm with the
    dropout scale in the weights, the same dropout draws, ReLU; backward the
    input-gradient product and ReLU's threshold), and the same numbers to the
    bit: a row's products do not depend on the rows beside it, and the
    gradients that sum over rows (weights: one product over the whole batch
    after the blocks; biases: the same 256-row partial sums) are summed as
    before. What changes is where the element-wise work runs: on a block
    still in cache after its matrix product, instead of a pass through main
    memory over the whole batch per operation.

    Inputs: x, the per-layer dropout probabilities (0 for none), the block
    size, whether to return the last hidden layer too (``with_hidden``: the
    logits and that layer's output, whose gradient joins the output layer's
    before the ReLU, as autograd would add them), then the weights and biases
    of the layers in order.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, dropout: tuple, block: int, with_hidden: bool, *parameters: torch.Tensor):
        weights, biases = parameters[0::2], parameters[1::2]
        n = x.shape[0]
        # the dropout scale of the layer before, moved into each weight matrix (as Linear.forward does)
        scales = [1.0] + [1.0 / (1.0 - p) for p in dropout]
        scaled = [w if s == 1.0 else w * s for w, s in zip(weights, scales)]
        # the draws in layer order, as the layer-by-layer path makes them
        dropped = [_dropped(n * w.shape[0], p) if p > 0 else None for w, p in zip(weights, dropout)]
        starts = list(range(0, n, block))
        cuts = [None if d is None else _block_bounds(d, starts, n, w.shape[0]) for d, w in zip(dropped, weights)]
        outputs = [x.new_empty(n, w.shape[0]) for w in weights]
        for index, start in enumerate(starts):
            rows = slice(start, min(start + block, n))
            inputs = x[rows]
            for layer, (w, b, out) in enumerate(zip(scaled, biases, outputs)):
                torch.addmm(b, inputs, w.t(), out=out[rows])
                inputs = out[rows]
                if layer == len(weights) - 1:
                    break  # the output layer: logits, no ReLU
                if dropped[layer] is not None:
                    low, high = cuts[layer][index], cuts[layer][index + 1]
                    out.view(-1).index_fill_(0, dropped[layer][low:high], 0.0)
                inputs.relu_()
        ctx.block, ctx.scales = block, scales
        ctx.save_for_backward(x, *scaled, *outputs[:-1])
        if not with_hidden:
            return outputs[-1]
        return outputs[-1], outputs[-2] if scales[-1] == 1.0 else outputs[-2] * scales[-1]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor, *hidden_grad: torch.Tensor):
        x, *rest = ctx.saved_tensors
        depth = (len(rest) + 1) // 2
        scaled, hidden = rest[:depth], rest[depth:]
        inputs = [x, *hidden]  # the input of each layer
        wants_x = ctx.needs_input_grad[0]
        wants_parameters = any(ctx.needs_input_grad[4:])
        from_hidden = hidden_grad[0] if hidden_grad and hidden_grad[0] is not None else None
        if from_hidden is not None and ctx.scales[-1] != 1.0:
            from_hidden = from_hidden * ctx.scales[-1]
        n, block = x.shape[0], ctx.block
        grads = [*(h.new_empty(h.shape) for h in hidden), grad] if wants_parameters else None
        grad_x = x.new_empty(x.shape) if wants_x else None
        full_rows = n - n % _BIAS_BLOCK
        partials = [grad.new_empty(full_rows // _BIAS_BLOCK, w.shape[0]) for w in scaled] if wants_parameters else None
        for start in range(0, n, block):
            rows = slice(start, min(start + block, n))
            g = grads[-1][rows] if wants_parameters else grad[rows]
            for layer in range(depth - 1, -1, -1):
                if wants_parameters:
                    _partial_sums(g, start, full_rows, partials[layer])
                if layer == 0:
                    if wants_x:
                        torch.mm(g, scaled[0], out=grad_x[rows])
                    break
                below = grads[layer - 1][rows] if wants_parameters else None
                below = torch.mm(g, scaled[layer], out=below) if below is not None else g @ scaled[layer]
                if from_hidden is not None and layer == depth - 1:
                    below.add_(from_hidden[rows])
                torch.ops.aten.threshold_backward.grad_input(below, hidden[layer - 1][rows], 0, grad_input=below)
                g = below
        if not wants_parameters:
            return grad_x, None, None, None, *([None] * (2 * depth))
        parameter_grads = []
        for layer in range(depth):
            grad_weight = grads[layer].t() @ inputs[layer]
            if ctx.scales[layer] != 1.0:
                grad_weight.mul_(ctx.scales[layer])
            grad_bias = partials[layer].sum(0) if full_rows else grads[layer].new_zeros(grads[layer].shape[1])
            if full_rows < n:
                grad_bias = grad_bias + grads[layer][full_rows:].sum(0)
            parameter_grads += [grad_weight, grad_bias]
        return grad_x, None, None, None, *parameter_grads


def _block_bounds(dropped: torch.Tensor, starts: list[int], n: int, width: int) -> list[int]:
    """Positions in the sorted flat indices ``dropped`` where each block of rows begins (and the end)."""
    edges = torch.tensor([s * width for s in starts] + [n * width], dtype=torch.int64)
    return torch.searchsorted(dropped, edges).tolist()


def _partial_sums(g: torch.Tensor, start: int, full_rows: int, partials: torch.Tensor) -> None:
    """The 256-row column sums of a block of rows (beginning at row ``start``) into ``partials``,
    for the rows below ``full_rows`` (the rest is summed once at the end, as :func:`_sum_over_batch` does).
    """
    rows = min(g.shape[0], max(full_rows - start, 0))
    if rows:
        first = start // _BIAS_BLOCK
        torch.sum(g[:rows].view(-1, _BIAS_BLOCK, g.shape[1]), 1, out=partials[first : first + rows // _BIAS_BLOCK])


class Tagger(nn.Sequential):
    """Linear + ReLU (+ dropout but after the last hidden layer) blocks, as the
    authors' code builds them, then a linear output.
    """

    def __init__(self, settings: ModelSettings | None = None) -> None:
        settings = settings or ModelSettings()
        layers: list[nn.Module] = []
        width_in = settings.n_inputs
        for layer in range(settings.depth):
            dropout = settings.dropout if layer < settings.depth - 1 else 0.0
            layers += [Linear(width_in, settings.width), ReLUDropout(dropout, feeds_linear=True)]
            width_in = settings.width
        layers.append(Linear(width_in, settings.n_classes))
        super().__init__(*layers)
        self.settings = settings

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layers in turn, with dropout's scale moved into the next linear layer's weights.

        The same function as applying the layers one after the other, with a
        pass over the activations less per dropout layer, forward and backward
        (in evaluation mode the scale is 1 and nothing moves). On a CPU the
        whole network runs as one node, a block of rows at a time
        (:class:`_BlockedNetwork`): the same numbers to the bit.
        """
        if self._blocked(x):
            return _BlockedNetwork.apply(x, *self._blocked_arguments(False))
        return self.layer_by_layer(x)

    def hidden_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The last hidden layer's output and the logits, by the same path as :meth:`forward` (the same numbers,
        draws and gradients as one layer at a time, where the output layer's input is read by a hook).
        """
        if self._blocked(x):
            logits, hidden = _BlockedNetwork.apply(x, *self._blocked_arguments(True))
            return hidden, logits
        return output_layer_input(self[-1], self.layer_by_layer, x)

    def _blocked(self, x: torch.Tensor) -> bool:
        """Whether the CPU's blocked pass runs ``x``."""
        return x.device.type == "cpu" and x.dim() == 2 and x.is_contiguous() and self._plain_layers()

    def _blocked_arguments(self, with_hidden: bool) -> tuple:
        layers = list(self)
        dropout = tuple(layer.p if self.training else 0.0 for layer in layers[1::2])
        parameters = [t for layer in layers[0::2] for t in (layer.weight, layer.bias)]
        return (dropout, CPU_BLOCK_ROWS, with_hidden and len(layers) > 1, *parameters)

    def _plain_layers(self) -> bool:
        """Whether the layers are still Linear (with bias) and ReLUDropout in turn, ending in a Linear."""
        kinds = [Linear if isinstance(m, Linear) and m.bias is not None else type(m) for m in self]
        return len(kinds) % 2 == 1 and all(k is (Linear if i % 2 == 0 else ReLUDropout) for i, k in enumerate(kinds))

    def layer_by_layer(self, x: torch.Tensor) -> torch.Tensor:
        """The forward pass one layer (one autograd node) at a time: for any device and any layers."""
        scale = 1.0
        for layer in self:
            if isinstance(layer, Linear):
                x, scale = layer(x, input_scale=scale), 1.0
                continue
            if scale != 1.0:  # not our linear layer: scale the input, as dropout would have
                x, scale = x * scale, 1.0
            if isinstance(layer, ReLUDropout):
                x, scale = layer.unscaled(x)
            else:
                x = layer(x)
        return x * scale if scale != 1.0 else x


def output_layer_input(layer: nn.Module, network, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(what ``layer``, a network's output layer, reads; the network's output) of ``network(x)``, read by a hook
    (the input scale our :class:`Linear` may be handed applied).
    """
    captured = []

    def keep(_, args, kwargs):
        scale = kwargs.get("input_scale", 1.0)
        captured.append(args[0] if scale == 1.0 else args[0] * scale)

    hook = layer.register_forward_pre_hook(keep, with_kwargs=True)
    try:
        output = network(x)
    finally:
        hook.remove()
    return captured[0], output


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities (b, c, light) from the network's logits."""
    return torch.softmax(logits, dim=-1)
