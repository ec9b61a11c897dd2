"""From score files to the tidy AUC table, compact ROC curves and the summary in numbers."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from ..config import TableSettings, aimed_at
from ..errors import ResultsError
from ..io import atomic_output
from ..metrics import (
    DISCRIMINATORS,
    WORKING_POINT_MISTAGS,
    curve_metrics,
    discriminant,
    discriminator_curves,
    mistag_on_grid,
)
from .seeds import seed_table
from .uncertainties import Bootstrap, binomial_error, effective_jets, resampled_aucs, standard_error
from .working_points import fixed_cut_tables

KEYS = ["model", "seed", "epoch", "attack", "attack_source", "epsilon", "discriminator"]
CHECKPOINT = ["model", "seed", "epoch"]  #: a trained model's checkpoint: mode, training seed, epoch
MISTAGS = WORKING_POINT_MISTAGS
EFFICIENCY_GRID = np.linspace(0.0, 1.0, 201)


#: The columns of a score file (written by ``evaluate.score_table``): one row per (attack, test jet).
SCORE_COLUMNS = (
    "model",
    "seed",
    "epoch",
    "attack",
    "attack_source",
    "epsilon",
    "label",
    "weight",
    "p_b",
    "p_c",
    "p_light",
)
_NAMES = ("model", "attack", "attack_source")  #: the score files' string columns


def read_scores(path: str | os.PathLike) -> pd.DataFrame:
    """A score file (which names its model and epoch in every row).

    Raises
    ------
    ResultsError
        When the file lacks a column of SCORE_COLUMNS.
    """
    # names read as categoricals: 300k copies of a few strings each, and fast to group by
    scores = pq.read_table(path, read_dictionary=list(_NAMES)).to_pandas()
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ResultsError(f"{path}: score file lacks column(s) {missing}; it has {list(scores.columns)}")
    for column in _NAMES:
        if not isinstance(scores[column].dtype, pd.CategoricalDtype):  # a file written without the column
            scores[column] = scores[column].astype(str).astype("category")
    scores["epsilon"] = scores["epsilon"].astype(np.float64).round(6)
    return scores


def combined_scores(paths) -> pd.DataFrame:
    """The score files of a run, one table.

    Raises
    ------
    ResultsError
        When two files score the same (model, epoch, attack, source, epsilon):
        their jets would be counted twice in every metric.
    """
    frames = [read_scores(path) for path in paths]
    seen: dict[tuple, str] = {}
    for path, frame in zip(paths, frames):
        for key in frame[KEYS[:-1]].drop_duplicates().itertuples(index=False):
            if key in seen:
                raise ResultsError(f"{path} and {seen[key]} both score {dict(zip(KEYS[:-1], key))}")
            seen[key] = str(path)
    # Names as one categorical over all files: grouping 24 M rows by strings would take a minute.
    names = {column: union_categoricals([frame[column] for frame in frames]) for column in _NAMES}
    scores = pd.concat([frame.drop(columns=list(_NAMES)) for frame in frames], ignore_index=True)
    return scores.assign(**names)[list(SCORE_COLUMNS) + [c for c in scores.columns if c not in SCORE_COLUMNS]]


def score_groups(scores: pd.DataFrame):
    """(key, row positions) of every scored curve, in the order of the keys."""
    positions = scores.groupby(KEYS[:-1], sort=True, observed=True).indices
    return sorted(positions.items())


#: (model, seed, epoch, attack, attack_source, epsilon, discriminator) -> the AUC of every bootstrap resample
Replicas = dict[tuple, np.ndarray]


def metrics_tables(
    scores: pd.DataFrame, weighted: bool, bootstrap: int = 0, bootstrap_seed: int = 1, threads: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame, Replicas]:
    """(auc, roc, replicas): one AUC row per KEYS with efficiencies at fixed
    mistag and their statistical errors, the mistag rate on a fixed efficiency
    grid for every curve, and the resampled AUCs behind the errors.

    ``auc_err`` is the standard deviation of the AUC over ``bootstrap`` Poisson
    resamples of the test jets (:mod:`.uncertainties`; NaN with 0), the same
    resamples for every curve, so that differences get paired errors
    (:func:`with_relative_drops`); ``eff_at_mistag_*_err`` are binomial, over
    the effective number of signal jets (the cut's own fluctuation left out).

    The curves are computed ``threads`` at a time (numpy's sorts and sums
    release the interpreter lock); the result does not depend on it.

    Raises
    ------
    ResultsError
        When a curve does not score the same number of jets as the others
        (a bootstrap pairs the jets by their position in the test set).
    """
    # the columns as arrays once: a pandas group per curve costs more than its ROC curve
    probabilities = scores[["p_b", "p_c", "p_light"]].to_numpy()
    labels, weights = scores["label"].to_numpy(), scores["weight"].to_numpy(np.float64)
    groups = score_groups(scores)
    resamples = Bootstrap(len(groups[0][1]), bootstrap, bootstrap_seed) if bootstrap and groups else None

    def curves_of(group):
        key, rows = group
        aim = aimed_at(key[KEYS.index("attack")])  # an attack aimed at one discriminator is measured on that one only
        jet_weights = weights[rows] if weighted else None
        curves = discriminator_curves(
            probabilities[rows], labels[rows], jet_weights, names=None if aim is None else [aim]
        )
        if resamples is not None and len(rows) != resamples.n_jets:
            raise ResultsError(f"{dict(zip(KEYS, key))} scores {len(rows)} jets, other curves {resamples.n_jets}")
        out = []
        for name, (efficiency, mistag) in curves.items():
            identity = dict(zip(KEYS, (*key, name)))
            row = identity | curve_metrics(efficiency, mistag, MISTAGS)
            replica, errors = _statistical_errors(row, probabilities[rows], labels[rows], jet_weights, name, resamples)
            on_grid = mistag_on_grid(efficiency, mistag, EFFICIENCY_GRID)
            out.append((row | errors, replica, identity | {"efficiency": EFFICIENCY_GRID, "mistag": on_grid}))
        return out

    with ThreadPoolExecutor(max(1, threads)) as pool:
        curves = [curve for per_group in pool.map(curves_of, groups) for curve in per_group]
    auc_rows = [row for row, _, _ in curves]
    replicas = {tuple(row[k] for k in KEYS): replica for row, replica, _ in curves if replica is not None}
    roc_parts = [pd.DataFrame(points) for _, _, points in curves]
    auc = pd.DataFrame(auc_rows)
    auc = _with_scale_factor(auc)
    return auc, pd.concat(roc_parts, ignore_index=True), replicas


def _statistical_errors(metrics: dict, probabilities, labels, weights, name: str, resamples: Bootstrap | None):
    """(resampled AUCs or None, {"auc_err": ..., "eff_at_mistag_*_err": ...}) of one discriminator's curve."""
    signal, background = DISCRIMINATORS[name]
    jets = np.flatnonzero((labels == signal) | (labels == background))
    is_signal = labels[jets] == signal
    signal_weights = np.ones(int(is_signal.sum())) if weights is None else weights[jets][is_signal]
    n_signal = effective_jets(signal_weights)
    errors = {"auc_err": np.nan} | {
        f"{m}_err": binomial_error(metrics[m], n_signal) for m in metrics if m.startswith("eff_at_mistag_")
    }
    if resamples is None:
        return None, errors
    scores = discriminant(probabilities[jets, signal], probabilities[jets, background])
    replica = resampled_aucs(resamples, jets, scores, is_signal, None if weights is None else weights[jets])
    return replica, errors | {"auc_err": standard_error(replica)}


def with_relative_drops(auc: pd.DataFrame, replicas: Replicas) -> pd.DataFrame:
    """``relative_drop`` = (raw AUC - AUC) / raw AUC of every row against the raw row of its
    checkpoint and discriminator, and ``relative_drop_err`` from the same resamples of both.
    """
    reference = _raw_of(auc, "auc")
    errors = []
    for row in auc.itertuples(index=False):
        attacked = replicas.get(tuple(getattr(row, k) for k in KEYS))
        key = (row.model, row.seed, row.epoch, "raw", "none", 0.0, row.discriminator)
        unattacked = replicas.get(key)
        if attacked is None or unattacked is None:
            errors.append(np.nan)
        else:
            errors.append(standard_error((unattacked - attacked) / unattacked))
    return auc.assign(relative_drop=(reference - auc["auc"].to_numpy()) / reference, relative_drop_err=errors)


def _raw_of(auc: pd.DataFrame, column: str) -> np.ndarray:
    """Per row of ``auc``: the ``column`` of the raw row of the same checkpoint and discriminator."""
    where = [*CHECKPOINT, "discriminator"]
    raw = auc[auc["attack"] == "raw"].set_index(where)[column]
    return raw.reindex(pd.MultiIndex.from_frame(auc[where])).to_numpy()


def _with_scale_factor(auc: pd.DataFrame) -> pd.DataFrame:
    """Efficiency at 1 % mistag under attack over the raw one (same checkpoint, discriminator)."""
    reference = _raw_of(auc, "eff_at_mistag_0.01")
    return auc.assign(**{"scale_factor_at_mistag_0.01": safe_ratio(auc["eff_at_mistag_0.01"].to_numpy(), reference)})


def safe_ratio(numerator, denominator):
    """Numerator / denominator, NaN where the denominator is 0 (no efficiency to compare with)."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0, numerator / np.where(denominator != 0, denominator, 1), np.nan)


def mark_selected(auc: pd.DataFrame, selected: dict[tuple[str, int], int]) -> pd.DataFrame:
    """``selected``: whether a row is of its training's selected checkpoint ({(mode, seed): epoch})."""
    rows = zip(auc["model"], auc["seed"], auc["epoch"])
    return auc.assign(selected=[selected.get((m, s)) == e for m, s, e in rows])


def reference_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the reference seed (the lowest), studied at every checkpoint; all rows without a seed column."""
    if "seed" not in table or not len(table):
        return table
    return table[table["seed"] == table["seed"].min()]


# ---------------------------------------------------------------------------
# The strong suite: worst case and sanity checks
# ---------------------------------------------------------------------------

#: attacks that are not white-box attacks of the model itself
_NOT_ATTACKS = ("raw", "noise", "shift_up", "shift_down")


def white_box(auc: pd.DataFrame) -> pd.DataFrame:
    """The rows of attacks crafted on the scored model itself (FGSM and the strong suite)."""
    return auc[~auc["attack"].isin(_NOT_ATTACKS) & (auc["attack_source"] == auc["model"])]


def worst_case_table(auc: pd.DataFrame) -> pd.DataFrame:
    """Per (model, seed, epoch, eps, discriminator) where the strong suite ran: raw, FGSM and worst AUC.

    The worst case is the lowest AUC over FGSM and every attack of the suite,
    with the attack that reached it; relative drops are (raw - AUC) / raw. The
    ``*_err`` columns are the AUC table's statistical errors of those rows
    (NaN where it has none).
    """
    auc = auc.assign(**{c: auc[c] if c in auc else np.nan for c in ("auc_err", "relative_drop_err")})
    attacked = white_box(auc)
    where = [*CHECKPOINT, "epsilon"]  # where the strong suite ran
    attacked = attacked.merge(attacked.loc[attacked["attack"] != "fgsm", where].drop_duplicates(), on=where)
    raw = auc[auc["attack"] == "raw"].set_index([*CHECKPOINT, "discriminator"])["auc"]
    raw_err = auc[auc["attack"] == "raw"].set_index([*CHECKPOINT, "discriminator"])["auc_err"]
    rows = []
    for (model, seed, epoch, eps, disc), group in attacked.groupby([*where, "discriminator"]):
        worst = group.loc[group["auc"].idxmin()]
        fgsm = group[group["attack"] == "fgsm"]
        fgsm = fgsm.iloc[0] if len(fgsm) else pd.Series(np.nan, index=group.columns)
        reference = raw.get((model, seed, epoch, disc), np.nan)
        rows.append(
            {
                "model": model,
                "seed": seed,
                "epoch": epoch,
                "epsilon": eps,
                "discriminator": disc,
                "raw_auc": reference,
                "fgsm_auc": float(fgsm["auc"]),
                "worst_auc": float(worst["auc"]),
                "worst_attack": worst["attack"],
                "fgsm_relative_drop": (reference - float(fgsm["auc"])) / reference,
                "worst_relative_drop": (reference - float(worst["auc"])) / reference,
                "raw_auc_err": raw_err.get((model, seed, epoch, disc), np.nan),
                "fgsm_auc_err": float(fgsm["auc_err"]),
                "worst_auc_err": float(worst["auc_err"]),
                "fgsm_relative_drop_err": float(fgsm["relative_drop_err"]),
                "worst_relative_drop_err": float(worst["relative_drop_err"]),
                "selected": bool(worst["selected"]),
            }
        )
    return pd.DataFrame(rows, columns=WORST_CASE_COLUMNS)


WORST_CASE_COLUMNS = (
    "model",
    "seed",
    "epoch",
    "epsilon",
    "discriminator",
    "raw_auc",
    "fgsm_auc",
    "worst_auc",
    "worst_attack",
    "fgsm_relative_drop",
    "worst_relative_drop",
    "raw_auc_err",
    "fgsm_auc_err",
    "worst_auc_err",
    "fgsm_relative_drop_err",
    "worst_relative_drop_err",
    "selected",
)


def _read_rows(path) -> pd.DataFrame:
    """A job's CSV table; a job with nothing to report (e.g. no visibility jets) wrote an empty file."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def read_rows(files) -> pd.DataFrame:
    """The jobs' CSV tables as one (empty files, and no files, give an empty frame)."""
    frames = [f for f in map(_read_rows, files) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def visibility_summary(visibility_files, auc: pd.DataFrame, invisible: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (model, seed, epoch, attack, eps): the input an attack shifts most visibly, against the AUC it costs.

    The largest KS distance over the inputs (all flavours together), its feature
    and p-value at the test set's size, the mean Wasserstein-1 distance in units
    of each input's raw spread, and the largest relative AUC drop over the
    discriminators the attack is measured on. The invisible attacks
    (``invisible_<discriminator>``, measured on the visibility jets only) take
    their relative drop from ``invisible`` (the strong jobs' ``invisible.csv``).
    """
    frames = [f for f in map(_read_rows, visibility_files) if len(f)]
    columns = [*CHECKPOINT, "attack", "epsilon", "largest_ks", "feature", "ks_p_value_test_set"]
    if not frames:
        return pd.DataFrame(columns=[*columns, "mean_relative_w1", "auc_lost"])
    table = pd.concat(frames, ignore_index=True)
    pooled = table[table["flavour"] == "all"].copy()
    pooled["relative_w1"] = pooled["wasserstein_1"] / pooled["raw_std"].where(pooled["raw_std"] > 0)
    rows = []
    for (model, seed, epoch, attack, eps), group in pooled.groupby([*CHECKPOINT, "attack", "epsilon"]):
        top = group.loc[group["ks"].idxmax()]
        rows.append(
            {
                "model": model,
                "seed": seed,
                "epoch": epoch,
                "attack": attack,
                "epsilon": eps,
                "largest_ks": top["ks"],
                "feature": top["feature"],
                "ks_p_value_test_set": top["ks_p_value_test_set"],
                "mean_relative_w1": group["relative_w1"].mean(),
                "auc_lost": _invisible_drop(invisible, (model, seed, epoch), attack)
                if attack.startswith("invisible_")
                else _largest_drop(auc, (model, seed, epoch), attack, eps),
            }
        )
    return pd.DataFrame(rows, columns=[*columns, "mean_relative_w1", "auc_lost"])


def _invisible_drop(invisible: pd.DataFrame | None, checkpoint: tuple, attack: str) -> float:
    """An invisible attack's relative AUC drop on its discriminator, from the invisible table (NaN without)."""
    if invisible is None or not len(invisible):
        return np.nan
    rows = invisible[
        np.logical_and.reduce([invisible[column] == value for column, value in zip(CHECKPOINT, checkpoint)])
        & (invisible["discriminator"] == aimed_at(attack))
    ]
    return float((rows["invisible_auc_lost"] / rows["raw_auc"]).iloc[0]) if len(rows) else np.nan


def _largest_drop(auc: pd.DataFrame, checkpoint: tuple, attack: str, eps: float) -> float:
    """The largest relative AUC drop of a white-box attack over its discriminators, at a (model, seed, epoch)."""
    at = auc[np.logical_and.reduce([auc[column] == value for column, value in zip(CHECKPOINT, checkpoint)])]
    rows = white_box(at)
    rows = rows[(rows["attack"] == attack) & np.isclose(rows["epsilon"], eps)]
    raw = at[at["attack"] == "raw"].set_index("discriminator")["auc"]
    drops = [(raw[d] - a) / raw[d] for d, a in zip(rows["discriminator"], rows["auc"]) if d in raw.index]
    return max(drops) if drops else np.nan


def certified_bounds(certified_files, weighted: bool) -> pd.DataFrame:
    """The certified AUC brackets of the selected checkpoints, in the tables' weighting.

    Per (model, seed, epoch, eps, discriminator) on the jets the bound was computed
    on: the certified lower bound, the lowest AUC of the suite's attacks and
    the raw AUC on the same jets, the bracket's width (worst attack - bound)
    and whether the bound is at or below every attack (it must be). Where the
    exact verification ran (the summary's eps, a DNN or deep set): its certified AUC and the
    AUC at the worst points it found (``exact_*``), the bracket left between
    them, the jets it solved and left unsolved, its budget and time.
    """
    frames = [f for f in map(_read_rows, certified_files) if len(f)]
    columns = [*CHECKPOINT, "epsilon", "discriminator", "method", "jets", "certified_auc", "worst_attack_auc"]
    exact = ["exact_method", "exact_domains", "exact_seconds", "exact_solved", "exact_unsolved"]
    exact_aucs = ["exact_certified_auc", "exact_attack_auc", "exact_bracket_width"]
    if not frames:
        return pd.DataFrame(
            columns=[*columns, "raw_auc", "worst_attack", "bracket_width", "bound_holds", *exact, *exact_aucs]
        )
    bounds = pd.concat(frames, ignore_index=True)
    suffix = "_weighted" if weighted else ""
    table = bounds[[*CHECKPOINT, "epsilon", "discriminator", "method", "jets", "worst_attack"]].copy()
    for column in ("certified_auc", "worst_attack_auc", "raw_auc"):
        table[column] = bounds[column + suffix]
    table["bracket_width"] = table["worst_attack_auc"] - table["certified_auc"]
    table["bound_holds"] = table["certified_auc"] <= table["worst_attack_auc"]
    for column in exact:
        table[column] = bounds.get(column, np.nan)
    for column in exact_aucs[:2]:
        table[column] = bounds.get(column + suffix, np.nan)
    table["exact_bracket_width"] = table["exact_attack_auc"] - table["exact_certified_auc"]
    return table


def checks_table(auc: pd.DataFrame, check_files) -> pd.DataFrame:
    """The strong jobs' checks with what the AUC table says of each (attack, eps).

    ``auc_rise``: the largest AUC increase over the next smaller eps (the raw AUC
    before the smallest), over the discriminators the attack is measured on;
    a positive value breaks "AUC never rises with eps". ``above_fgsm``: for the
    attacks on the loss, the largest amount by which their AUC exceeds FGSM's
    at the same eps (positive: weaker than FGSM on that discriminator).
    """
    checks = pd.concat([pd.read_csv(path) for path in check_files], ignore_index=True)
    attacked = white_box(auc).copy()
    raw = auc[auc["attack"] == "raw"].set_index([*CHECKPOINT, "discriminator"])["auc"]
    attacked = attacked.sort_values("epsilon")
    previous = attacked.groupby([*CHECKPOINT, "attack", "discriminator"])["auc"].shift(1)
    start = raw.reindex(pd.MultiIndex.from_frame(attacked[[*CHECKPOINT, "discriminator"]])).to_numpy()
    attacked["rise"] = attacked["auc"] - np.where(previous.isna(), start, previous)
    at_eps = [*CHECKPOINT, "epsilon", "discriminator"]
    fgsm = attacked[attacked["attack"] == "fgsm"].set_index(at_eps)["auc"]
    attacked["above"] = attacked["auc"].to_numpy() - fgsm.reindex(pd.MultiIndex.from_frame(attacked[at_eps])).to_numpy()
    per_attack = attacked.groupby([*CHECKPOINT, "attack", "epsilon"]).agg(
        auc_rise=("rise", "max"), above_fgsm=("above", "max")
    )
    merged = checks.merge(per_attack.reset_index(), on=[*CHECKPOINT, "attack", "epsilon"], how="left")
    loss_pgd = (merged["method"] == "pgd") & merged["attack"].map(lambda a: aimed_at(a) is None)
    merged.loc[~loss_pgd, "above_fgsm"] = np.nan  # "never weaker than FGSM" is PGD's on the loss
    return merged


# ---------------------------------------------------------------------------
# Summary in numbers, like the paper's section 4
# ---------------------------------------------------------------------------


def _fixed_cut(scores: pd.DataFrame, validation_files, kinematics_path, settings: TableSettings, threads: int):
    """(working points, scale factors per bin, resampled scale factors) at the checkpoints with validation
    scores (empty without).
    """
    if not validation_files:
        return pd.DataFrame(), pd.DataFrame(), {}
    validation = combined_scores(validation_files)
    groups = score_groups(scores)
    n_jets = len(groups[0][1])
    resamples = Bootstrap(n_jets, settings.bootstrap, settings.bootstrap_seed) if settings.bootstrap else None
    kinematics = None
    if kinematics_path is not None:
        kinematics = pq.read_table(kinematics_path, columns=["raw_jet_pt", "raw_jet_eta"]).slice(0, n_jets).to_pandas()
    resampled: dict = {}
    working_points, per_bin = fixed_cut_tables(
        scores,
        groups,
        validation,
        MISTAGS,
        settings.weighted,
        resamples,
        kinematics,
        settings.scale_factor_pt_bins,
        settings.scale_factor_abs_eta_bins,
        settings.summary_epsilon,
        threads,
        scale_factor_replicas=resampled,
    )
    return working_points, per_bin, resampled


class StudyTables(NamedTuple):
    """A study's tables, as the summary reads them."""

    auc: pd.DataFrame
    worst_case: pd.DataFrame
    certified: pd.DataFrame
    visibility: pd.DataFrame
    working_points: pd.DataFrame
    seeds: pd.DataFrame
    replicas: Replicas | None


def write_tables(
    score_files: list[str | os.PathLike],
    validation_files: list[str | os.PathLike],
    kinematics_path: str | os.PathLike | None,
    check_files: list[str | os.PathLike],
    certified_files: list[str | os.PathLike],
    visibility_files: list[str | os.PathLike],
    selected: dict[tuple[str, int], int],
    settings: TableSettings,
    outputs: dict[str, str | os.PathLike],
    threads: int = 1,
    invisible_files: list[str | os.PathLike] = (),
) -> StudyTables:
    """Write the AUC table, the ROC curves, the worst case, the attack checks, the working points and the
    spread over seeds; return them for the summary.

    Parameters
    ----------
    score_files : every score file of the run.
    validation_files : raw validation scores at the selected checkpoints (the
        fixed-cut working points' cuts; may be empty).
    kinematics_path : the test split, whose ``raw_jet_pt`` and ``raw_jet_eta``
        bin the fixed-cut scale factors (None: no per-bin table).
    check_files : the strong attack jobs' checks (may be empty).
    certified_files : their certified AUC bounds (``strong_attacks.certified_table``; may be empty).
    visibility_files : their raw-against-attacked distances per feature (``strong_attacks.visibility_rows``).
    selected : {(mode, seed): its selected epoch}.
    settings : weighting and the summary's epsilon.
    outputs : paths of ``auc`` (CSV), ``roc`` (Parquet), ``worst_case`` and ``checks``
        (CSV; only with check files), ``working_points`` and ``scale_factors``
        (CSV; only with validation files), ``seeds`` (CSV: the spread over the
        training seeds).
    threads : curves computed at once (the tables do not depend on it).
    invisible_files : the strong jobs' invisible attacks (the AUC their points cost in the visibility table).

    Returns
    -------
    The tables, the reference seed's and the bootstrap replicas for the summary.

    Raises
    ------
    ResultsError
        When a score file lacks a column, or two files score the same attack.
    """
    scores = combined_scores(score_files)
    auc, roc, replicas = metrics_tables(scores, settings.weighted, settings.bootstrap, settings.bootstrap_seed, threads)
    auc = with_relative_drops(mark_selected(auc, selected).sort_values(KEYS, ignore_index=True), replicas)
    worst_case = worst_case_table(auc)
    certified = certified_bounds(certified_files, settings.weighted)
    with atomic_output(outputs["auc"]) as tmp:
        auc.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_output(outputs["roc"]) as tmp:
        roc.to_parquet(tmp, index=False)
    working_points, scale_factors, sf_replicas = _fixed_cut(
        scores, validation_files, kinematics_path, settings, threads
    )
    for name, table in (("working_points", working_points), ("scale_factors", scale_factors)):
        if name in outputs:
            with atomic_output(outputs[name]) as tmp:
                table.to_csv(tmp, index=False, float_format="%.6g")
    visibility = visibility_summary(visibility_files, auc, read_rows(invisible_files))
    if "visibility" in outputs:
        with atomic_output(outputs["visibility"]) as tmp:
            visibility.to_csv(tmp, index=False, float_format="%.6g")
    if "certified" in outputs:
        with atomic_output(outputs["certified"]) as tmp:
            certified.to_csv(tmp, index=False, float_format="%.6g")
    if "worst_case" in outputs:
        with atomic_output(outputs["worst_case"]) as tmp:
            worst_case.to_csv(tmp, index=False, float_format="%.6g")
    if "checks" in outputs:
        checks = checks_table(auc, check_files) if check_files else pd.DataFrame()
        with atomic_output(outputs["checks"]) as tmp:
            checks.to_csv(tmp, index=False, float_format="%.6g")
    seeds = seed_table(auc, worst_case, replicas, settings.summary_epsilon, working_points, sf_replicas)
    if "seeds" in outputs:
        with atomic_output(outputs["seeds"]) as tmp:
            seeds.to_csv(tmp, index=False, float_format="%.6g")
    return StudyTables(auc, worst_case, certified, visibility, working_points, seeds, replicas)
