"""The worst-case AUC of a ReLU tagger: the exact worst case of every jet that matters to it.

One problem per (jet, discriminator of its flavour), each searched by branch and
bound (:class:`.exact.BranchAndBound`). The AUC's bracket (between the certified
AUC and the AUC at the worst points found) only depends on the jets whose order
against some jet of the other class is still open, so the time goes there, in
slices (:func:`exact_worst_case`); the budget is work (domains bounded), so the
numbers do not depend on the machine. A tagger may be one network for all jets (the
DNN) or one per group of jets (a deep set's per pattern of tracks,
:func:`verifiable_networks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..metrics import auc
from .bounds import affine_layers, preactivation_bounds
from .exact import BranchAndBound, Problems


def check_budget(domains: int) -> None:
    """Raise unless ``domains`` is a positive budget of bounded domains.

    Raises
    ------
    ConfigError
        On zero or a negative budget.
    """
    if not domains > 0:
        raise ConfigError(f"the exact verification's budget must be a positive number of domains, got {domains}")


#: the domains after which a problem's claim on the time has halved (:func:`_priority`)
SPENT_SCALE = 300
#: domains bounded per slice, and problems branched in a slice (the most undetermined pairs first)
SLICE_DOMAINS = 6000
SLICE_PROBLEMS = 32


@dataclass
class WorstCase:
    """One discriminator's log-odds under the exact verification, for its signal and background jets.

    ``certified``: each jet's certified worst log-odds (lowest for a signal jet, highest for a
    background jet); ``attained``: the worst found at a point of its box (an attack); equal (to
    ``exact.TOLERANCE``) where ``solved``. ``jets``: their indices among the verified jets.
    """

    jets: np.ndarray
    is_signal: np.ndarray
    certified: np.ndarray
    attained: np.ndarray
    solved: np.ndarray


def verifiable_networks(network: nn.Module, lo: torch.Tensor, hi: torch.Tensor) -> list[tuple[list, np.ndarray]] | None:
    """:func:`exact_worst_case`'s networks for a tagger on the boxes [lo, hi]: a plain Linear/ReLU network
    (the DNN) for all jets, a deep set's own per pattern of tracks; None for a tagger that is not
    piecewise linear in its inputs (the transformer: the softmax of its attention).
    """
    if hasattr(network, "unrolled_networks"):
        return network.unrolled_networks(lo, hi)
    if hasattr(network, "interval_bounds"):
        return None
    return [([(weight.cpu(), bias.cpu()) for weight, bias in affine_layers(network)], np.arange(len(lo)))]


def exact_worst_case(
    networks, lo, hi, labels, pairs, domains: int, points=None, after_slice=None
) -> dict[str, WorstCase]:
    """Every discriminator's exact worst case per jet, as far as ``domains`` bounded domains reach.

    One problem per (jet, discriminator of its flavour): the discriminator's log-odds minimised for
    a signal jet, maximised for a background jet. After alpha-CROWN on all of them, the time goes
    in slices to the problems that leave (signal, background) pairs of their discriminator
    undetermined: a pair is undetermined while the signal jet's certified lowest log-odds is not
    above the background jet's certified highest, and the attack points still order it correctly;
    only those pairs make the bracket between the certified AUC and the attack's AUC. The order
    of the problems is :func:`_priority`'s.

    Parameters
    ----------
    networks : [(layers, jets)]: plain Linear/ReLU networks (their affine layers in float64,
        :func:`.bounds.affine_layers`) and the indices of the jets each one computes, every jet in one
        (a DNN: one network for all jets; a deep set: one per pattern of tracks, :func:`verifiable_networks`).
    lo, hi : (jets, inputs) the boxes (float64).
    labels : (jets,) the flavours.
    pairs : discriminator -> (signal class, background class).
    domains : the budget: domains bounded, the roots included (on two CPU cores of 2026 about 3,000
        a second with the paper's network).
    points : discriminator -> (jets, inputs) attack points to start from (None: the boxes' centres).
    after_slice : called after the root bounds and every slice with the domains bounded so far and
        the results as they stand (a benchmark's curve of the bracket against the budget).

    Returns
    -------
    dict[str, WorstCase]
    """
    check_budget(domains)
    labels = np.asarray(labels)
    owners, specs, starts = [], [], []
    for name, (signal, background) in pairs.items():
        jets = np.nonzero((labels == signal) | (labels == background))[0]
        sign = np.where(labels[jets] == signal, 1.0, -1.0)
        spec = np.zeros((len(jets), networks[0][0][-1][0].shape[0]))
        spec[:, signal], spec[:, background] = sign, -sign
        owners.append((name, jets, sign > 0))
        specs.append(spec)
        starts.append(None if points is None else points[name][jets].double())
    index = np.concatenate([jets for _, jets, _ in owners])
    start = None if points is None else torch.cat(starts)
    box = (lo[index].double(), hi[index].double())
    search = _Searches(networks, len(lo), index, box, torch.from_numpy(np.concatenate(specs)), start)
    search.start()
    offsets = np.cumsum([0, *(len(jets) for _, jets, _ in owners)])
    if after_slice is not None:
        after_slice(search.domains_bounded, _results(search, owners, offsets))
    while search.domains_bounded < domains:
        share = np.concatenate(
            [_undetermined_share(*_scores(search, owner, offsets[i]), owner[2]) for i, owner in enumerate(owners)]
        )
        share[~search.searchable.numpy()] = 0
        share = _priority(share, search, owners, offsets)
        chosen = np.argsort(-share, kind="stable")
        chosen = chosen[(share[chosen] > 0) & (search.network[chosen] == search.network[chosen[0]])][:SLICE_PROBLEMS]
        if len(chosen) == 0:
            break
        search.search(chosen, min(SLICE_DOMAINS, domains - search.domains_bounded))
        if after_slice is not None:
            after_slice(search.domains_bounded, _results(search, owners, offsets))
    return _results(search, owners, offsets)


class _Searches:
    """One :class:`BranchAndBound` per network over the problems of its jets, seen as one search over all
    problems (its attributes in the problems' order). A slice branches the problems of one network; the
    networks share ``exact.MAX_OPEN_NEURONS``.
    """

    def __init__(self, networks, n_jets: int, problem_jets: np.ndarray, box, spec: torch.Tensor, start) -> None:
        member = np.full(n_jets, -1)
        for number, (_, jets) in enumerate(networks):
            member[np.asarray(jets, dtype=np.int64)] = number
        self.network = member[problem_jets]
        if (self.network < 0).any():
            raise ValueError(f"jets {np.unique(problem_jets[self.network < 0])[:5].tolist()}... are in no network")
        self.local = np.zeros(len(problem_jets), dtype=np.int64)
        self.parts: dict[int, tuple[torch.Tensor, BranchAndBound]] = {}
        used = np.unique(self.network)
        for number in used:
            layers = networks[number][0]
            index = np.nonzero(self.network == number)[0]
            self.local[index] = np.arange(len(index))
            lo, hi = box[0][index], box[1][index]
            problems = Problems(lo, hi, spec[index], preactivation_bounds(layers, lo, hi))
            point = None if start is None else start[index]
            self.parts[number] = torch.from_numpy(index), BranchAndBound(layers, problems, point, networks=len(used))

    def _gathered(self, name: str) -> torch.Tensor:
        values = [(index, getattr(search, name)) for index, search in self.parts.values()]
        out = values[0][1].new_empty(len(self.network))
        for index, value in values:
            out[index] = value
        return out

    lower = property(lambda self: self._gathered("lower"))
    upper = property(lambda self: self._gathered("upper"))
    spent = property(lambda self: self._gathered("spent"))
    solved = property(lambda self: self._gathered("solved"))
    searchable = property(lambda self: self._gathered("searchable"))

    @property
    def domains_bounded(self) -> int:
        return sum(search.domains_bounded for _, search in self.parts.values())

    def start(self) -> None:
        for _, search in self.parts.values():
            search.start()

    def search(self, chosen: np.ndarray, domains: int) -> None:
        """Branch the ``chosen`` problems (all of one network) for ``domains`` more domains."""
        (number,) = np.unique(self.network[chosen])
        self.parts[number][1].search(torch.from_numpy(self.local[chosen]), domains)


def _results(search: _Searches, owners, offsets) -> dict[str, WorstCase]:
    results = {}
    for i, (name, jets, is_signal) in enumerate(owners):
        certified, attained = _scores(search, (name, jets, is_signal), offsets[i])
        solved = search.solved.numpy()[offsets[i] : offsets[i] + len(jets)]
        results[name] = WorstCase(jets, is_signal, certified, attained, solved)
    return results


def _priority(share: np.ndarray, search: _Searches, owners, offsets) -> np.ndarray:
    """A problem's claim on the next slice: its share of its discriminator's open pairs, times that
    discriminator's bracket, over 1 + the domains it has had / ``SPENT_SCALE``.

    The bracket's factor sends the time to the widest bracket first; the last factor to problems not yet
    searched much: a problem whose bound has resisted thousands of domains rarely gives way to the next
    few hundred, while one barely started often closes. Measured on the default run's nominal model
    (800,000 domains): CvsL's bracket 0.0109 with both factors, 0.0205 by the share alone.
    """
    weight = np.empty(len(share))
    for i, (_, jets, is_signal) in enumerate(owners):
        certified, attained = _scores(search, (None, jets, is_signal), offsets[i])
        weight[offsets[i] : offsets[i] + len(jets)] = auc(attained, is_signal) - auc(certified, is_signal)
    return share * weight / (1 + search.spent.numpy() / SPENT_SCALE)


def _scores(search: _Searches, owner, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """A discriminator's certified and attained worst log-odds per jet (the minimised value is
    the log-odds for a signal jet, minus it for a background jet).
    """
    part = slice(offset, offset + len(owner[1]))
    sign = np.where(owner[2], 1.0, -1.0)
    return search.lower.numpy()[part] * sign, search.upper.numpy()[part] * sign


def _undetermined_share(certified: np.ndarray, attained: np.ndarray, is_signal: np.ndarray) -> np.ndarray:
    """Per jet, the fraction of the discriminator's (signal, background) pairs it leaves undetermined."""
    signal_low, signal_found = certified[is_signal], attained[is_signal]
    background_high, background_found = certified[~is_signal], attained[~is_signal]
    open_pairs = (signal_low[:, None] <= background_high[None, :]) & (signal_found[:, None] > background_found[None, :])
    total = max(open_pairs.size, 1)
    share = np.zeros(len(certified))
    share[is_signal] = open_pairs.sum(1) / total
    share[~is_signal] = open_pairs.sum(0) / total
    return share
