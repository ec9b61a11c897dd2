"""A study's ``summary.md``: the paper's section 4 in numbers, the strong suite's, the calibration's, over
the seeds, and the mismodelling's sections, written from the tables of :mod:`robusttag.analysis`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.defences import DEFENCE_COLUMNS, defence_table
from ..analysis.distances import WITHIN, distance_bins, distance_curves, distance_summary, read_distances
from ..analysis.mismodelling import PREMISE_COLUMNS, premise_table
from ..analysis.seeds import SIGNIFICANCE
from ..analysis.tables import Replicas, read_rows, reference_rows, safe_ratio, with_relative_drops, write_tables
from ..analysis.uncertainties import standard_error
from ..config import MISMODELLING_MODES, NOMINAL, TableSettings, defended_modes, ordered_models
from ..io import atomic_output
from ..metrics import DISCRIMINATORS
from .defences import defence_lines
from .mismodelling import mode_comparison_lines, premise_lines, scale_factor_lines


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
                (safe_ratio(_value(chosen, eff, **own), _value(chosen, eff, attack="raw", **common)), np.nan, ".3f"),
            ]
            lines.append(f"| {model} | {disc} | " + " | ".join(_with_error(*cell) for cell in cells) + " |")
    epochs_of = {m: int(e) for m, e in epochs.items()}
    for mode in defended_modes(epochs):
        lines += ["", f"Relative AUC drop under its own FGSM, {mode} over {NOMINAL}:", ""]
        for disc in DISCRIMINATORS:
            ratio = safe_ratio(drops.get((mode, disc), np.nan), drops.get((NOMINAL, disc), np.nan))
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
    """The certified bracket at the summary's epsilon: the true worst-case AUC lies between bound and attack;
    where the exact verification ran, the bracket it leaves.
    """
    rows = certified[np.isclose(certified["epsilon"], eps)]
    if not len(rows):
        return []
    first = rows.iloc[0]
    lines = [
        "",
        f"Certified bracket at epsilon = {eps:g} ({first['method'].upper()} bound propagation over the same "
        f"constraint box, on the first {int(first['jets'])} test jets): no attack in the box can push the AUC "
        "below the certified bound; the worst attack found is above it.",
    ]
    exact = "exact_method" in rows and rows["exact_method"].eq("branch_and_bound").any()
    if exact:
        ran = rows[rows["exact_method"].eq("branch_and_bound")]
        lines.append(
            f"The exact verification (branch and bound, {int(ran['exact_domains'].max()):,} domains per model, "
            f"{ran['exact_seconds'].max():.0f} s at most) closes it from both sides: the exact certified AUC "
            "and the AUC at the worst points it found, equal on the jets it solved."
        )
    header = "| model | discriminator | raw AUC | worst attack AUC | worst attack | certified AUC | bracket width |"
    rule = "|---|---|---|---|---|---|---|"
    if exact:
        header += " exact certified AUC | exact attack AUC | exact bracket | jets solved |"
        rule += "---|---|---|---|"
    lines += ["", header, rule]
    for model in models:
        for disc in DISCRIMINATORS:
            row = rows[(rows["model"] == model) & (rows["discriminator"] == disc)]
            if len(row) != 1:
                continue
            r = row.iloc[0]
            line = (
                f"| {model} | {disc} | {_shown(r['raw_auc'], '.4f')} | {_shown(r['worst_attack_auc'], '.4f')} "
                f"| {r['worst_attack']} | {_shown(r['certified_auc'], '.4f')} | {_shown(r['bracket_width'], '.4f')} |"
            )
            if exact:
                solved = r["exact_solved"]
                counted = "-" if pd.isna(solved) else f"{int(solved)} of {int(solved + r['exact_unsolved'])}"
                line += (
                    f" {_shown(r['exact_certified_auc'], '.4f')} | {_shown(r['exact_attack_auc'], '.4f')} "
                    f"| {_shown(r['exact_bracket_width'], '.4f')} | {counted} |"
                )
            lines.append(line)
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
                ratio = float(safe_ratio(defended[i], nominal[i]))
                error = ratio_error(replicas, keys[mode, disc][i], keys[NOMINAL, disc][i])
                texts.append(f"{_with_error(ratio, error, '.3f' if np.isfinite(error) else '.2f')} under {under}")
            lines.append(f"- {disc}: " + ", ".join(texts))
    return lines


def write_study_tables(
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
    defences: dict | None = None,
    distance_files: list[str | os.PathLike] = (),
    invisible_files: list[str | os.PathLike] = (),
) -> pd.DataFrame:
    """Write a study's tables (:func:`robusttag.analysis.tables.write_tables`: the arguments are its), the
    premise's (with ``shifted``, the shifted samples' ``auc`` and ``working_points`` tables) and ``summary.md``
    (``outputs["summary"]``: the reference seed's numbers, over the seeds, then the shifted samples'), and with
    ``defences`` ({"kinds": {sample: held-out kind}, "target": domain training's target or None}) the defences'
    table (``outputs["defences"]``); from ``distance_files`` (the per-jet distances to the working points)
    ``outputs["distances"]`` and ``outputs["distance_bins"]`` (:mod:`robusttag.analysis.distances`); from
    ``invisible_files`` (the strong jobs' invisible attacks) ``outputs["invisible"]``.

    Returns
    -------
    The AUC table.

    Raises
    ------
    ResultsError
        When a score file lacks a column, or two files score the same attack.
    """
    tables = write_tables(
        score_files,
        validation_files,
        kinematics_path,
        check_files,
        certified_files,
        visibility_files,
        selected,
        settings,
        outputs,
        threads,
        invisible_files,
    )
    auc, worst_case, certified, visibility, working_points, seeds, replicas = tables
    sections = _shifted_sections(shifted, auc, worst_case, settings, outputs, seeds, defences)
    sections = [
        *_invisible_lines(invisible_files, outputs),
        *_distance_lines(distance_files, settings, outputs),
        *sections,
    ]
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


def _invisible_lines(invisible_files, outputs) -> list[str]:
    """Write the invisible attacks' table; the summary's lines: per mode and discriminator, the AUC lost to
    the invisible attack beside FGSM's and the worst attack's (mean over seeds +- their spread, or one seed's
    statistical error).
    """
    table = read_rows(invisible_files)
    if "invisible" in outputs:
        with atomic_output(outputs["invisible"]) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
    if not len(table):
        return []
    first = table.iloc[0]
    lines = [
        f"The invisible attack at epsilon = {first['epsilon']:g} (on the first {int(first['jets'])} test jets: every "
        f"input's marginal, all jets and per flavour, keeps a KS p-value of at least {first['p_value_limit']:g} "
        f"for a comparison with as many jets as the test set, and the correlation matrix changes by at most "
        f"{first['correlation_limit']:g} in relative Frobenius norm): the AUC it costs, beside FGSM's and the "
        "worst attack's on the same jets.",
        "",
        "| model | discriminator | AUC lost, invisible | AUC lost, FGSM | AUC lost, worst attack | smallest p-value |",
        "|---|---|---|---|---|---|",
    ]
    for model in ordered_models(set(table["model"])):
        for disc in DISCRIMINATORS:
            rows = table[table["model"].eq(model) & table["discriminator"].eq(disc)]
            if not len(rows):
                continue
            cells = [_lost(rows, name) for name in ("invisible", "fgsm", "worst")]
            smallest = rows["invisible_smallest_p_value"].min()
            lines.append(f"| {model} | {disc} | " + " | ".join(cells) + f" | {smallest:.3f} |")
    return [*lines, ""]


def _lost(rows: pd.DataFrame, name: str) -> str:
    values = rows[f"{name}_auc_lost"].to_numpy(np.float64)
    if len(values) == 1:
        return f"{values[0]:.4f} ± {rows[f'{name}_auc_lost_err'].iloc[0]:.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def _distance_lines(distance_files, settings: TableSettings, outputs) -> list[str]:
    """Write the distance tables; the summary's lines on them: per mode and working point, mean and spread
    over the seeds of the eps-free numbers.
    """
    distances = read_distances(distance_files)
    summary = distance_summary(distances, settings.weighted)
    bins = distance_bins(distances, settings.weighted, settings.scale_factor_pt_bins)
    curves = distance_curves(distances, settings.weighted)
    for name, table in (("distances", summary), ("distance_bins", bins), ("distance_curves", curves)):
        if name in outputs:
            with atomic_output(outputs[name]) as tmp:
                table.to_csv(tmp, index=False, float_format="%.6g")
    if not len(summary):
        return []
    lines = [
        "Each jet's distance to its working point (the smallest eps at which the targeted attack moves it "
        "across the fixed cut; first test jets, mean +- spread over the seeds): the eps at which the mistag "
        "rate doubles and the efficiency falls by a tenth, the fraction of tagged signal jets within "
        f"{WITHIN[0]:g} and {WITHIN[1]:g} of the cut.",
        "",
        "| model | discriminator | mistag | eps: mistag x2 | eps: efficiency -10 % "
        f"| signal within {WITHIN[0]:g} | signal within {WITHIN[1]:g} |",
        "|---|---|---|---|---|---|---|",
    ]
    columns = ["eps_mistag_doubles", "eps_efficiency_minus_10pct", *(f"tagged_signal_within_{e:g}" for e in WITHIN)]
    for model in ordered_models(set(summary["model"])):
        for disc in DISCRIMINATORS:
            for target in sorted(set(summary["mistag_target"]), reverse=True):
                rows = summary[
                    (summary["model"] == model)
                    & (summary["discriminator"] == disc)
                    & (summary["mistag_target"] == target)
                ]
                if not len(rows):
                    continue
                cells = [_mean_spread(rows[c].to_numpy(np.float64), ".4f" if "eps" in c else ".3f") for c in columns]
                lines.append(f"| {model} | {disc} | {target:g} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _mean_spread(values: np.ndarray, spec: str) -> str:
    """Mean +- standard deviation over seeds (one seed: the value; any inf: 'beyond the search'; NaN: '-')."""
    values = values[~np.isnan(values)]
    if not len(values):
        return "-"
    if np.isinf(values).any():
        return "beyond the search"
    if len(values) == 1:
        return format(values[0], spec)
    return f"{format(values.mean(), spec)} +- {format(values.std(ddof=1), spec)}"


def _shifted_sections(
    shifted, auc: pd.DataFrame, worst_case: pd.DataFrame, settings: TableSettings, outputs, seeds, defences
):
    """Write the premise's and the defences' tables (empty without shifted samples); the summary's lines on the
    shifted samples, the defences and the premise (also without the defences' points).
    """
    eps = settings.summary_epsilon
    premise, points = pd.DataFrame(columns=list(PREMISE_COLUMNS)), pd.DataFrame()
    defended, without = pd.DataFrame(columns=list(DEFENCE_COLUMNS)), None
    if shifted:
        shifted_auc = pd.read_csv(shifted["auc"])
        working_points = pd.read_csv(shifted["working_points"])
        premise, points = premise_table(shifted_auc, working_points, auc, worst_case, eps)
        if defences:
            defended = defence_table(shifted_auc, working_points, defences["kinds"], defences["target"])
        if set(auc["model"]) & set(MISMODELLING_MODES):
            kept = ~auc["model"].isin(MISMODELLING_MODES)
            without = premise_table(shifted_auc, working_points, auc[kept], worst_case, eps)[0]
    for name, table in (("premise", premise), ("premise_points", points), ("defences", defended)):
        if name in outputs:
            with atomic_output(outputs[name]) as tmp:
                table.to_csv(tmp, index=False, float_format="%.6g")
    if not shifted:
        return []
    models = ordered_models(set(auc["model"]))
    seed = int(auc["seed"].min()) if len(auc) else 0
    return [
        *scale_factor_lines(shifted_auc, working_points, models, seed),
        *mode_comparison_lines(shifted_auc),
        *defence_lines(defended, seeds, eps),
        *premise_lines(premise, eps, without),
    ]
