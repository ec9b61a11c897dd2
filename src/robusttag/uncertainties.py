"""Statistical uncertainties of the tagging metrics: a paired bootstrap over test jets.

Resample b gives every test jet a Poisson(1) count (the Poisson bootstrap:
for many jets the same as drawing n jets with replacement, but each jet's
count is independent of the others, so a resample of a subset of the jets is
the subset of the resample). The counts depend only on (seed, b) and the
jet's position in the test set, so every metric computed on the same jets
(raw and attacked scores, every model, every discriminator) sees the same
resamples: differences and ratios of metrics then get their proper errors,
computed from the per-resample values, in which the jet-to-jet fluctuations
common to both sides cancel.

The standard error quoted is the standard deviation of the resampled values
(ddof = 1). Efficiencies at a fixed cut have a binomial error as well, with
the effective number of jets (sum w)^2 / sum w^2 for weighted samples, as
puma does.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .errors import ResultsError

#: resamples generated at once: bounds the memory to block x jets x 8 bytes
RESAMPLE_BLOCK = 32


class Bootstrap:
    """The Poisson resample counts of ``n_jets`` test jets, ``resamples`` of them, from ``seed``.

    Parameters
    ----------
    n_jets : int
        Test jets (the counts of jet i are the same whatever subset is later taken).
    resamples : int
        Number of bootstrap resamples (at least 2).
    seed : int
        Seed of the counts: the same seed gives the same resamples, bit for bit.
    """

    def __init__(self, n_jets: int, resamples: int, seed: int) -> None:
        if resamples < 2:
            raise ResultsError(f"a bootstrap needs at least 2 resamples, got {resamples}")
        if n_jets < 1:
            raise ResultsError(f"a bootstrap needs test jets, got {n_jets}")
        self.n_jets, self.resamples, self.seed = n_jets, resamples, seed
        self._counts = None if n_jets * resamples > (1 << 27) else np.vstack(list(self._generate(0, resamples)))

    def _generate(self, start: int, stop: int) -> Iterator[np.ndarray]:
        for b in range(start, stop):
            yield np.random.default_rng([self.seed, b]).poisson(1.0, self.n_jets).astype(np.float64)

    def blocks(self, jets: np.ndarray | slice = slice(None)) -> Iterator[np.ndarray]:
        """(block, len(jets)) counts of the given jets, resample after resample, in blocks of RESAMPLE_BLOCK."""
        for start in range(0, self.resamples, RESAMPLE_BLOCK):
            stop = min(start + RESAMPLE_BLOCK, self.resamples)
            counts = (
                self._counts[start:stop] if self._counts is not None else np.vstack(list(self._generate(start, stop)))
            )
            yield counts[:, jets]


def resampled_aucs(bootstrap: Bootstrap, jets: np.ndarray, scores, is_signal, weights=None) -> np.ndarray:
    """The AUC of every resample: (resamples,) values.

    ``jets`` are the positions in the test set of the jets scored (a
    discriminator's two flavours); ``scores``, ``is_signal`` and the optional
    per-jet ``weights`` are theirs, in that order. Each resample's AUC is the
    weighted Mann-Whitney statistic with weight count x weight, ties counting
    1/2: exactly :func:`robusttag.metrics.auc` with those weights, computed for
    all resamples from one sort.

    Raises
    ------
    ResultsError
        When the arrays disagree in length, or a resample leaves no signal or
        no background weight (too few jets for a bootstrap).
    """
    scores, is_signal = np.asarray(scores, dtype=np.float64), np.asarray(is_signal, dtype=bool)
    jets = np.asarray(jets)
    if not (scores.shape == is_signal.shape == jets.shape) or scores.ndim != 1:
        raise ResultsError(
            f"jets, scores and is_signal must be 1-d of equal length, got {jets.shape}, "
            f"{scores.shape}, {is_signal.shape}"
        )
    order = np.argsort(scores, kind="stable")
    sorted_scores, signal = scores[order], is_signal[order]
    starts = np.flatnonzero(np.r_[True, np.diff(sorted_scores) > 0])  # first jet of each group of equal scores
    weight = np.ones(scores.size) if weights is None else np.asarray(weights, dtype=np.float64)[order]
    values = []
    for counts in bootstrap.blocks(jets[order]):
        w = counts * weight
        signal_w, background_w = w * signal, w * ~signal
        signal_group = np.add.reduceat(signal_w, starts, axis=1)
        background_group = np.add.reduceat(background_w, starts, axis=1)
        background_below = np.cumsum(background_group, axis=1) - background_group
        pairs = np.sum(signal_group * (background_below + 0.5 * background_group), axis=1)
        total = signal_w.sum(1) * background_w.sum(1)
        if not (total > 0).all():
            raise ResultsError("a bootstrap resample has no signal or no background weight: too few jets")
        values.append(pairs / total)
    return np.concatenate(values)


def resampled_efficiencies(bootstrap: Bootstrap, jets: np.ndarray, passes, weights=None) -> np.ndarray:
    """The tagged fraction of the given jets in every resample (NaN where a resample has no weight).

    ``passes`` flags the jets above the cut (a fixed cut: the same for every resample).
    """
    passes = np.asarray(passes, dtype=bool)
    weight = np.ones(passes.size) if weights is None else np.asarray(weights, dtype=np.float64)
    values = []
    for counts in bootstrap.blocks(np.asarray(jets)):
        w = counts * weight
        total = w.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            values.append((w * passes).sum(1) / total)
    return np.concatenate(values)


def standard_error(resampled: np.ndarray) -> float:
    """The standard deviation of the resampled values of a metric (NaN with fewer than 2 finite values)."""
    resampled = np.asarray(resampled, dtype=np.float64)
    finite = resampled[np.isfinite(resampled)]
    return float(np.std(finite, ddof=1)) if finite.size > 1 else float("nan")


def effective_jets(weights) -> float:
    """(sum w)^2 / sum w^2: the number of unweighted jets with the same statistical power (Kish)."""
    weights = np.asarray(weights, dtype=np.float64)
    squares = float(np.sum(weights**2))
    return float(np.sum(weights)) ** 2 / squares if squares > 0 else 0.0


def binomial_error(efficiency: float, n_effective: float) -> float:
    """sqrt(eff (1 - eff) / n): the binomial error of an efficiency over n (effective) jets."""
    if n_effective <= 0:
        return float("nan")
    return float(np.sqrt(max(efficiency * (1.0 - efficiency), 0.0) / n_effective))
