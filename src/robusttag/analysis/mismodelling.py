"""Pseudo-data: every model on mismodelled simulation, as it would meet data, and the paper's premise tested.

A shifted sample is the generator with some knobs scaled (a mismodelled
simulation) or a user's sample of other simulation or of data, preprocessed
with the nominal statistics. Its reference is what the model was calibrated
on: for a generated sample, the nominal twin (nominal settings, the shifted
samples' seed and size). A shift of the embedded generator's knobs and a
detector variation of Pythia's hold the twin's own jets (the same flavour, pT
and eta), so that the comparison is paired jet by jet and the bootstrap errors
are those of the mismodelling alone; a Pythia generator variation is an
independent sample (errors added in quadrature). For a user's sample, a fresh
nominal sample is not at hand, so the nominal test split (independent jets:
errors added in quadrature).

For every model and checkpoint scored: the AUC change, and at the
working-point cuts fixed on the NOMINAL validation split the efficiency,
mistag and "data/simulation" scale factors SF = shifted / reference, per
(pT, |eta|) bin at the selected checkpoints. Bootstrap errors at the selected
checkpoints (the tables' resamples); the other scanned checkpoints serve the
premise, whose uncertainty comes from resampling its points.

The premise (the paper's motivation, never tested there): a model robust to
attacks also moves less on a domain it was not trained on. Across modes,
seeds and checkpoints, the rank correlation of each model's vulnerability
(relative AUC drop under FGSM or the suite's worst case) with its
sensitivity to each shifted sample (|relative AUC change|, |SF - 1|).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy.stats import rankdata, spearmanr

from ..config import NOMINAL_TEST, NOMINAL_TWIN, TableSettings
from ..errors import ResultsError
from ..io import atomic_output
from ..metrics import DISCRIMINATORS
from ..preprocess import read_summary
from ..scores import SHIFTED_SAMPLE
from ..visibility import two_sample_table
from .defences import unseen_half
from .tables import CHECKPOINT, KEYS, MISTAGS, combined_scores, metrics_tables, score_groups
from .uncertainties import Bootstrap, standard_error
from .working_points import BIN_COLUMNS as _ATTACK_BINS
from .working_points import fixed_cut_tables

log = logging.getLogger(__name__)

PREMISE_MISTAG = 0.1  #: the working point of the premise's scale factors (light mistag of BvsL and CvsL)
PREMISE_RESAMPLES = 1000  #: resamples of the premise's points for the error of the rank correlation
_SAMPLE_KEYS = [*CHECKPOINT, "sample", "reference", "discriminator"]
AUC_COLUMNS = (
    *_SAMPLE_KEYS,
    "selected",
    "auc",
    "auc_err",
    "reference_auc",
    "reference_auc_err",
    "auc_change",
    "auc_change_err",
)
_FRACTIONS = ("efficiency", "mistag", "sf_efficiency", "sf_mistag", "other_efficiency", "sf_other")
#: each tagged fraction of the working points' tables and its scale factor's column
_SCALE_FACTORS = {"efficiency": "sf_efficiency", "mistag": "sf_mistag", "other_efficiency": "sf_other"}
WORKING_POINT_COLUMNS = (
    *_SAMPLE_KEYS,
    "mistag_target",
    "selected",
    "cut",
    *(name + suffix for name in _FRACTIONS for suffix in ("", "_err")),
)
#: the per-bin columns of the attacks' table (working_points.BIN_COLUMNS), a sample in place of an attack
BIN_COLUMNS = (*_SAMPLE_KEYS, *_ATTACK_BINS[_ATTACK_BINS.index("mistag_target") :])
PREMISE_COLUMNS = (
    "sample",
    "discriminator",
    "vulnerability",
    "sensitivity",
    "points",
    "spearman",
    "spearman_err",
    "p_value",
)
SENSITIVITIES = ("auc_change", "sf_efficiency", "sf_mistag")
VULNERABILITIES = ("fgsm", "worst_case")


def reference_of(sample: str, generated: set[str]) -> str:
    """The sample a shifted one is compared with: the twin for a generated sample, else the nominal test split."""
    return NOMINAL_TWIN if sample in generated else NOMINAL_TEST


def _paired(scores: pd.DataFrame, sample: str, reference: str) -> pd.DataFrame:
    """The rows of ``sample`` and of ``reference`` (as attack "raw"), in the tables' score layout."""
    rows = scores[scores["attack"].isin([sample, reference])].copy()
    rows["attack"] = np.where(rows["attack"] == reference, "raw", sample)
    rows["attack_source"] = np.where(rows["attack"] == "raw", "none", SHIFTED_SAMPLE)
    for column in ("attack", "attack_source"):
        rows[column] = rows[column].astype("category")
    return rows.reset_index(drop=True)


def _check_pairing(scores: pd.DataFrame, sample: str, reference: str = NOMINAL_TWIN) -> None:
    """A paired sample must hold the twin's jets (same flavours, in order): the pairing of every error.

    Raises
    ------
    ResultsError
        When the flavours differ.
    """
    one = scores[CHECKPOINT].drop_duplicates().iloc[0]
    at = scores[np.logical_and.reduce([scores[c] == one[c] for c in CHECKPOINT])]
    shifted, twin = at.loc[at["attack"] == sample, "label"], at.loc[at["attack"] == reference, "label"]
    if len(shifted) != len(twin) or not np.array_equal(shifted.to_numpy(), twin.to_numpy()):
        raise ResultsError(
            f"shifted sample {sample}: its {len(shifted)} jets are not the {len(twin)} jets of {reference} "
            "(same seed and n_jets give the same flavours in the same order)"
        )


def _selected_only(frame: pd.DataFrame, selected: dict[tuple[str, int], int], keep: bool) -> pd.DataFrame:
    """The rows of the selected checkpoints (``keep``) or of the others."""
    model, seed, epoch = (frame[c].to_numpy() for c in CHECKPOINT)
    chosen = np.zeros(len(frame), dtype=bool)
    for (mode, training_seed), best in selected.items():
        chosen |= (model == mode) & (seed == training_seed) & (epoch == best)
    return frame[chosen == keep].reset_index(drop=True)


def _auc_rows(paired: pd.DataFrame, settings: TableSettings, bootstrap: int, threads: int) -> pd.DataFrame:
    """Per checkpoint and discriminator: shifted and reference AUC, their errors, and the change's (paired) error."""
    keys = [*CHECKPOINT, "discriminator"]
    columns = [*keys, "auc", "auc_err", "reference_auc", "reference_auc_err", "auc_change_err"]
    if paired.empty:
        return pd.DataFrame(columns=columns)
    auc, _, replicas = metrics_tables(paired, settings.weighted, bootstrap, settings.bootstrap_seed, threads)
    raw = auc[auc["attack"] == "raw"].set_index(keys)[["auc", "auc_err"]].add_prefix("reference_")
    out = auc[auc["attack"] != "raw"].join(raw, on=keys)
    errors = []
    for row in out.itertuples(index=False):
        key = tuple(getattr(row, k) for k in KEYS)
        reference = replicas.get((*key[:3], "raw", "none", 0.0, key[-1]))
        errors.append(np.nan if reference is None else standard_error(replicas[key] - reference))
    return out.assign(auc_change_err=errors)[columns]


def _fraction_rows(paired, validation, settings, bootstrap: int, kinematics, binned: bool, threads: int):
    """(working points, per-bin rows) of the shifted rows against the "raw" ones at the validation cuts."""
    resamples = Bootstrap(len(score_groups(paired)[0][1]), bootstrap, settings.bootstrap_seed) if bootstrap else None
    edges = (settings.scale_factor_pt_bins, settings.scale_factor_abs_eta_bins) if binned else ((), ())
    points, bins = fixed_cut_tables(
        paired,
        score_groups(paired),
        validation,
        MISTAGS,
        settings.weighted,
        resamples,
        kinematics,
        *edges,
        None,
        threads,
    )
    return tuple(t[t["attack"] != "raw"].drop(columns=["attack", "attack_source", "epsilon"]) for t in (points, bins))


def _alone(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """One sample's rows as a score table of its own: as raw and as a copy (the tables compare attacks with raw)."""
    own = rows[rows["attack"] == name]
    copy = own.assign(attack="self", attack_source=SHIFTED_SAMPLE)
    table = pd.concat([own.assign(attack="raw", attack_source="none"), copy], ignore_index=True)
    return table.astype({"attack": "category", "attack_source": "category"})


_BIN_EDGES = ["pt_low", "pt_high", "abs_eta_low", "abs_eta_high"]


def _independent_tables(rows, cuts, settings, bootstrap: int, kinematics: tuple, binned: bool, threads: int):
    """(AUC, working points, bins) of a sample against an independent reference (a user's sample against the
    nominal test split, a Pythia generator variation against the twin): independent jets, each
    measured alone (its own bootstrap), the changes' and ratios' errors added in quadrature.
    """
    keys = [*CHECKPOINT, "discriminator"]
    alone = [_alone(rows, name) for name in ("shifted", "raw")]
    own, ref = (_auc_rows(table, settings, bootstrap, threads) for table in alone)
    reference = ref[[*keys, "auc", "auc_err"]].rename(columns={"auc": "reference_auc", "auc_err": "reference_auc_err"})
    auc = own[[*keys, "auc", "auc_err"]].merge(reference, on=keys, how="left")
    auc["auc_change_err"] = np.hypot(auc["auc_err"], auc["reference_auc_err"])
    tables = [_fraction_rows(t, cuts, settings, bootstrap, k, binned, threads) for t, k in zip(alone, kinematics)]
    ratios = []
    for part, edges in ((0, []), (1, _BIN_EDGES)):
        columns = list(tables[0][part].columns)
        merged = tables[0][part].merge(tables[1][part], on=[*keys, "mistag_target", *edges], suffixes=("", "_ref"))
        for name, sf in _SCALE_FACTORS.items():
            value, base = merged[name], merged[f"{name}_ref"]
            merged[sf] = value / base.where(base > 0)
            if f"{name}_err" in merged:  # per bin the tables give no errors of the fractions themselves
                relative = np.hypot(merged[f"{name}_err"] / value, merged[f"{name}_err_ref"] / base)
                merged[f"{sf}_err"] = merged[sf] * relative
            else:
                merged[f"{sf}_err"] = np.nan
        ratios.append(merged[columns])
    return auc, *ratios


def shifted_tables(
    scores: pd.DataFrame,
    validation: pd.DataFrame,
    kinematics: dict[str, pd.DataFrame],
    generated: set[str],
    paired: set[str],
    selected: dict[tuple[str, int], int],
    settings: TableSettings,
    threads: int = 1,
    target: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(AUC, working points, scale factors per bin) of every shifted sample against its reference; with domain
    training's ``target``, also of its odd-numbered jets (:func:`.defences.unseen_half`: the jets it never saw).

    ``scores`` are the shifted-sample score files (attack: the sample's name), ``validation`` the
    nominal validation scores of the same checkpoints (the cuts), ``kinematics`` {sample: its
    ``raw_jet_pt`` and ``raw_jet_eta``}, ``generated`` the samples measured against the twin, ``paired`` those
    of them that hold the twin's jets,
    ``selected`` {(mode, seed): selected epoch}: there the bootstrap errors and the per-bin table
    (a user's sample: per-bin values without errors).

    Raises
    ------
    ResultsError
        When a paired sample does not hold the twin's jets.
    """
    samples = sorted(s for s in scores["attack"].unique() if s not in (NOMINAL_TWIN, NOMINAL_TEST))
    jobs = [(sample, scores, reference_of(sample, generated)) for sample in samples]
    kinematics, paired = dict(kinematics), set(paired)
    if target in samples:
        jobs.append(_unseen_half(scores, kinematics, target, reference_of(target, generated), target in paired))
        paired |= {jobs[-1][0]} if target in paired else set()
    parts: list[list[pd.DataFrame]] = [[], [], []]
    for sample, scores, reference in jobs:
        if sample in paired:
            _check_pairing(scores, sample, reference)
        compared = _paired(scores, sample, reference)
        for keep in (True, False):  # errors and bins where a model is judged; the other checkpoints: values
            rows, cuts = _selected_only(compared, selected, keep), _selected_only(validation, selected, keep)
            if rows.empty:
                continue
            bootstrap = settings.bootstrap if keep else 0
            if sample in paired:
                tables = (
                    _auc_rows(rows, settings, bootstrap, threads),
                    *_fraction_rows(rows, cuts, settings, bootstrap, kinematics[sample], keep, threads),
                )
            else:
                rows = rows.assign(attack=rows["attack"].astype(str).replace(sample, "shifted"))
                kinematics_of = (kinematics[sample], kinematics[reference])
                tables = _independent_tables(rows, cuts, settings, bootstrap, kinematics_of, keep, threads)
            for part, table in zip(parts, tables if keep else tables[:2]):
                part.append(table.assign(sample=sample, reference=reference, selected=keep))
    auc = _finish(parts[0], AUC_COLUMNS)
    auc["auc_change"] = auc["auc"] - auc["reference_auc"]
    return auc, _finish(parts[1], WORKING_POINT_COLUMNS), _finish(parts[2], BIN_COLUMNS)


def _unseen_half(scores: pd.DataFrame, kinematics: dict, target: str, reference: str, paired: bool):
    """(name, scores, reference) of the target's odd-numbered jets, against the same jets of the twin when paired
    (else against the whole reference); their kinematics added to ``kinematics``.
    """
    name = unseen_half(target)
    halves = []
    for sample, new in ((target, name), (reference, unseen_half(reference))) if paired else ((target, name),):
        rows = scores[scores["attack"] == sample]
        odd = rows.groupby(CHECKPOINT, observed=True).cumcount().to_numpy() % 2 == 1
        halves.append(rows[odd].assign(attack=new))
        kinematics[new] = kinematics[sample].iloc[1::2].reset_index(drop=True)
    if not paired:
        halves.append(scores[scores["attack"] == reference])
    return name, pd.concat(halves, ignore_index=True), unseen_half(reference) if paired else reference


def _finish(parts: list[pd.DataFrame], columns) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(columns))
    for column in columns:
        if column not in table:
            table[column] = np.nan
    order = [c for c in (*_SAMPLE_KEYS, "mistag_target", "pt_low", "abs_eta_low") if c in columns]
    return table[list(columns)].sort_values(order, ignore_index=True)


def shifted_distances(
    twin_or_test: dict[str, pd.DataFrame],
    samples: dict[str, pd.DataFrame],
    generated: set[str],
    summary: dict,
    threads: int = 1,
) -> pd.DataFrame:
    """KS and Wasserstein-1 distances of every shifted sample's inputs (raw units) from its reference's.

    ``twin_or_test`` are {reference name: its preprocessed jets}, ``samples`` {sample: its preprocessed
    jets}; ``summary`` the nominal ``preprocessing.json`` (the inverse of its scaling gives raw units).
    The samples are compared ``threads`` at a time (numpy's sorts release the interpreter lock).
    """
    names = summary["feature_order"]
    mean = np.array([c["mean"] for c in summary["features"]])
    std = np.array([c["std"] for c in summary["features"]])

    def distances_of(sample: str) -> pd.DataFrame:
        jets, reference = samples[sample], twin_or_test[reference_of(sample, generated)]
        a, b = (frame[names].to_numpy(np.float64) * std + mean for frame in (reference, jets))
        table = two_sample_table(a, b, reference["label"].to_numpy(), jets["label"].to_numpy(), names)
        return table.assign(sample=sample, reference=reference_of(sample, generated))

    with ThreadPoolExecutor(max(1, threads)) as pool:
        parts = list(pool.map(distances_of, samples))
    if not parts:
        return pd.DataFrame(columns=["sample", "reference", "feature", "flavour", "ks", "wasserstein_1"])
    table = pd.concat(parts, ignore_index=True)
    return table[["sample", "reference", *[c for c in table.columns if c not in ("sample", "reference")]]]


def shifted_visibility(distances: pd.DataFrame, auc: pd.DataFrame) -> pd.DataFrame:
    """Per shifted sample and model (selected checkpoints): the most visibly shifted input (largest KS over the
    inputs, all flavours), the mean Wasserstein-1 in units of each input's spread, and the largest relative AUC
    lost over the discriminators: the attacks' visibility axis (``tables.visibility_summary``).
    """
    columns = [*CHECKPOINT, "sample", "largest_ks", "feature", "ks_p_value", "mean_relative_w1", "auc_lost"]
    pooled = distances[distances["flavour"] == "all"] if len(distances) else distances
    chosen = auc[auc["selected"]] if len(auc) else auc
    rows = []
    for sample, group in pooled.groupby("sample") if len(pooled) else ():
        top = group.loc[group["ks"].idxmax()]
        w1 = (group["wasserstein_1"] / group["raw_std"].where(group["raw_std"] > 0)).mean()
        at = chosen[chosen["sample"] == sample]
        for checkpoint, rows_of in at.groupby(CHECKPOINT):
            lost = ((rows_of["reference_auc"] - rows_of["auc"]) / rows_of["reference_auc"]).max()
            rows.append((*checkpoint, sample, top["ks"], top["feature"], top["ks_p_value"], w1, lost))
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------
# The premise
# ---------------------------------------------------------------------------


def sensitivities(auc: pd.DataFrame, working_points: pd.DataFrame) -> pd.DataFrame:
    """Per (checkpoint, sample, discriminator): |relative AUC change|, |SF_eff - 1|, |SF_mistag - 1| at the
    premise's working point.
    """
    keys = [*CHECKPOINT, "sample", "discriminator"]
    change = auc.assign(auc_change=((auc["auc"] - auc["reference_auc"]) / auc["reference_auc"]).abs())
    wp = working_points[np.isclose(working_points["mistag_target"], PREMISE_MISTAG)]
    wp = wp.assign(sf_efficiency=(wp["sf_efficiency"] - 1).abs(), sf_mistag=(wp["sf_mistag"] - 1).abs())
    return change[[*keys, "auc_change"]].merge(wp[[*keys, "sf_efficiency", "sf_mistag"]], on=keys, how="left")


def vulnerabilities(auc: pd.DataFrame, worst_case: pd.DataFrame, epsilon: float) -> pd.DataFrame:
    """Per (checkpoint, discriminator): the relative AUC drop under FGSM and under the suite's worst case."""
    keys = [*CHECKPOINT, "discriminator"]
    fgsm = auc[(auc["attack"] == "fgsm") & (auc["attack_source"] == auc["model"]) & np.isclose(auc["epsilon"], epsilon)]
    fgsm = fgsm[[*keys, "selected", "relative_drop"]].rename(columns={"relative_drop": "fgsm"})
    worst = worst_case[np.isclose(worst_case["epsilon"], epsilon)] if len(worst_case) else worst_case
    worst = worst[keys + ["worst_relative_drop"]].rename(columns={"worst_relative_drop": "worst_case"})
    return fgsm.merge(worst, on=keys, how="left")


def rank_correlation(x, y, resamples: int = PREMISE_RESAMPLES, seed: int = 1) -> tuple[float, float, float]:
    """(Spearman's rho, its error from resampling the points, its p-value); NaN below 3 points."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan, np.nan
    rho, p_value = spearmanr(x, y)
    chosen = np.random.default_rng(seed).integers(0, len(x), (resamples, len(x)))
    # Spearman's rho of every resample at once: Pearson's of the (tie-averaged) ranks, row by row
    ranks = [rankdata(values[chosen], axis=1) for values in (x, y)]
    ranks = [r - r.mean(axis=1, keepdims=True) for r in ranks]
    spread = np.sqrt((ranks[0] ** 2).sum(axis=1) * (ranks[1] ** 2).sum(axis=1))
    ranked = spread > 0  # a resample of one repeated point ranks nothing
    replicas = (ranks[0] * ranks[1]).sum(axis=1)[ranked] / spread[ranked]
    return float(rho), float(np.std(replicas, ddof=1)) if len(replicas) > 1 else np.nan, float(p_value)


def premise_table(
    shifted_auc: pd.DataFrame, working_points: pd.DataFrame, auc: pd.DataFrame, worst_case: pd.DataFrame, eps: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(correlations, points): per (sample, discriminator, vulnerability, sensitivity) the rank correlation over
    every (mode, seed, checkpoint) with both, and the points themselves (for the figure).
    """
    points = vulnerabilities(auc, worst_case, eps).merge(
        sensitivities(shifted_auc, working_points), on=[*CHECKPOINT, "discriminator"]
    )
    rows = []
    for (sample, disc), group in points.groupby(["sample", "discriminator"]):
        if disc not in DISCRIMINATORS:
            continue
        for vulnerability in VULNERABILITIES:
            for sensitivity in SENSITIVITIES:
                both = group[[vulnerability, sensitivity]].dropna()
                rho, error, p_value = rank_correlation(both[vulnerability], both[sensitivity])
                rows.append((sample, disc, vulnerability, sensitivity, len(both), rho, error, p_value))
    return pd.DataFrame(rows, columns=list(PREMISE_COLUMNS)), points


# ---------------------------------------------------------------------------
# The jobs: the shifted samples' tables; the premise and the summary's sections (from the tables job)
# ---------------------------------------------------------------------------


def _jets(path, columns) -> pd.DataFrame:
    return pq.read_table(path, columns=list(columns)).to_pandas()


def write_shifted_tables(
    score_files,
    validation_files,
    sample_files: dict[str, str | os.PathLike],
    summary_path: str | os.PathLike,
    generated: set[str],
    paired: set[str],
    selected: dict[tuple[str, int], int],
    settings: TableSettings,
    outputs: dict[str, str | os.PathLike],
    threads: int = 1,
    target: str | None = None,
) -> None:
    """Write ``auc``, ``working_points``, ``scale_factors`` (per bin), ``distances`` and ``visibility`` (CSV).

    ``sample_files`` are {sample: its preprocessed jets}, the references (the twin, the nominal test split)
    included; ``summary_path`` the nominal ``preprocessing.json``; ``target`` domain training's target sample
    (also measured on its unseen half).
    """
    scores, validation = combined_scores(score_files), combined_scores(validation_files)
    kinematics = {name: _jets(path, ["raw_jet_pt", "raw_jet_eta"]) for name, path in sample_files.items()}
    auc, working_points, per_bin = shifted_tables(
        scores, validation, kinematics, generated, paired, selected, settings, threads, target
    )
    summary = read_summary(summary_path)
    columns = [*summary["feature_order"], "label"]
    references = {n: _jets(p, columns) for n, p in sample_files.items() if n in (NOMINAL_TWIN, NOMINAL_TEST)}
    samples = {n: _jets(p, columns) for n, p in sample_files.items() if n not in references}
    distances = shifted_distances(references, samples, generated, summary, threads)
    tables = {
        "auc": auc,
        "working_points": working_points,
        "scale_factors": per_bin,
        "distances": distances,
        "visibility": shifted_visibility(distances, auc),
    }
    for name, table in tables.items():
        with atomic_output(outputs[name]) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
    log.info("shifted samples %s: %d AUC rows, %d working points", sorted(samples), len(auc), len(working_points))
