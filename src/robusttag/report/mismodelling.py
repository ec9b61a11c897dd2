"""The summary's sections on the shifted samples (mismodelled simulation as pseudo-data) and the premise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.mismodelling import PREMISE_MISTAG, PREMISE_RESAMPLES, SENSITIVITIES, VULNERABILITIES
from ..config import NOMINAL, defended_modes


def _percent(value: float, error: float) -> str:
    return f"{100 * value:+.2f} ± {100 * error:.2f} %" if np.isfinite(error) else f"{100 * value:+.2f} %"


def _factor(value: float, error: float) -> str:
    return f"{value:.3f} ± {error:.3f}" if np.isfinite(error) else f"{value:.3f}"


def scale_factor_lines(auc: pd.DataFrame, working_points: pd.DataFrame, models, reference_seed: int) -> list[str]:
    """The summary's table: per shifted sample and model (reference seed, selected checkpoint), the relative AUC
    change and the scale factors at the premise's working point, BvsL and CvsL.
    """
    at = auc[auc["selected"] & (auc["seed"] == reference_seed)]
    wp = working_points[
        working_points["selected"]
        & (working_points["seed"] == reference_seed)
        & np.isclose(working_points["mistag_target"], PREMISE_MISTAG)
    ]
    if at.empty:
        return []
    discs = [d for d in ("BvsL", "CvsL") if d in set(at["discriminator"])]
    head = ["sample", "model"]
    for disc in discs:
        head += [f"{disc} ΔAUC/AUC", f"{disc} SF signal eff.", f"{disc} SF mistag"]
    lines = [
        "## Robustness vs mismodelling: scale factors on the shifted samples",
        "",
        f"Each model (seed {reference_seed}, selected checkpoint) on each shifted sample, against its reference "
        "(a generated sample: the nominal twin, its own jets for a generator shift of the embedded generator or a "
        "detector variation of Pythia's, independent jets for a Pythia generator variation; a user's sample: the "
        f"nominal test split), at the cut "
        f"of {PREMISE_MISTAG:g} mistag fixed on the nominal validation split: SF = shifted / reference, with "
        "bootstrap errors.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for sample in sorted(set(at["sample"])):
        for model in models:
            cells = [sample, model]
            for disc in discs:
                a = at[(at["sample"] == sample) & (at["model"] == model) & (at["discriminator"] == disc)]
                w = wp[(wp["sample"] == sample) & (wp["model"] == model) & (wp["discriminator"] == disc)]
                if a.empty or w.empty:
                    cells += ["", "", ""]
                    continue
                a, w = a.iloc[0], w.iloc[0]
                cells.append(_percent(a["auc_change"] / a["reference_auc"], a["auc_change_err"] / a["reference_auc"]))
                cells += [
                    _factor(w["sf_efficiency"], w["sf_efficiency_err"]),
                    _factor(w["sf_mistag"], w["sf_mistag_err"]),
                ]
            lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def mode_comparison_lines(auc: pd.DataFrame) -> list[str]:
    """Per defended mode: does it move less than nominal on the shifted samples? The relative AUC changes of
    the two at each seed's selected checkpoint, compared within their errors (paired errors, in quadrature).
    """
    chosen = auc[auc["selected"] & auc["discriminator"].isin(["BvsL", "CvsL"])]
    chosen = chosen.assign(
        change=chosen["auc_change"] / chosen["reference_auc"], error=chosen["auc_change_err"] / chosen["reference_auc"]
    )
    keys = ["seed", "sample", "discriminator"]
    nominal = chosen[chosen["model"] == NOMINAL].set_index(keys)
    lines = []
    for mode in defended_modes(set(chosen["model"])):
        own = chosen[chosen["model"] == mode].set_index(keys)
        both = own[["change", "error"]].join(nominal[["change", "error"]], rsuffix="_nominal", how="inner")
        if both.empty:
            continue
        pull = (both["change"].abs() - both["change_nominal"].abs()) / np.hypot(both["error"], both["error_nominal"])
        less, more = int((pull < -2).sum()), int((pull > 2).sum())
        lines.append(
            f"{mode} against {NOMINAL}, |relative AUC change| at each seed's selected checkpoint (BvsL, CvsL, "
            f"every sample): smaller beyond twice the combined error in {less} of {len(both)} comparisons, larger "
            f"in {more}, within it in {len(both) - less - more} (largest pull {pull.abs().max():.1f})."
        )
    return [*lines, ""] if lines else []


#: (no "|" in them: they head Markdown table columns)
_SENSITIVITY_TEXT = {"auc_change": "ΔAUC/AUC", "sf_efficiency": "SF_eff - 1", "sf_mistag": "SF_mistag - 1"}
_VULNERABILITY_TEXT = {"fgsm": "FGSM", "worst_case": "the worst case"}


def _counts(premise: pd.DataFrame) -> tuple[int, int, int]:
    """(correlations shown, positive and negative beyond twice their error) of BvsL and CvsL."""
    shown = premise[premise["discriminator"].isin(["BvsL", "CvsL"])].dropna(subset=["spearman", "spearman_err"])
    positive = int((shown["spearman"] - 2 * shown["spearman_err"] > 0).sum())
    negative = int((shown["spearman"] + 2 * shown["spearman_err"] < 0).sum())
    return len(shown), positive, negative


def premise_lines(premise: pd.DataFrame, epsilon: float, without: pd.DataFrame | None = None) -> list[str]:
    """The summary's section on the premise: the rank correlations of BvsL and CvsL, then the finding (and, with
    ``without``, the premise without the defences against mismodelling's points).
    """
    rows = premise[premise["discriminator"].isin(["BvsL", "CvsL"])]
    if rows.dropna(subset=["spearman"]).empty:
        return []
    columns = [(v, s) for v in VULNERABILITIES for s in SENSITIVITIES]
    head = [f"{_VULNERABILITY_TEXT[v]}: {_SENSITIVITY_TEXT[s]}" for v, s in columns]
    points = rows.groupby("vulnerability")["points"].max().to_dict()
    lines = [
        "## The premise: do the more robust models move less on mismodelled simulation?",
        "",
        f"Spearman's rank correlation of each model's relative AUC drop under attack at eps = {epsilon:g} with "
        "its sensitivity to each shifted sample (the absolute value of the relative AUC change, of SF - 1), "
        "over every (mode, seed, checkpoint) scored (FGSM: up to "
        f"{points.get('fgsm', 0)} points; the worst case: up to {points.get('worst_case', 0)}, where the suite "
        f"ran); errors from {PREMISE_RESAMPLES} resamples of the points, SF at the {PREMISE_MISTAG:g} mistag cut. "
        "Positive: the more vulnerable models move more, as the paper assumes (premise.csv: every "
        "discriminator, with p-values).",
        "",
        "| sample | disc. | " + " | ".join(head) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    table = rows.set_index(["sample", "discriminator", "vulnerability", "sensitivity"])
    for sample, disc in rows[["sample", "discriminator"]].drop_duplicates().itertuples(index=False):
        cells = []
        for vulnerability, sensitivity in columns:
            r = table.loc[(sample, disc, vulnerability, sensitivity)]
            cells.append(f"{r['spearman']:+.2f} ± {r['spearman_err']:.2f}" if np.isfinite(r["spearman"]) else "")
        lines.append(f"| {sample} | {disc} | " + " | ".join(cells) + " |")
    shown, positive, negative = _counts(rows)
    lines += [
        "",
        f"Finding: of these {shown} correlations, {positive} are positive beyond twice their error (the more "
        f"robust models move less, as assumed), {negative} negative beyond twice their error (they move more), "
        f"{shown - positive - negative} consistent with none.",
        "",
    ]
    if without is not None:
        shown, positive, negative = _counts(without)
        lines += [
            f"Without the points of the defences against mismodelling (nominal and attack training only): {positive} "
            f"positive, {negative} negative, {shown - positive - negative} consistent with none, of {shown}.",
            "",
        ]
    return lines
