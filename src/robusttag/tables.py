"""From score files to the tidy AUC table, compact ROC curves and the summary in numbers."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from .config import NOMINAL, TableSettings, aimed_at, defended_modes, ordered_models
from .errors import ResultsError
from .io import atomic_output
from .metrics import DISCRIMINATORS, curve_metrics, discriminant, discriminator_curves, mistag_on_grid
from .seeds import SIGNIFICANCE, seed_table
from .uncertainties import Bootstrap, binomial_error, effective_jets, resampled_aucs, standard_error
from .working_points import fixed_cut_tables

KEYS = ["model", "seed", "epoch", "attack", "attack_source", "epsilon", "discriminator"]
CHECKPOINT = ["model", "seed", "epoch"]  #: a trained model's checkpoint: mode, training seed, epoch
MISTAGS = (0.01, 0.1)
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


def _groups(scores: pd.DataFrame):
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
    groups = _groups(scores)
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
    return auc.assign(**{"scale_factor_at_mistag_0.01": _ratio(auc["eff_at_mistag_0.01"].to_numpy(), reference)})


def _ratio(numerator, denominator):
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


def visibility_summary(visibility_files, auc: pd.DataFrame) -> pd.DataFrame:
    """Per (model, seed, epoch, attack, eps): the input an attack shifts most visibly, against the AUC it costs.

    The largest KS distance over the inputs (all flavours together), its feature
    and p-value at the test set's size, the mean Wasserstein-1 distance in units
    of each input's raw spread, and the largest relative AUC drop over the
    discriminators the attack is measured on.
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
                "auc_lost": _largest_drop(auc, (model, seed, epoch), attack, eps),
            }
        )
    return pd.DataFrame(rows, columns=[*columns, "mean_relative_w1", "auc_lost"])


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
    and whether the bound is at or below every attack (it must be).
    """
    frames = [f for f in map(_read_rows, certified_files) if len(f)]
    columns = [*CHECKPOINT, "epsilon", "discriminator", "method", "jets", "certified_auc", "worst_attack_auc"]
    if not frames:
        return pd.DataFrame(columns=[*columns, "raw_auc", "worst_attack", "bracket_width", "bound_holds"])
    bounds = pd.concat(frames, ignore_index=True)
    suffix = "_weighted" if weighted else ""
    table = bounds[[*CHECKPOINT, "epsilon", "discriminator", "method", "jets", "worst_attack"]].copy()
    for column in ("certified_auc", "worst_attack_auc", "raw_auc"):
        table[column] = bounds[column + suffix]
    table["bracket_width"] = table["worst_attack_auc"] - table["certified_auc"]
    table["bound_holds"] = table["certified_auc"] <= table["worst_attack_auc"]
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


def _value(auc: pd.DataFrame, column: str, **where) -> float:
    if column not in auc:
        return float("nan")
    rows = auc
    for key, value in where.items():
        rows = rows[np.isclose(rows[key], value)] if key == "epsilon" else rows[rows[key] == value]
    if len(rows) != 1:
        return float("nan")
    return float(rows[column].iloc[0])


def _with_error(value: float, error: float, spec: str) -> str:
    """The value and its error for the summary, both in the value's format; the value alone without one."""
    if np.isnan(error) or np.isnan(value):
        return _shown(value, spec)
    return f"{_shown(value, spec)} ± {_shown(error, spec)}"


def ratio_error(replicas: Replicas | None, numerator: tuple, denominator: tuple) -> float:
    """The statistical error of a ratio of two relative AUC drops, from the same resamples of both.

    ``numerator`` and ``denominator`` are (raw key, attacked key) pairs of
    :data:`Replicas` keys (NaN where one is missing).
    """
    if replicas is None or any(k not in replicas for k in (*numerator, *denominator)):
        return np.nan

    def drop(raw_key, attacked_key):
        return (replicas[raw_key] - replicas[attacked_key]) / replicas[raw_key]

    with np.errstate(divide="ignore", invalid="ignore"):
        return standard_error(drop(*numerator) / drop(*denominator))


def _shown(value: float, spec: str) -> str:
    """A number for the summary; "n/a" where the table has nothing to give.

    A value that rounds to zero is shown without a sign ("0.00%", not "-0.00%").
    """
    if np.isnan(value):
        return "n/a"
    text = format(value, spec)
    return text[1:] if text.startswith("-") and float(text.rstrip("%")) == 0 else text


def checkpoint_trend(auc: pd.DataFrame, model: str, discriminator: str, epsilon: float) -> dict | None:
    """Over the scanned checkpoints (Fig. 9): the range of the raw AUC, of the
    AUC lost under the model's own FGSM, and their Spearman rank correlation.
    """
    rows = auc[(auc["model"] == model) & (auc["discriminator"] == discriminator)]
    raw = rows[rows["attack"] == "raw"].set_index("epoch")["auc"]
    own = rows[(rows["attack"] == "fgsm") & (rows["attack_source"] == model) & np.isclose(rows["epsilon"], epsilon)]
    lost = (raw - own.set_index("epoch")["auc"]).dropna()
    if len(lost) < 3:
        return None
    raw = raw.loc[lost.index]
    return {
        "checkpoints": len(lost),
        "raw": (raw.min(), raw.max()),
        "lost": (lost.min(), lost.max()),
        "spearman": raw.rank().corr(lost.rank()),
    }


def _trend_lines(auc: pd.DataFrame, models, epsilon: float) -> list[str]:
    lines = [
        "",
        f"Over the scanned checkpoints (Fig. 9): AUC lost under the model's own FGSM at epsilon = "
        f"{epsilon:g} against the raw AUC; a positive rank correlation means the better checkpoints "
        "are the more vulnerable.",
        "",
        "| model | discriminator | checkpoints | raw AUC | AUC lost | Spearman |",
        "|---|---|---|---|---|---|",
    ]
    trends = [(m, d, checkpoint_trend(auc, m, d, epsilon)) for m in models for d in ("BvsL", "CvsL")]
    rows = [
        f"| {m} | {d} | {t['checkpoints']} | {t['raw'][0]:.4f}-{t['raw'][1]:.4f} "
        f"| {t['lost'][0]:.4f}-{t['lost'][1]:.4f} | {t['spearman']:+.2f} |"
        for m, d, t in trends
        if t is not None
    ]
    return lines + rows if rows else []


def _cap_text(cap: float | None) -> str:
    return "no cap" if cap is None else f"each step capped at {cap:.0%} of the raw value"


def summary_markdown(
    auc: pd.DataFrame,
    settings: TableSettings,
    worst_case: pd.DataFrame | None = None,
    certified: pd.DataFrame | None = None,
    visibility: pd.DataFrame | None = None,
    replicas: Replicas | None = None,
    working_points: pd.DataFrame | None = None,
    seeds: pd.DataFrame | None = None,
    sections: list[str] = (),
) -> str:
    """The selected checkpoints' numbers: raw AUCs, relative AUC drops under
    FGSM and the baselines, efficiency at 1 % mistag and its scale factor,
    each with its statistical error where the AUC table has one (``replicas``:
    the resampled AUCs, for the errors of the adversarial/nominal ratios).
    The tables are of the reference seed; ``seeds`` (:func:`.seeds.seed_table`)
    adds the mean over the training seeds with its errors, and which comparisons are significant.
    ``sections`` are further lines at the end (the shifted samples' and the premise's).
    """
    if "relative_drop_err" not in auc:
        auc = with_relative_drops(auc, replicas or {})
    eps = settings.summary_epsilon
    chosen = auc[auc["selected"]]
    epochs = chosen.groupby("model")["epoch"].first().to_dict()
    seed = int(chosen["seed"].iloc[0]) if len(chosen) else None
    cap = _cap_text(settings.restrict_impact)
    lines = [
        "# Summary",
        "",
        f"Training seed {seed}; selected checkpoints (lowest selection score, `training.selection`): "
        + ", ".join(f"{m} epoch {epochs[m]}" for m in ordered_models(epochs))
        + ".",
        f"Attacks at epsilon = {eps:g} (standardised units), {cap}; metrics "
        + ("weighted by flavour weights." if settings.weighted else "unweighted, as in the paper."),
        *_errors_note(settings),
        "",
        "| model | discriminator | raw AUC | FGSM AUC | relative drop | noise drop | shift-up drop "
        "| eff. @ 1 % mistag | under FGSM | scale factor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    drops = {}
    for model in ordered_models(epochs):
        for disc in DISCRIMINATORS:
            common = dict(model=model, discriminator=disc)
            raw = _value(chosen, "auc", attack="raw", **common)
            if np.isnan(raw):
                continue
            own = dict(attack="fgsm", attack_source=model, epsilon=eps, **common)
            noise, shift = dict(attack="noise", epsilon=eps, **common), dict(attack="shift_up", epsilon=eps, **common)
            eff = "eff_at_mistag_0.01"
            drops[model, disc] = _value(chosen, "relative_drop", **own)
            cells = [
                (raw, _value(chosen, "auc_err", attack="raw", **common), ".4f"),
                (_value(chosen, "auc", **own), _value(chosen, "auc_err", **own), ".4f"),
                (drops[model, disc], _value(chosen, "relative_drop_err", **own), ".2%"),
                (_value(chosen, "relative_drop", **noise), _value(chosen, "relative_drop_err", **noise), ".2%"),
                (_value(chosen, "relative_drop", **shift), _value(chosen, "relative_drop_err", **shift), ".2%"),
                (
                    _value(chosen, eff, attack="raw", **common),
                    _value(chosen, eff + "_err", attack="raw", **common),
                    ".3f",
                ),
                (_value(chosen, eff, **own), _value(chosen, eff + "_err", **own), ".3f"),
                (_ratio(_value(chosen, eff, **own), _value(chosen, eff, attack="raw", **common)), np.nan, ".3f"),
            ]
            lines.append(f"| {model} | {disc} | " + " | ".join(_with_error(*cell) for cell in cells) + " |")
    epochs_of = {m: int(e) for m, e in epochs.items()}
    for mode in defended_modes(epochs):
        lines += ["", f"Relative AUC drop under its own FGSM, {mode} over {NOMINAL}:", ""]
        for disc in DISCRIMINATORS:
            ratio = _ratio(drops.get((mode, disc), np.nan), drops.get((NOMINAL, disc), np.nan))
            error = ratio_error(
                replicas,
                *(_drop_keys((m, seed, epochs_of.get(m)), "fgsm", m, eps, disc) for m in (mode, NOMINAL)),
            )
            lines.append(f"- {disc}: {_with_error(float(ratio), error, '.3f' if np.isfinite(error) else '.2f')}")
    lines += [
        "",
        "Cross attacks (AUC of the target model under FGSM crafted on the source model):",
        "",
        "| target | source | BvsL | CvsL |",
        "|---|---|---|---|",
    ]
    for target in ordered_models(epochs):
        for source in ordered_models(epochs):
            values = [
                _value(chosen, "auc", model=target, attack="fgsm", attack_source=source, epsilon=eps, discriminator=d)
                for d in ("BvsL", "CvsL")
            ]
            lines.append(f"| {target} | {source} | {_shown(values[0], '.4f')} | {_shown(values[1], '.4f')} |")
    lines += _trend_lines(auc, ordered_models(epochs), eps)
    if worst_case is not None and len(worst_case):
        lines += _worst_case_lines(worst_case, ordered_models(epochs), eps, replicas)
    if working_points is not None and len(working_points):
        lines += _fixed_cut_lines(working_points, worst_case, ordered_models(epochs), eps)
    if certified is not None and len(certified):
        lines += _certified_lines(certified, ordered_models(epochs), eps)
    if visibility is not None and len(visibility):
        lines += _visibility_lines(visibility, ordered_models(epochs), eps)
    if seeds is not None and len(seeds) and seeds["seeds"].max() > 1:
        lines += _seed_lines(seeds, eps)
    lines += ["", *sections] if sections else []
    return "\n".join(lines) + "\n"


_QUANTITY_TEXT = {
    "raw_auc": ("raw AUC", ".4f"),
    "fgsm_relative_drop": ("relative drop under FGSM", ".2%"),
    "worst_relative_drop": ("relative drop under the worst case", ".2%"),
    "worst_minus_fgsm_drop": ("worst-case drop minus FGSM drop", ".2%"),
    "raw_auc_difference": ("raw AUC, {mode} minus nominal", ".4f"),
    "fgsm_drop_ratio": ("drop under FGSM, {mode} over nominal", ".3f"),
    "worst_drop_ratio": ("drop under the worst case, {mode} over nominal", ".3f"),
    "fgsm_sf_efficiency": ("fixed-cut efficiency SF under FGSM (10 % mistag WP)", ".3f"),
    "fgsm_sf_mistag": ("fixed-cut mistag SF under FGSM (10 % mistag WP)", ".3f"),
    "sf_mistag_shift_ratio": ("fixed-cut mistag shift (SF - 1) under FGSM, {mode} over nominal", ".3f"),
}


def _seed_lines(seeds: pd.DataFrame, eps: float) -> list[str]:
    """The mean over the training seeds of the headline numbers, their errors, and the comparisons' significance."""
    n = int(seeds["seeds"].max())
    lines = [
        "",
        f"Over {n} training seeds (`training.seeds`; the tables above are of the reference seed), at the "
        f"selected checkpoints, epsilon = {eps:g}: the mean over the seeds ± its total error, the quadrature "
        "sum of the statistical error (bootstrap of the test jets, paired) and the training error (the seed "
        "spread / sqrt(seeds)). The seed spread (standard deviation) is what one training of the recipe may "
        "give.",
        "",
        "| model | discriminator | quantity | mean ± total error | statistical | training | seed spread |",
        "|---|---|---|---|---|---|---|",
    ]
    compared = seeds["null"].notna()
    for r in seeds[~compared].itertuples():
        text, spec = _QUANTITY_TEXT[r.quantity]
        lines.append(
            f"| {r.model} | {r.discriminator} | {text} | {_with_error(r.value, r.total_err, spec)} "
            f"| {_shown(r.stat_err, spec)} | {_shown(r.training_err, spec)} | {_shown(r.seed_spread, spec)} |"
        )
    lines += [
        "",
        f"Comparisons, seed by seed (a seed gives both modes the same initial weights and batch order), then "
        f"averaged: significant when more than {SIGNIFICANCE:g} total errors from the null value.",
        "",
        "| comparison | model | discriminator | mean ± total error | null | deviation | significant |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in seeds[compared].itertuples():
        text, spec = _QUANTITY_TEXT[r.quantity]
        text = text.format(mode=r.model.split(" vs ")[0])  # a comparison's model: "{mode} vs nominal"
        verdict = "yes" if r.significant else ("n/a" if np.isnan(r.z) else "no")
        lines.append(
            f"| {text} | {r.model} | {r.discriminator} | {_with_error(r.value, r.total_err, spec)} | {r.null:g} "
            f"| {_shown(r.z, '+.1f')} σ | {verdict} |"
        )
    return lines


def _fixed_cut_lines(working_points: pd.DataFrame, worst_case: pd.DataFrame | None, models, eps: float) -> list[str]:
    """Efficiency and mistag at cuts fixed on raw validation jets; scale factors under FGSM and the worst attack."""
    lines = [
        "",
        f"Working points at a fixed cut (epsilon = {eps:g}): the cut is fixed on the raw validation jets at the target "
        "mistag rate (light jets for BvsL and CvsL, c jets for BvsC) and applied unchanged to the attacked test jets, "
        "as an analysis applies a calibrated working point to data; SF = attacked / raw at that cut. (The first "
        "table's efficiency at 1 % mistag re-tunes the cut on each sample instead, as the paper does.)",
        "",
        "| model | discriminator | mistag target | raw eff. | raw mistag | FGSM SF eff. | FGSM SF mistag "
        "| worst attack | its SF eff. | its SF mistag |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    chosen = working_points[np.isclose(working_points["epsilon"], eps) | (working_points["attack"] == "raw")]
    for model in models:
        for disc in DISCRIMINATORS:
            worst = _worst_attack(worst_case, model, disc, eps)
            for target in sorted(chosen["mistag_target"].unique()):
                common = dict(model=model, discriminator=disc, mistag_target=target)
                raw = dict(attack="raw", **common)
                fgsm = dict(attack="fgsm", attack_source=model, epsilon=eps, **common)
                strongest = dict(attack=worst, attack_source=model, epsilon=eps, **common)
                if np.isnan(_value(chosen, "efficiency", **raw)):
                    continue

                def cell(column, where, spec=".3f"):
                    return _with_error(_value(chosen, column, **where), _value(chosen, column + "_err", **where), spec)

                cells = [cell("efficiency", raw), cell("mistag", raw, ".4f")]
                cells += [cell("sf_efficiency", fgsm), cell("sf_mistag", fgsm), worst or "n/a"]
                cells += [cell("sf_efficiency", strongest), cell("sf_mistag", strongest)]
                lines.append(f"| {model} | {disc} | {target:g} | " + " | ".join(cells) + " |")
    return lines


def _worst_attack(worst_case: pd.DataFrame | None, model: str, disc: str, eps: float) -> str | None:
    """The attack behind the worst case of a model's selected checkpoint (None where the suite did not run)."""
    if worst_case is None or not len(worst_case):
        return None
    rows = worst_case[
        worst_case["selected"]
        & (worst_case["model"] == model)
        & (worst_case["discriminator"] == disc)
        & np.isclose(worst_case["epsilon"], eps)
    ]
    return str(rows["worst_attack"].iloc[0]) if len(rows) == 1 else None


def _errors_note(settings: TableSettings) -> list[str]:
    if not settings.bootstrap:
        return []
    return [
        f"Errors are statistical only: the standard deviation over {settings.bootstrap} Poisson resamples of the "
        "test jets, the same resamples for every model and attack (so a drop or a ratio has the smaller error of "
        "paired quantities); efficiencies have binomial errors. The spread over training seeds is not in them: see the "
        "section over the training seeds at the end."
    ]


def _drop_keys(checkpoint: tuple, attack: str, source: str, eps: float, disc: str) -> tuple[tuple, tuple]:
    """The :data:`Replicas` keys (raw, attacked) of a checkpoint's relative drop under an attack."""
    return (*checkpoint, "raw", "none", 0.0, disc), (*checkpoint, attack, source, round(eps, 6), disc)


def _visibility_lines(visibility: pd.DataFrame, models, eps: float) -> list[str]:
    """Per attack at the summary's epsilon: the most visibly shifted input and the AUC the attack costs."""
    rows = visibility[np.isclose(visibility["epsilon"], eps)]
    lines = [
        "",
        f"How visible each attack is at epsilon = {eps:g}: the input whose raw distribution it shifts most "
        "(largest Kolmogorov-Smirnov distance, all flavours), that distance's p-value for a data/simulation "
        "comparison with as many jets as the test set, and the largest relative AUC drop it causes.",
        "",
        "| model | attack | input | KS distance | p-value | mean W1 / spread | AUC drop |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in models:
        for r in rows[rows["model"] == model].sort_values("attack").itertuples():
            lines.append(
                f"| {model} | {r.attack} | {r.feature} | {_shown(r.largest_ks, '.4f')} "
                f"| {_shown(r.ks_p_value_test_set, '.2g')} | {_shown(r.mean_relative_w1, '.2g')} "
                f"| {_shown(r.auc_lost, '.2%')} |"
            )
    return lines


def _certified_lines(certified: pd.DataFrame, models, eps: float) -> list[str]:
    """The certified bracket at the summary's epsilon: the true worst-case AUC lies between bound and attack."""
    rows = certified[np.isclose(certified["epsilon"], eps)]
    if not len(rows):
        return []
    first = rows.iloc[0]
    lines = [
        "",
        f"Certified bracket at epsilon = {eps:g} ({first['method'].upper()} bound propagation over the same "
        f"constraint box, on the first {int(first['jets'])} test jets): no attack in the box can push the AUC "
        "below the certified bound; the worst attack found is above it.",
        "",
        "| model | discriminator | raw AUC | worst attack AUC | worst attack | certified AUC | bracket width |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in models:
        for disc in DISCRIMINATORS:
            row = rows[(rows["model"] == model) & (rows["discriminator"] == disc)]
            if len(row) != 1:
                continue
            r = row.iloc[0]
            lines.append(
                f"| {model} | {disc} | {_shown(r['raw_auc'], '.4f')} | {_shown(r['worst_attack_auc'], '.4f')} "
                f"| {r['worst_attack']} | {_shown(r['certified_auc'], '.4f')} | {_shown(r['bracket_width'], '.4f')} |"
            )
    return lines


def _worst_case_lines(worst_case: pd.DataFrame, models, eps: float, replicas: Replicas | None = None) -> list[str]:
    """The selected checkpoints under the worst attack of the suite, beside FGSM, with statistical errors."""
    chosen = worst_case[worst_case["selected"] & np.isclose(worst_case["epsilon"], eps)]
    lines = [
        "",
        f"Worst case over FGSM and the strong attack suite at epsilon = {eps:g} (the lowest AUC of any "
        "attack, same constraints):",
        "",
        "| model | discriminator | raw AUC | FGSM AUC | worst AUC | worst attack | FGSM drop | worst drop |",
        "|---|---|---|---|---|---|---|---|",
    ]
    drops, keys = {}, {}
    for model in models:
        for disc in DISCRIMINATORS:
            row = chosen[(chosen["model"] == model) & (chosen["discriminator"] == disc)]
            if len(row) != 1:
                continue
            r = row.iloc[0]
            drops[model, disc] = (r["fgsm_relative_drop"], r["worst_relative_drop"])
            checkpoint = (model, int(r["seed"]), int(r["epoch"]))
            keys[model, disc] = [_drop_keys(checkpoint, a, model, eps, disc) for a in ("fgsm", r["worst_attack"])]
            text = " | ".join(
                _with_error(r[c], r.get(c + "_err", np.nan), ".4f") for c in ("raw_auc", "fgsm_auc", "worst_auc")
            )
            lines.append(
                f"| {model} | {disc} | {text} | {r['worst_attack']} "
                f"| {_with_error(r['fgsm_relative_drop'], r.get('fgsm_relative_drop_err', np.nan), '.2%')} "
                f"| {_with_error(r['worst_relative_drop'], r.get('worst_relative_drop_err', np.nan), '.2%')} |"
            )
    for mode in defended_modes({m for m, _ in drops}):
        lines += ["", f"Relative AUC drop, {mode} over {NOMINAL}, under FGSM and under the worst case:", ""]
        for disc in DISCRIMINATORS:
            nominal, defended = drops.get((NOMINAL, disc)), drops.get((mode, disc))
            if nominal is None or defended is None:
                continue
            texts = []
            for i, under in enumerate(("FGSM", "the worst case")):
                ratio = float(_ratio(defended[i], nominal[i]))
                error = ratio_error(replicas, keys[mode, disc][i], keys[NOMINAL, disc][i])
                texts.append(f"{_with_error(ratio, error, '.3f' if np.isfinite(error) else '.2f')} under {under}")
            lines.append(f"- {disc}: " + ", ".join(texts))
    return lines


def _fixed_cut(scores: pd.DataFrame, validation_files, kinematics_path, settings: TableSettings, threads: int):
    """(working points, scale factors per bin, resampled scale factors) at the checkpoints with validation
    scores (empty without).
    """
    if not validation_files:
        return pd.DataFrame(), pd.DataFrame(), {}
    validation = combined_scores(validation_files)
    groups = _groups(scores)
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
    shifted: dict[str, str | os.PathLike] | None = None,
) -> pd.DataFrame:
    """Write the AUC table, the ROC curves, the worst case, the attack checks and the summary.

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
        training seeds) and ``summary`` (Markdown, of the reference seed and over the seeds).
    threads : curves computed at once (the tables do not depend on it).
    shifted : the shifted samples' ``auc`` and ``working_points`` tables (``mismodelling``), if any: then
        ``premise`` and ``premise_points`` (CSV) are written and the summary gains their sections.

    Returns
    -------
    The AUC table.

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
    visibility = visibility_summary(visibility_files, auc)
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
    sections = _shifted_sections(shifted, auc, worst_case, settings, outputs)
    Path(outputs["summary"]).parent.mkdir(parents=True, exist_ok=True)
    text = summary_markdown(
        reference_rows(auc),
        settings,
        reference_rows(worst_case),
        reference_rows(certified),
        reference_rows(visibility),
        replicas,
        reference_rows(working_points),
        seeds,
        sections,
    )
    with atomic_output(outputs["summary"]) as tmp:
        Path(tmp).write_text(text)
    return auc


def _shifted_sections(shifted, auc: pd.DataFrame, worst_case: pd.DataFrame, settings: TableSettings, outputs):
    """Write the premise's tables (empty without shifted samples); the summary's lines on the shifted samples
    and the premise.
    """
    from . import mismodelling  # it builds on this module's score tables

    if shifted:
        shifted_auc = pd.read_csv(shifted["auc"])
        working_points = pd.read_csv(shifted["working_points"])
        eps = settings.summary_epsilon
        premise, points = mismodelling.premise_table(shifted_auc, working_points, auc, worst_case, eps)
    else:
        premise, points = pd.DataFrame(columns=list(mismodelling.PREMISE_COLUMNS)), pd.DataFrame()
    for name, table in (("premise", premise), ("premise_points", points)):
        if name in outputs:
            with atomic_output(outputs[name]) as tmp:
                table.to_csv(tmp, index=False, float_format="%.6g")
    if not shifted:
        return []
    models = ordered_models(set(auc["model"]))
    seed = int(auc["seed"].min()) if len(auc) else 0
    return [
        *mismodelling.scale_factor_lines(shifted_auc, working_points, models, seed),
        *mismodelling.mode_comparison_lines(shifted_auc),
        *mismodelling.premise_lines(premise, settings.summary_epsilon),
    ]
