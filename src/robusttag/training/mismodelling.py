"""Training against mismodelling: the defences that see varied simulation or an unlabelled sample while training.

- ``augmented``: each jet of a batch is, with probability ``fraction``, replaced by its version in one of the
  training variations (drawn uniformly per jet): the tagger learns on a mixture of simulations.
- ``paired``: the focal loss of the nominal batch plus ``weight`` times the mean squared change of the output
  between each jet's nominal and varied simulation (a variation drawn per jet), Wunsch et al. 2019. Both pass
  through the network with the same dropout draws, so the penalty measures the mismodelling alone (zero for
  identical twins); by default the change of the log-odds, what the working points cut on, whose tails a
  change of the probabilities near 0 or 1 hides.
- ``domain``: a classifier on the tagger's last hidden layer, behind a gradient-reversal layer (identity
  forward, -lambda times the gradient backward; Ganin and Lempitsky 2015), learns to tell the labelled training
  jets from an unlabelled target sample; the tagger learns to make them indistinguishable. Aligning all
  flavours together does not align each flavour (a light jet of the target may be matched to a c jet of the
  simulation): with ``per_flavour`` there is one classifier head per flavour, the training jets entering by
  their label, the target jets by the tagger's own (detached) probabilities, each domain normalised to equal
  weight in every head.

Every random draw is reproducible and resume-safe: drawn on the host once per epoch from the training's seed and
the epoch (as the batch order), and the network's dropout from the global generator, as in nominal training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..config import TrainingSettings
from ..data import Split
from ..errors import ResultsError
from ..losses import focal_loss
from ..model import Tagger, output_layer_input


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of an epoch's defence draws, apart from the batch order's (resume-safe)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch + (1 << 40))


def varied_sources(n: int, variations: int, fraction: float, seed: int, epoch: int) -> torch.Tensor:
    """Per jet of the training split in one epoch: 0 for its nominal simulation, k for variation k (1 to
    ``variations``), varied with probability ``fraction`` (drawn on the host once per epoch, as the batch
    order: the same draws on every device).
    """
    draws = _epoch_generator(seed, epoch)
    varied = torch.rand(n, generator=draws) < fraction
    which = torch.randint(variations, (n,), generator=draws) + 1
    return torch.where(varied, which, 0)


class VariedSplits:
    """The training split and its training variations stacked (rows aligned: row i of every variation is the
    same jet, or for a generator variation a jet of its own), so that a batch of mixed sources is one gather.
    """

    def __init__(self, train: Split, variations: Sequence[Split]) -> None:
        self.n = len(train)
        parts = [train, *variations]
        self.x = torch.cat([p.x for p in parts])
        self.labels = torch.cat([p.labels for p in parts])
        self.weights = torch.cat([p.weights for p in parts])

    def rows(self, index: torch.Tensor, sources: torch.Tensor) -> Split:
        """Row ``index`` of source ``sources`` (0 the training split, k variation k), per jet."""
        rows = sources * self.n + index
        return Split(*(torch.index_select(t, 0, rows) for t in (self.x, self.labels, self.weights)))


def same_dropout(model: nn.Module, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The model on two batches of the same shape with the same dropout draws; the generators end as after the
    first alone (nominal training's stream stays untouched).
    """
    cuda = first.device.type == "cuda"
    cpu_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state(first.device) if cuda else None
    out_first = model(first)
    after = torch.get_rng_state(), torch.cuda.get_rng_state(first.device) if cuda else None
    torch.set_rng_state(cpu_state)
    if cuda:
        torch.cuda.set_rng_state(cuda_state, first.device)
    out_second = model(second)
    torch.set_rng_state(after[0])
    if cuda:
        torch.cuda.set_rng_state(after[1], first.device)
    return out_first, out_second


def paired_penalty(
    logits: torch.Tensor, varied_logits: torch.Tensor, weights: torch.Tensor, output: str
) -> torch.Tensor:
    """The weighted mean over jets of the squared change of the output between nominal and varied simulation.

    ``log_odds``: of the centred log-probabilities (the logits less their mean), whose squared norm is a third of
    the summed squared changes of the three pairwise log-odds log(p_b/p_l), log(p_c/p_l), log(p_b/p_c);
    ``probabilities``: of the class probabilities.
    """
    if output == "log_odds":
        change = logits - varied_logits
        change = change - change.mean(1, keepdim=True)
    else:
        change = torch.softmax(logits, 1) - torch.softmax(varied_logits, 1)
    return ((change * change).sum(1) * weights).sum() / weights.sum()


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.weight * grad, None


def reverse_gradient(x: torch.Tensor, weight: float) -> torch.Tensor:
    """Identity forward; backward the gradient times -``weight``."""
    return _GradientReversal.apply(x, weight)


def final_layer(model: nn.Module) -> nn.Linear:
    """The tagger's output layer (its input is the last hidden representation)."""
    return model[-1] if isinstance(model, Tagger) else model.head[-1]


def hidden_and_logits(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The tagger's last hidden representation (the output layer's input) and its logits: the DNN's own
    (:meth:`robusttag.model.Tagger.hidden_and_logits`: its fast path), a set-based tagger's read by a hook.
    """
    if isinstance(model, Tagger):
        return model.hidden_and_logits(x)
    return output_layer_input(final_layer(model), model, x)


class DomainClassifier(nn.Sequential):
    """Linear + ReLU layers on the tagger's last hidden representation, then one logit per head (target vs
    training simulation): one head, or one per flavour.
    """

    def __init__(self, n_inputs: int, width: int, depth: int, heads: int) -> None:
        layers: list[nn.Module] = []
        for layer in range(depth):
            layers += [nn.Linear(n_inputs if layer == 0 else width, width), nn.ReLU()]
        layers.append(nn.Linear(width, heads))
        super().__init__(*layers)


def domain_loss(logits: torch.Tensor, labels: torch.Tensor, target_probabilities: torch.Tensor | None) -> torch.Tensor:
    """The domain classifier's loss: ``logits`` (n + m, heads), the n training jets then m target jets.

    One head: binary cross entropy, each domain's mean. One head per flavour (``target_probabilities`` given):
    head k weighs the training jets of label k and the target jets by their probability of flavour k, each
    domain normalised to equal weight; the heads' mean.
    """
    n = len(labels)
    is_target = torch.cat([logits.new_zeros(n), logits.new_ones(len(logits) - n)])[:, None].expand_as(logits)
    per_jet = nn.functional.binary_cross_entropy_with_logits(logits, is_target, reduction="none")
    if target_probabilities is None:
        return 0.5 * (per_jet[:n].mean() + per_jet[n:].mean())
    source = nn.functional.one_hot(labels, logits.shape[1]).to(logits.dtype)
    target = target_probabilities.detach()
    tiny = torch.finfo(logits.dtype).tiny
    per_head = (per_jet[:n] * source).sum(0) / source.sum(0).clamp_min(tiny)
    per_head = per_head + (per_jet[n:] * target).sum(0) / target.sum(0).clamp_min(tiny)
    return 0.5 * per_head.mean()


def _stacked(train: Split, variations: Sequence[Split], names: Sequence[str]) -> VariedSplits:
    """The splits stacked, each variation as long as the training split.

    Raises
    ------
    ResultsError
        When a variation's split has another number of jets.
    """
    wrong = [name for name, split in zip(names, variations) if len(split) != len(train)]
    if wrong:
        raise ResultsError(
            f"training variations {wrong}: their training splits do not have the training split's {len(train)} "
            "jets (a variation is made at the dataset's size and split as the dataset)"
        )
    return VariedSplits(train, variations)


class Augmented:
    """Mode ``augmented``: each jet of a batch, with probability ``fraction``, from a training variation."""

    def __init__(self, train: Split, variations: Sequence[Split], settings: TrainingSettings) -> None:
        self.splits = _stacked(train, variations, [v.name for v in settings.variations])
        self.settings = settings

    def epoch_draws(self, epoch: int, device: torch.device) -> torch.Tensor:
        """Every training jet's source in this epoch (:func:`varied_sources`), on the device."""
        n, k, fraction = self.splits.n, len(self.settings.variations), self.settings.augmented_fraction
        return varied_sources(n, k, fraction, self.settings.seed, epoch).to(device)

    def batch(self, index: torch.Tensor, sources: torch.Tensor) -> Split:
        """The augmented batch: jet ``index`` from its source."""
        return self.splits.rows(index, sources)

    def backpropagate(self, model, batch: Split, index: torch.Tensor, sources: torch.Tensor, progress: float):
        mixed, settings = self.batch(index, sources), self.settings
        loss = focal_loss(model(mixed.x), mixed.labels, mixed.weights, settings.focal_gamma, settings.double_softmax)
        loss.backward()
        return loss


class Paired:
    """Mode ``paired``: each jet of a batch beside its version in a training variation (drawn per jet)."""

    def __init__(self, train: Split, variations: Sequence[Split], settings: TrainingSettings) -> None:
        self.splits = _stacked(train, variations, [v.name for v in settings.variations])
        self.settings = settings

    def epoch_draws(self, epoch: int, device: torch.device) -> torch.Tensor:
        """Every training jet's variation in this epoch (1 to k, uniform), on the device."""
        return varied_sources(self.splits.n, len(self.settings.variations), 1.0, self.settings.seed, epoch).to(device)

    def backpropagate(self, model, batch: Split, index: torch.Tensor, sources: torch.Tensor, progress: float):
        settings = self.settings
        varied = self.splits.rows(index, sources)
        logits, varied_logits = same_dropout(model, batch.x, varied.x)
        loss = focal_loss(logits, batch.labels, batch.weights, settings.focal_gamma, settings.double_softmax)
        penalty = paired_penalty(logits, varied_logits, batch.weights, settings.paired_output)
        (loss + settings.paired_weight * penalty).backward()
        return loss


class Domain:
    """Mode ``domain``: the unlabelled target jets, the domain classifier and its optimiser."""

    def __init__(self, n_train: int, target: torch.Tensor, n_hidden: int, settings: TrainingSettings) -> None:
        heads = 3 if settings.domain_per_flavour else 1
        self.n_train, self.target, self.settings = n_train, target, settings
        with torch.random.fork_rng(devices=[]):  # its own initial weights; the tagger's random stream untouched
            torch.manual_seed(settings.seed + 1)
            classifier = DomainClassifier(n_hidden, settings.domain_width, settings.domain_depth, heads)
        self.classifier = classifier.to(target.device)
        self.optimizer = torch.optim.Adam(self.classifier.parameters(), lr=settings.lr)

    def epoch_draws(self, epoch: int, device: torch.device) -> torch.Tensor:
        """A target jet for each training jet in this epoch (drawn with replacement), on the device; a step takes
        the first ``target_fraction`` of its batch's draws.
        """
        draws = _epoch_generator(self.settings.seed, epoch)
        return torch.randint(len(self.target), (self.n_train,), generator=draws).to(device)

    def backpropagate(self, model, batch: Split, index: torch.Tensor, picked: torch.Tensor, progress: float):
        settings = self.settings
        # fewer target than training jets: the tagger's second pass and the classifier cost in proportion
        picked = picked[: max(1, round(settings.domain_target_fraction * len(picked)))]
        target = torch.index_select(self.target, 0, picked)
        (hidden, logits), (target_hidden, target_logits) = same_dropout(
            lambda x: hidden_and_logits(model, x), batch.x, target
        )
        loss = focal_loss(logits, batch.labels, batch.weights, settings.focal_gamma, settings.double_softmax)
        reversed_hidden = reverse_gradient(torch.cat([hidden, target_hidden]), settings.domain_lambda(progress))
        probabilities = torch.softmax(target_logits, 1) if settings.domain_per_flavour else None
        (loss + domain_loss(self.classifier(reversed_hidden), batch.labels, probabilities)).backward()
        return loss

    def state_dict(self) -> dict:
        return {"classifier": self.classifier.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.classifier.load_state_dict(state["classifier"])
        self.optimizer.load_state_dict(state["optimizer"])
