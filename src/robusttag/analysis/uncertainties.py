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

from ..errors import ResultsError

#: counts handled at once (a block of resamples of every jet): 128 MB per array of them
BLOCK_COUNTS = 1 << 24
#: up to this many counts (1 GB) are drawn once and kept; beyond, each block is drawn afresh
KEPT_COUNTS = 1 << 27


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
        self.block = max(1, min(resamples, BLOCK_COUNTS // n_jets))
        kept = n_jets * resamples <= KEPT_COUNTS  # beyond, never hold them all at once
        self._kept = [self._generate(start, stop) for start, stop in self._ranges()] if kept else None

    def _ranges(self) -> list[tuple[int, int]]:
        return [(start, min(start + self.block, self.resamples)) for start in range(0, self.resamples, self.block)]

    def _generate(self, start: int, stop: int) -> np.ndarray:
        """(n_jets, stop - start) counts: jets along the rows, so that gathering jets copies whole rows."""
        counts = np.empty((self.n_jets, stop - start))
        for column, b in enumerate(range(start, stop)):
            counts[:, column] = np.random.default_rng([self.seed, b]).poisson(1.0, self.n_jets)
        return counts

    def blocks(self) -> Iterator[np.ndarray]:
        """(n_jets, block) counts of every test jet, for one block of resamples after the other."""
        if self._kept is not None:
            yield from self._kept
        else:
            for start, stop in self._ranges():
                yield self._generate(start, stop)


def resampled_aucs(bootstrap: Bootstrap, jets: np.ndarray, scores, is_signal, weights=None) -> np.ndarray:
    """The AUC of every resample: (resamples,) values.

    ``jets`` are the positions in the test set of the jets scored (a
    discriminator's two flavours); ``scores``, ``is_signal`` and the optional
    per-jet ``weights`` are theirs, in that order. Each resample's AUC is the
    weighted Mann-Whitney statistic with weight count x weight, ties counting
    1/2: exactly :func:`robusttag.metrics.auc` with those weights.

    One sort serves every resample: each signal jet's place among the sorted
    background scores is found once, and per resample the background weight
    below it is read off a cumulative sum.

    Raises
    ------
    ResultsError
        When the arrays disagree in length, or a resample leaves no signal or
        no background weight (too few jets for a bootstrap).
    """
    scores, is_signal, jets = np.asarray(scores, dtype=np.float64), np.asarray(is_signal, dtype=bool), np.asarray(jets)
    if not (scores.shape == is_signal.shape == jets.shape) or scores.ndim != 1:
        raise ResultsError(
            f"jets, scores and is_signal must be 1-d of equal length, got {jets.shape}, {scores.shape}, "
            f"{is_signal.shape}"
        )
    order = np.argsort(scores[~is_signal], kind="stable")
    background_scores, background_jets = scores[~is_signal][order], jets[~is_signal][order]
    signal_jets, signal_scores = jets[is_signal], scores[is_signal]
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        signal_weight, background_weight = weights[is_signal][:, None], weights[~is_signal][order][:, None]
    below = np.searchsorted(background_scores, signal_scores, side="left")  # background strictly below
    not_above = np.searchsorted(background_scores, signal_scores, side="right")  # below or tied
    tied = not np.array_equal(below, not_above)
    values = []
    for counts in bootstrap.blocks():
        signal_w, background_w = counts[signal_jets], counts[background_jets]
        if weights is not None:
            signal_w, background_w = signal_w * signal_weight, background_w * background_weight
        cumulative = np.zeros((background_jets.size + 1, counts.shape[1]))
        np.cumsum(background_w, axis=0, out=cumulative[1:])
        under = cumulative[below]
        if tied:  # a tie counts 1/2
            under = 0.5 * (under + cumulative[not_above])
        total = signal_w.sum(0) * cumulative[-1]
        if not (total > 0).all():
            raise ResultsError("a bootstrap resample has no signal or no background weight: too few jets")
        values.append(np.einsum("ij,ij->j", signal_w, under) / total)
    return np.concatenate(values)


def resampled_efficiencies(bootstrap: Bootstrap, jets: np.ndarray, passes, weights=None) -> np.ndarray:
    """The tagged fraction of the given jets in every resample (NaN where a resample has no weight).

    ``passes`` flags the jets above the cut (a fixed cut: the same for every resample).
    """
    passes, jets = np.asarray(passes, dtype=bool), np.asarray(jets)
    weights = None if weights is None else np.asarray(weights, dtype=np.float64)[:, None]
    values = []
    for counts in bootstrap.blocks():
        if weights is None:
            tagged, total = counts[jets[passes]].sum(0), counts[jets].sum(0)
        else:
            w = counts[jets] * weights
            tagged, total = w[passes].sum(0), w.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            values.append(tagged / total)
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
