"""The strong attack suite at a few checkpoints: its scores, sanity checks, certified bound and visibility.

One job per (model, checkpoint) runs every attack of ``evaluation.attacks`` at
every eps of the job in one batch per slice of jets (:mod:`.attacks.suite`),
and writes beside the scores what the tables check and bracket them with.
Kept apart from :mod:`.evaluate` so that the many scan jobs of every
checkpoint import neither pandas nor scipy.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from .attacks import input_gradient_sign
from .attacks.bounds import bound_method, bound_network, certified_auc, logit_difference_bounds
from .attacks.invisible import Invisibility, SampleChecks, invisible_attack
from .attacks.iterative import Target, fgsm_vertex, pgd
from .attacks.objectives import value_and_gradient
from .attacks.suite import Jets, attacked_rows, run_attack
from .attacks.worst_case import exact_worst_case, verifiable_networks
from .checkpoints import checkpoint_name, load_tagger
from .config import LossSettings, StrongAttackSettings, aimed_at
from .evaluate import (
    TestSet,
    constrained_test_set,
    gradient_sign,
    jet_slices,
    job_device,
    loss_keywords,
    predict,
    scores_of,
)
from .io import atomic_output
from .metrics import DISCRIMINATORS, auc, discriminant
from .paths import model_identity
from .preprocess import read_summary
from .visibility import ks_p_value, visibility_table

log = logging.getLogger(__name__)

#: jets on which each attack is run at eps = 0 (it must return them unchanged)
IDENTITY_JETS = 256
#: above this fraction of jets with an all-zero input gradient an attack's numbers are suspect
ZERO_GRADIENT_WARNING = 0.01


def score_strong_attacks(
    model_dir: str | os.PathLike,
    epoch: int,
    test_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    output: str | os.PathLike,
    checks_output: str | os.PathLike,
    certified_output: str | os.PathLike,
    visibility_output: str | os.PathLike,
    invisible_output: str | os.PathLike,
    settings: StrongAttackSettings,
    loss: LossSettings,
    *,
    train_path: str | os.PathLike | None = None,
    threads: int | None = None,
) -> None:
    """Write the scores of one checkpoint under every attack of the strong suite, and its sanity checks.

    Parameters
    ----------
    model_dir, epoch : the checkpoint (``results/models/{mode}/seed_{seed}``: its identity).
    test_path, summary_path : the test split and ``preprocessing.json``.
    output : the score file (the columns of ``tables.SCORE_COLUMNS``; attack_source is the model).
    checks_output : CSV, one row per (attack, eps): bound violations (all 0 for a valid
        attack), whether eps = 0 leaves the jets unchanged, and the fraction of jets whose
        input gradient is exactly zero at the unattacked point (FGSM's row: the focal loss's).
    certified_output : CSV, one row per (eps, discriminator): the certified lower bound of
        the AUC on the first ``settings.certified_jets`` test jets, beside the raw AUC and
        the worst attack's AUC on the same jets (:func:`certified_table`).
    visibility_output : CSV, one row per (attack, eps, feature, flavour) on the first
        ``settings.visibility_jets`` test jets: KS and Wasserstein-1 distances between
        raw and attacked inputs in raw units (:func:`visibility_rows`).
    invisible_output : CSV, one row per discriminator at the summary's eps on the same jets: the AUC the
        invisible attack costs beside FGSM's and the suite's worst (:func:`invisible_rows`).
    settings : the suite, its sizes, the cap and the budget scale.
    loss : the training loss, whose gradient FGSM follows (its row of the checks).
    train_path : the training split, read for ``epsilon_scale: quantile`` only.
    """
    device = job_device(settings.device, threads)
    summary = read_summary(summary_path)
    test = constrained_test_set(test_path, summary, device, settings, train_path)
    name, seed = model_identity(model_dir)
    identity = (name, seed, epoch)
    model = load_tagger(Path(model_dir) / checkpoint_name(epoch), device)
    model.eval()
    epsilons = tuple(sorted(settings.epsilons))
    probabilities_of: dict[tuple[str, float], list[np.ndarray]] = {}
    violations: dict[tuple[str, float], dict[str, int]] = {}
    seen: dict[tuple[str, float], list[torch.Tensor]] = {}  # the first visibility_jets attacked jets
    jets_per_batch = max(1, settings.batch_size // len(epsilons))
    for part in jet_slices(len(test.data), jets_per_batch):
        jets = _attack_jets(test, part)
        keep = max(0, min(settings.visibility_jets, len(test.data)) - part.start)
        for attack in settings.attacks:
            for attack_name, per_eps in run_attack(model, attack, jets, test.constraints, epsilons).items():
                for eps, attacked in per_eps.items():
                    probabilities_of.setdefault((attack_name, eps), []).append(predict(model, attacked, len(attacked)))
                    if keep:
                        seen.setdefault((attack_name, eps), []).append(attacked[:keep])
                    _add_counts(
                        violations, (attack_name, eps), test.constraints.violations(jets.x, attacked, jets.movable, eps)
                    )
    probabilities_of = {k: torch.cat(v).cpu().numpy() for k, v in probabilities_of.items()}
    table = scores_of(identity, test.data, {(a, name, eps): p for (a, eps), p in probabilities_of.items()})
    checks = _checks_table(identity, model, test, settings, loss, violations)
    certified = certified_table(identity, model, test, settings, probabilities_of)
    invisible, invisible_samples = invisible_rows(identity, model, test, settings, loss, probabilities_of)
    for disc, attacked in invisible_samples.items():  # measured as visibly as every other attack
        seen[f"{INVISIBLE}_{disc}", settings.summary_epsilon] = [attacked]
    visibility = visibility_rows(identity, model, test, settings, loss, seen, summary["feature_order"])
    with atomic_output(output) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    with atomic_output(checks_output) as tmp:
        checks.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_output(certified_output) as tmp:
        certified.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_output(visibility_output) as tmp:
        visibility.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_output(invisible_output) as tmp:
        invisible.to_csv(tmp, index=False, float_format="%.6g")
    log.info("%s: %d rows from %s seed %d epoch %d", output, table.num_rows, name, seed, epoch)


CERTIFIED_COLUMNS = (
    "model",
    "seed",
    "epoch",
    "epsilon",
    "discriminator",
    "method",
    "jets",
    "certified_auc",
    "certified_auc_weighted",
    "raw_auc",
    "raw_auc_weighted",
    "worst_attack_auc",
    "worst_attack_auc_weighted",
    "worst_attack",
    "exact_method",
    "exact_domains",
    "exact_seconds",
    "exact_solved",
    "exact_unsolved",
    "exact_certified_auc",
    "exact_certified_auc_weighted",
    "exact_attack_auc",
    "exact_attack_auc_weighted",
)

#: the targeted attack that gives the exact verification its starting points (and its first attack values)
EXACT_START_STEPS, EXACT_START_RESTARTS = 20, 3


def certified_table(identity, model, test: TestSet, settings: StrongAttackSettings, probabilities_of) -> pd.DataFrame:
    """The certified AUC bracket per (eps, discriminator), on the first ``certified_jets`` test jets.

    Bound propagation (:mod:`.attacks.bounds`) gives every jet's lowest and
    highest log-odds over its whole box; with signal jets at the lowest and
    background jets at the highest the AUC is a lower bound under any attack
    in the box. Beside it, on the same jets, the raw AUC and the lowest AUC of
    the suite's attacks: the true worst case lies between the two. Both
    unweighted and with the flavour weights (the tables pick by ``weighted``).
    """
    n = min(settings.certified_jets, len(test.data))
    rows = []
    network = bound_network(model)
    if network is None:
        log.info("%s: no certified bound (an audited model that is not a plain Linear/ReLU network)", identity)
    if n == 0 or network is None:
        return pd.DataFrame(rows, columns=CERTIFIED_COLUMNS)
    jets = _attack_jets(test, slice(0, n))
    labels = jets.labels.cpu().numpy()
    weights = test.data.weights[:n].cpu().numpy().astype(np.float64)
    raw = predict(model, jets.x, settings.batch_size).cpu().numpy().astype(np.float64)
    method = bound_method(network, settings.certified_method)
    for eps in sorted(settings.epsilons):
        lo, hi = test.constraints.box(jets.x, jets.movable, eps)
        bounds = logit_difference_bounds(network, lo, hi, DISCRIMINATORS, method)
        exact = {}
        if eps == settings.summary_epsilon:
            exact = _exact_columns(network, model, jets, (lo, hi), eps, bounds, test, settings)
        for disc, (signal, background) in DISCRIMINATORS.items():
            lower, upper = (b.cpu().numpy() for b in bounds[disc])
            row = {**identity_row(identity), "epsilon": eps, "discriminator": disc}
            row |= {"method": method, "jets": n}
            for suffix, w in (("", None), ("_weighted", weights)):
                row["certified_auc" + suffix] = certified_auc(lower, upper, labels, signal, background, w)
                row["raw_auc" + suffix] = _auc_of(raw, labels, signal, background, w)
                attacked = {
                    attack: _auc_of(p[:n].astype(np.float64), labels, signal, background, w)
                    for (attack, e), p in probabilities_of.items()
                    if e == eps and aimed_at(attack) in (None, disc)
                }
                worst = min(attacked, key=attacked.get)
                row["worst_attack_auc" + suffix] = attacked[worst]
                row["worst_attack"] = worst if suffix == "" else row["worst_attack"]
            rows.append(row | exact.get(disc, {}))
    return pd.DataFrame(rows, columns=CERTIFIED_COLUMNS)


def _exact_columns(network, model, jets: Jets, box, eps: float, crown, test: TestSet, settings) -> dict[str, dict]:
    """The exact verification's columns per discriminator (:func:`.attacks.worst_case.exact_worst_case`).

    ``box``: the jets' (lo, hi) at eps (the first jets of ``test``); ``crown``: the
    bounds of :func:`.attacks.bounds.logit_difference_bounds`, which each jet's certified log-odds
    never falls below (the search's own start, alpha-CROWN, is as tight, but for the intersection
    with the intervals that bound takes). The search starts
    from the targeted attack on each discriminator (``EXACT_START_STEPS`` steps and
    ``EXACT_START_RESTARTS`` restarts) and bounds ``exact_domains`` domains in all (a deep set: its
    networks per pattern of tracks share them). A model that is not piecewise linear (the transformer)
    keeps its bound: ``exact_method`` says why, the AUCs stay empty.
    """
    if settings.exact_domains is None:
        return {}
    lo, hi = box
    networks = verifiable_networks(network, lo, hi)
    if networks is None:
        reason = f"none: {type(network).__name__} is not piecewise linear (its bound stands)"
        log.info("%s", reason)
        return {disc: {"exact_method": reason} for disc in DISCRIMINATORS}
    budget = (test.constraints.scale * eps).to(jets.x.dtype).expand_as(jets.x)
    target = Target(jets.x, jets.labels, lo, hi, budget)
    weights = test.data.weights[: len(jets.x)].cpu().numpy().astype(np.float64)
    starts = {}
    for disc in DISCRIMINATORS:
        attacked = pgd(model, target, disc, steps=EXACT_START_STEPS, step_size=0.25, restarts=EXACT_START_RESTARTS)
        starts[disc] = attacked[0].cpu()
    started = time.monotonic()
    labels = jets.labels.cpu().numpy()
    box64 = (lo.double().cpu(), hi.double().cpu())
    worst = exact_worst_case(networks, *box64, labels, DISCRIMINATORS, settings.exact_domains, starts)
    seconds = time.monotonic() - started
    columns = {}
    for disc, case in worst.items():
        lower, upper = (b.cpu().numpy()[case.jets] for b in crown[disc])
        case.certified = np.where(case.is_signal, np.maximum(case.certified, lower), np.minimum(case.certified, upper))
        w = weights[case.jets]
        columns[disc] = {
            "exact_method": "branch_and_bound",
            "exact_domains": settings.exact_domains,
            "exact_seconds": seconds,
            "exact_solved": int(case.solved.sum()),
            "exact_unsolved": int((~case.solved).sum()),
            "exact_certified_auc": auc(case.certified, case.is_signal),
            "exact_certified_auc_weighted": auc(case.certified, case.is_signal, w),
            "exact_attack_auc": auc(case.attained, case.is_signal),
            "exact_attack_auc_weighted": auc(case.attained, case.is_signal, w),
        }
    return columns


def visibility_rows(identity, model, test: TestSet, settings, loss: LossSettings, seen, names) -> pd.DataFrame:
    """How visible each attack would be in data: raw against attacked inputs, feature by feature.

    On the first ``visibility_jets`` test jets, for every attack of the suite
    and FGSM (the scan's, from the focal loss's gradient sign) at every eps:
    :func:`.visibility.visibility_table` in raw units. The p-value of a KS
    distance is given twice: at the jets compared, and (``ks_p_value_test_set``)
    at the size of the whole test set, as a data/simulation comparison with as
    many jets would see it.
    """
    n = min(settings.visibility_jets, len(test.data))
    if n == 0:
        return pd.DataFrame()
    x, labels = test.data.x[:n], test.data.labels[:n]
    keywords = loss_keywords(loss)
    sign = torch.cat(
        [input_gradient_sign(model, x[p], labels[p], **keywords) for p in jet_slices(n, settings.batch_size)]
    )
    inputs = {key: torch.cat(parts) for key, parts in seen.items()}
    for eps in sorted(settings.epsilons):
        inputs["fgsm", eps] = fgsm_vertex(x, *test.constraints.box(x, test.data.movable[:n], eps), sign)
    raw = test.raw(x).cpu().numpy()
    label_array = labels.cpu().numpy()
    frames = []
    for (attack, eps), attacked in inputs.items():
        table = visibility_table(raw, test.raw(attacked).cpu().numpy(), label_array, names)
        table.insert(0, "epsilon", eps)
        table.insert(0, "attack", attack)
        frames.append(table)
    table = pd.concat(frames, ignore_index=True)
    total = len(test.data)
    table["ks_p_value_test_set"] = [ks_p_value(d, total, total) if np.isfinite(d) else np.nan for d in table["ks"]]
    for i, (column, value) in enumerate(identity_row(identity).items()):
        table.insert(i, column, value)
    return table


INVISIBLE_COLUMNS = (
    "model",
    "seed",
    "epoch",
    "epsilon",
    "discriminator",
    "jets",
    "p_value_limit",
    "correlation_limit",
    "raw_auc",
    "invisible_auc",
    "invisible_auc_lost",
    "invisible_auc_lost_err",
    "fgsm_auc_lost",
    "fgsm_auc_lost_err",
    "worst_attack",
    "worst_auc_lost",
    "worst_auc_lost_err",
    "invisible_smallest_p_value",
    "invisible_correlation_change",
)
#: the invisible attacks' names in the visibility table: invisible_<discriminator>
INVISIBLE = "invisible"
#: resamples of the jets for the AUC losses' statistical errors (a paired bootstrap)
INVISIBLE_BOOTSTRAP = 100


def invisible_rows(identity, model, test: TestSet, settings, loss: LossSettings, probabilities_of):
    """The invisible attack (:mod:`.attacks.invisible`) on each discriminator at the summary's eps.

    On the first ``visibility_jets`` test jets, the p-values at the sizes of the whole test set's
    flavours. Beside it on the same jets, the AUC lost to FGSM (the focal loss's gradient sign, the
    scan's attack) and to the suite's worst attack on that discriminator, each with the statistical
    error of a paired bootstrap of the jets (``INVISIBLE_BOOTSTRAP`` resamples).

    Returns
    -------
    tuple[pandas.DataFrame, dict[str, torch.Tensor]]
        The table (``INVISIBLE_COLUMNS``) and each discriminator's attacked jets.
    """
    n, eps = min(settings.visibility_jets, len(test.data)), settings.summary_epsilon
    if n == 0 or eps not in settings.epsilons:
        return pd.DataFrame(columns=INVISIBLE_COLUMNS), {}
    x, labels, movable = test.data.x[:n], test.data.labels[:n], test.data.movable[:n]
    flavours, counts = torch.unique(test.data.labels, return_counts=True)
    sizes = {int(f): int(c) for f, c in zip(flavours, counts)}  # the p-values at the whole test set's sizes
    limits = Invisibility(settings.invisible_p_value, settings.invisible_correlation)
    sign = torch.cat([input_gradient_sign(model, x[p], labels[p], **loss_keywords(loss)) for p in jet_slices(n, 4096)])
    fgsm = predict(model, fgsm_vertex(x, *test.constraints.box(x, movable, eps), sign), settings.batch_size)
    raw = predict(model, x, settings.batch_size).cpu().numpy()
    label_array = labels.cpu().numpy()
    resamples = np.random.default_rng(0).integers(0, n, size=(INVISIBLE_BOOTSTRAP, n))
    rows, samples = [], {}
    for disc, (signal, background) in DISCRIMINATORS.items():
        attacked = invisible_attack(model, x, labels, movable, test.constraints, eps, disc, sizes, limits)
        samples[disc] = attacked
        checks = SampleChecks(x, labels, sizes, limits)
        candidates = {
            attack: p[:n]
            for (attack, e), p in probabilities_of.items()
            if e == eps and aimed_at(attack) in (None, disc)
        }
        worst = min(candidates, key=lambda a: _auc_of(candidates[a], label_array, signal, background, None))
        scored = {
            "invisible": predict(model, attacked, settings.batch_size).cpu().numpy(),
            "fgsm": fgsm.cpu().numpy(),
            "worst": candidates[worst],
        }
        raw_auc = _auc_of(raw, label_array, signal, background, None)
        row = {**identity_row(identity), "epsilon": eps, "discriminator": disc, "jets": n}
        row |= {"p_value_limit": limits.p_value, "correlation_limit": limits.correlation, "raw_auc": raw_auc}
        row |= {"invisible_auc": _auc_of(scored["invisible"], label_array, signal, background, None)}
        for name, p in scored.items():
            lost = [
                _auc_of(raw[r], label_array[r], signal, background, None)
                - _auc_of(p[r], label_array[r], signal, background, None)
                for r in resamples
            ]
            row[f"{name}_auc_lost"] = raw_auc - _auc_of(p, label_array, signal, background, None)
            row[f"{name}_auc_lost_err"] = float(np.std(lost, ddof=1))
        row |= {"worst_attack": worst, "invisible_smallest_p_value": checks.smallest_p_value(attacked)}
        row["invisible_correlation_change"] = checks.correlation_change(attacked)
        rows.append(row)
    return pd.DataFrame(rows, columns=INVISIBLE_COLUMNS), samples


def _auc_of(p: np.ndarray, labels: np.ndarray, signal: int, background: int, weights) -> float:
    both = (labels == signal) | (labels == background)
    score = discriminant(p[both, signal], p[both, background])
    return auc(score, labels[both] == signal, None if weights is None else weights[both])


def _attack_jets(test: TestSet, part: slice) -> Jets:
    data = test.data
    return Jets(data.x[part], data.labels[part], data.movable[part], test.genuine_integers[part])


def _add_counts(totals: dict, key, counts: dict[str, int]) -> None:
    into = totals.setdefault(key, dict.fromkeys(counts, 0))
    for what, count in counts.items():
        into[what] += count


def _checks_table(identity, model, test: TestSet, settings: StrongAttackSettings, loss: LossSettings, violations):
    """One row per (attack, eps) of the suite, and FGSM's zero-gradient fraction."""
    probe = _attack_jets(test, slice(0, IDENTITY_JETS))
    rows = []
    for attack in settings.attacks:
        unchanged = run_attack(model, attack, probe, test.constraints, (0.0,))
        for attack_name, objective in attack.attack_names().items():
            zero = _zero_gradient_fraction(model, test, objective, settings.batch_size)
            for eps in sorted(settings.epsilons):
                rows.append(
                    {
                        **identity_row(identity),
                        "attack": attack_name,
                        "method": attack.method,
                        "epsilon": eps,
                        "identity_at_zero": bool(torch.equal(unchanged[attack_name][0.0], probe.x)),
                        **violations[attack_name, eps],
                        "zero_gradient_fraction": zero,
                    }
                )
    fgsm_zero = _fgsm_zero_gradient_fraction(model, test, loss, settings.batch_size)
    for eps in sorted(settings.epsilons):  # the scan's FGSM (its bounds hold by the same box)
        rows.append(
            {
                **identity_row(identity),
                "attack": "fgsm",
                "method": "fgsm",
                "epsilon": eps,
                "zero_gradient_fraction": fgsm_zero,
            }
        )
    checks = pd.DataFrame(rows)
    for row in checks.itertuples():
        if row.zero_gradient_fraction > ZERO_GRADIENT_WARNING:
            log.warning(
                "%s seed %d epoch %d, %s: %.1f %% of the jets have an all-zero input gradient (they are not attacked)",
                *identity,
                row.attack,
                100 * row.zero_gradient_fraction,
            )
    return checks


def identity_row(identity: tuple[str, int, int]) -> dict:
    """The identity columns of a job's tables: the model (mode), its training seed and the epoch."""
    return {"model": identity[0], "seed": identity[1], "epoch": identity[2]}


def _zero_gradient_fraction(model, test: TestSet, objective: str, batch_size: int) -> float:
    """The fraction of jets (of those the objective attacks) whose gradient over the movable inputs is exactly 0."""
    zero, counted = 0, 0
    for part in jet_slices(len(test.data), batch_size):
        x, labels, movable = test.data.x[part], test.data.labels[part], test.data.movable[part]
        _, gradient = value_and_gradient(model, x, labels, objective)
        attacked = attacked_rows(labels, objective)
        zero += int((((gradient != 0) & movable).sum(1) == 0)[attacked].sum())
        counted += int(attacked.sum())
    return zero / max(counted, 1)


def _fgsm_zero_gradient_fraction(model, test: TestSet, loss: LossSettings, batch_size: int) -> float:
    signs = gradient_sign(model, test, loss, batch_size)
    return float((((signs != 0) & test.data.movable).sum(1) == 0).float().mean())
