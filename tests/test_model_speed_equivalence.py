"""The fast paths of the model, the loss and FGSM against the plain torch compositions they replace."""

from __future__ import annotations

import math

import pytest
import torch

from robusttag.attacks import fgsm
from robusttag.losses import focal_loss
from robusttag.model import ModelSettings, ReLUDropout, Tagger, _dropped


def _plain_focal_loss(logits, labels, weights, gamma):
    """The loss as autograd composes it (the reference for values and gradients)."""
    log_pt = torch.log_softmax(logits, dim=-1).gather(1, labels[:, None]).squeeze(1)
    per_jet = -log_pt if gamma == 0 else -((-torch.expm1(log_pt)) ** gamma) * log_pt
    return per_jet.mean() if weights is None else (per_jet * weights).sum() / weights.sum()


# --- dropout's draws ----------------------------------------------------------------


def test_dropped_indices_are_bernoulli_and_seeded():
    torch.manual_seed(2)
    n, p = 3_000_017, 0.1
    indices = _dropped(n, p)
    assert indices.dtype == torch.int64 and bool((indices[1:] > indices[:-1]).all())
    assert 0 <= int(indices[0]) and int(indices[-1]) < n
    assert abs(len(indices) / n - p) < 5 * math.sqrt(p * (1 - p) / n)
    gaps = torch.diff(indices)  # geometric: P(gap = k) = (1 - p)^(k - 1) p
    for k in (1, 2, 5, 20):
        expected = (1 - p) ** (k - 1) * p
        assert abs((gaps == k).double().mean().item() - expected) < 5 * math.sqrt(expected / len(gaps))
    torch.manual_seed(2)
    assert torch.equal(_dropped(n, p), indices)
    assert len(_dropped(0, p)) == 0 and len(_dropped(1, p)) <= 1


# --- ReLU + dropout ------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_relu_dropout_equals_relu_then_the_same_draws_by_hand(p):
    torch.manual_seed(0)
    x = torch.randn(333, 7)
    torch.manual_seed(5)
    dropped = _dropped(x.numel(), p)
    expected = torch.relu(x).flatten().index_fill(0, dropped, 0.0).view_as(x) * (1.0 / (1.0 - p))
    leaf = x.clone().requires_grad_()
    torch.manual_seed(5)
    y = ReLUDropout(p)(leaf * 1.0)
    assert torch.equal(y, expected)  # bit for bit: relu, the same zeros, the same multiplication
    upstream = torch.randn_like(x)
    y.backward(upstream)
    assert torch.equal(leaf.grad, torch.where(expected > 0, upstream * (1.0 / (1.0 - p)), 0.0))


def _plain_copy(model: Tagger) -> list[torch.nn.Module]:
    """The model's layers as nn.Linear and ReLU, its weights copied."""
    layers = []
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            plain = torch.nn.Linear(layer.in_features, layer.out_features)
            plain.load_state_dict(layer.state_dict())
            layers.append(plain)
        else:
            layers.append(layer)
    return layers


def _plain_forward(layers, x, seed):
    """nn.Linear, then relu and dropout's draws (taken by hand, in the model's order) times 1 / (1 - p)."""
    torch.manual_seed(seed)
    for layer in layers:
        if isinstance(layer, ReLUDropout):
            x = torch.relu(x)
            if layer.training and layer.p > 0:
                keep = torch.ones(x.numel()).index_fill_(0, _dropped(x.numel(), layer.p), 0.0).view_as(x)
                x = x * keep * (1.0 / (1.0 - layer.p))
        else:
            x = layer(x)
    return x


def test_tagger_in_evaluation_is_bit_identical_to_plain_layers():
    torch.manual_seed(1)
    model = Tagger(ModelSettings(n_inputs=19, width=11, depth=3)).eval()
    x = torch.randn(1000, 19)
    with torch.no_grad():
        assert torch.equal(model(x), _plain_forward(_plain_copy(model), x, 0))


def test_tagger_in_training_equals_plain_layers_to_rounding():
    """Dropout's scale moves into the next layer's weights: the same function, other rounding."""
    torch.manual_seed(1)
    model = Tagger(ModelSettings(n_inputs=19, width=11, depth=4)).train()
    plain = _plain_copy(model)
    x, labels, weights = torch.randn(1000, 19), torch.randint(0, 3, (1000,)), torch.rand(1000)
    torch.manual_seed(7)
    ours = model(x)
    reference = _plain_forward(plain, x, 7)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
    focal_loss(ours, labels, weights, gamma=2.0).backward()
    _plain_focal_loss(reference, labels, weights, 2.0).backward()
    mine = [m for m in model if isinstance(m, torch.nn.Linear)]
    theirs = [m for m in plain if isinstance(m, torch.nn.Linear)]
    for a, b in zip(mine, theirs, strict=True):
        torch.testing.assert_close(a.weight.grad, b.weight.grad, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(a.bias.grad, b.bias.grad, rtol=1e-4, atol=1e-7)


def _loss_and_gradients(forward, model, x, labels, weights, seed, frozen=False):
    """Logits, input gradient and parameter gradients of a focal loss through ``forward``."""
    for parameter in model.parameters():
        parameter.grad = None
        parameter.requires_grad_(not frozen)
    leaf = x.clone().requires_grad_()
    torch.manual_seed(seed)
    logits = forward(leaf)
    focal_loss(logits, labels, weights, gamma=25.0).backward()
    grads = [] if frozen else [parameter.grad for parameter in model.parameters()]
    return [logits.detach(), leaf.grad, *grads]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("frozen", [False, True])  # frozen: an attack's pass, input gradient only
@pytest.mark.parametrize("n", [1000, 1024, 3, 700])
def test_blocked_network_is_bit_identical_to_layer_by_layer(monkeypatch, training, frozen, n):
    """The CPU's one-node pass, in blocks of 256 rows (a last short block where n is not a multiple;
    the bias gradients' 256-row partial sums with a remainder where n is not one either), against
    the layer-by-layer autograd path: logits, input and parameter gradients, to the bit."""
    import robusttag.model

    monkeypatch.setattr(robusttag.model, "CPU_BLOCK_ROWS", 256)
    torch.manual_seed(1)
    model = Tagger(ModelSettings(n_inputs=19, width=11, depth=4)).train(training)
    x, labels, weights = torch.randn(n, 19), torch.randint(0, 3, (n,)), torch.rand(n)
    blocked = _loss_and_gradients(model, model, x, labels, weights, 7, frozen)
    layered = _loss_and_gradients(model.layer_by_layer, model, x, labels, weights, 7, frozen)
    assert len(blocked) == (2 if frozen else 2 + 2 * 5)
    for ours, reference in zip(blocked, layered, strict=True):
        assert torch.equal(ours, reference)
    if training and n >= 256:  # dropout's draws were taken: a different seed drops other elements
        assert not torch.equal(_loss_and_gradients(model, model, x, labels, weights, 8, frozen)[0], blocked[0])


def test_blocked_network_is_what_a_cpu_tagger_runs(monkeypatch):
    """The fused pass runs where it applies, and a tagger whose layers were changed falls back to layers."""
    import robusttag.model

    calls = []
    monkeypatch.setattr(robusttag.model._BlockedNetwork, "apply", lambda *a: calls.append(a) or torch.zeros(1))
    model = Tagger(ModelSettings(n_inputs=5, width=4, depth=2))
    model(torch.randn(8, 5))
    assert len(calls) == 1 and calls[0][1] == (0.1, 0.0) and calls[0][2] == robusttag.model.CPU_BLOCK_ROWS
    model.eval()(torch.randn(8, 5))
    assert calls[1][1] == (0.0, 0.0)
    model[1] = torch.nn.ReLU()
    assert model(torch.randn(8, 5)).shape == (8, 3) and len(calls) == 2


# --- the focal loss --------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 25.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_focal_loss_value_and_gradient_against_the_composition(gamma, weighted):
    torch.manual_seed(3)
    n = 4099
    logits = (torch.randn(n, 3) * 4).requires_grad_()
    labels, weights = torch.randint(0, 3, (n,)), (torch.rand(n) if weighted else None)
    loss = focal_loss(logits, labels, weights, gamma)
    (grad,) = torch.autograd.grad(loss, logits)
    reference = _plain_focal_loss(logits, labels, weights, gamma)
    torch.testing.assert_close(loss, reference, rtol=2e-7, atol=0)
    exact_logits = logits.detach().double().requires_grad_()
    exact_weights = None if weights is None else weights.double()
    (exact,) = torch.autograd.grad(_plain_focal_loss(exact_logits, labels, exact_weights, gamma), exact_logits)
    (composed,) = torch.autograd.grad(reference, logits)
    scale = exact.abs().max()
    ours_error = ((grad.double() - exact).abs().max() / scale).item()
    composed_error = ((composed.double() - exact).nan_to_num(0.0).abs().max() / scale).item()
    assert ours_error <= max(2 * composed_error, 1e-6)  # no worse than autograd's own float32 composition


def test_focal_loss_gradient_is_finite_where_the_composition_is_not():
    logits = torch.tensor([[60.0, -60.0, 0.0], [-80.0, 80.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1])
    for gamma in (0.5, 25.0):
        (grad,) = torch.autograd.grad(focal_loss(logits, labels, torch.ones(3), gamma), logits)
        assert torch.isfinite(grad).all()
        assert torch.all(grad[0] == 0)  # sure and right: nothing to learn
        torch.testing.assert_close(grad[1], torch.tensor([-1 / 3, 1 / 3, 0.0]))  # sure and wrong


def test_focal_loss_without_gradient_is_the_same_number():
    torch.manual_seed(4)
    logits, labels, weights = torch.randn(5000, 3) * 3, torch.randint(0, 3, (5000,)), torch.rand(5000)
    with torch.no_grad():
        no_grad = focal_loss(logits, labels, weights)
    assert torch.equal(focal_loss(logits.requires_grad_(), labels, weights).detach(), no_grad)


# --- FGSM ------------------------------------------------------------------------------


def test_fgsm_with_a_bool_mask_is_bit_identical_to_a_float_mask():
    torch.manual_seed(6)
    x, sign = torch.randn(500, 184), torch.randn(500, 184).sign()
    movable = torch.rand(500, 184) > 0.3
    assert torch.equal(fgsm(x, sign, movable, 0.01), torch.addcmul(x, sign, movable.float(), value=0.01))
