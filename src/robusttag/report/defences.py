"""The summary's section on the defences: each mode's sensitivity to held-out mismodelling, its raw-AUC cost and
its attack vulnerability side by side, and the answer in one paragraph.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.defences import ALL_HELD_OUT, TARGET_HALF, attack_drop, seed_value
from ..analysis.seeds import SIGNIFICANCE
from ..config import MISMODELLING_MODES, NOMINAL, ordered_models

#: The sensitivities the summary shows, and how it names them (no "|": they head Markdown columns)
SHOWN = {
    "auc_change": "ΔAUC/AUC",
    "sf_mistag_10pct": "SF_mistag - 1 at 10 %",
    "sf_mistag_1pct": "SF_mistag - 1 at 1 %",
    "sf_efficiency_10pct": "SF_eff - 1 at 10 %",
}
_DISCRIMINATORS = ("BvsL", "CvsL")


def _cell(value: float, error: float, percent: bool = False, spec: str | None = None) -> str:
    if not np.isfinite(value):
        return ""
    scale, unit = (100, " %") if percent else (1, "")
    spec = spec or (".2f" if percent else ".3f")
    shown = f"{scale * value:{spec}}"
    return f"{shown} ± {scale * error:{spec}}{unit}" if np.isfinite(error) else f"{shown}{unit}"


def defence_lines(defences: pd.DataFrame, seeds: pd.DataFrame, epsilon: float) -> list[str]:
    """The section: a table per discriminator (held out, all), the domain's target, and the finding."""
    pooled = defences[defences["sample"] == ALL_HELD_OUT]
    models = ordered_models(pooled["model"])
    if not any(m in MISMODELLING_MODES for m in models):
        return []
    lines = [
        "## Defences against mismodelling, judged on variations they never saw",
        "",
        "Per model, the mean over the held-out shifted samples (every one but domain training's target) of the "
        "sensitivity to each (absolute values; cuts fixed on the nominal validation jets), over the seeds with its "
        "total error (statistical and over seeds); minus nominal seed by seed, with its pull; the raw-AUC cost "
        "(nominal minus the model's raw AUC) and the relative AUC drop under attack at "
        f"eps = {epsilon:g} (the worst case where the strong suite ran, else FGSM). Every sample, quantity and "
        "the comparisons with FGSM training: defences.csv.",
        "",
    ]
    for disc in _DISCRIMINATORS:
        head = ["model", *SHOWN.values(), "minus nominal (pull), SF_mistag at 10 %", "raw-AUC cost", "attack drop"]
        lines += [f"**{disc}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for model in models:
            cells = [model]
            for quantity in SHOWN:
                row = pooled[
                    (pooled["model"] == model) & (pooled["discriminator"] == disc) & (pooled["quantity"] == quantity)
                ]
                cells.append(
                    _cell(row["value"].iloc[0], row["total_err"].iloc[0], quantity == "auc_change") if len(row) else ""
                )
            cells.append(_versus(pooled, model, disc, "sf_mistag_10pct"))
            cost = seed_value(seeds, "raw_auc_difference", f"{model} vs {NOMINAL}", disc)
            cells.append(_cell(-cost[0], cost[1], spec=".4f") if model != NOMINAL else "0")
            name, drop, error = attack_drop(seeds, model, disc)
            cells.append(f"{_cell(drop, error, percent=True)} ({name})" if name else "")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return [*lines, *_target_lines(defences), *_finding(defences, seeds, models), ""]


def _versus(pooled: pd.DataFrame, model: str, disc: str, quantity: str) -> str:
    row = pooled[(pooled["model"] == model) & (pooled["discriminator"] == disc) & (pooled["quantity"] == quantity)]
    if model == NOMINAL or row.empty or not np.isfinite(row["minus_nominal"].iloc[0]):
        return ""
    r = row.iloc[0]
    pull = f" ({r['z_nominal']:+.1f})" if np.isfinite(r["z_nominal"]) else ""
    return f"{r['minus_nominal']:+.3f} ± {r['minus_err_nominal']:.3f}{pull}"


def _target_lines(defences: pd.DataFrame) -> list[str]:
    """Domain training on the unseen half of the sample it adapted to, against nominal."""
    half = defences[(defences["held_out"] == TARGET_HALF) & (defences["model"] == "domain")]
    if half.empty:
        return []
    sample = half["sample"].iloc[0]
    parts = []
    for disc in _DISCRIMINATORS:
        for quantity in ("auc_change", "sf_mistag_10pct"):
            row = half[(half["discriminator"] == disc) & (half["quantity"] == quantity)]
            if len(row) and np.isfinite(row["minus_nominal"].iloc[0]):
                r = row.iloc[0]
                percent = quantity == "auc_change"
                pull = f", pull {r['z_nominal']:+.1f}" if np.isfinite(r["z_nominal"]) else ""
                parts.append(
                    f"{disc} {SHOWN[quantity]} {_cell(r['value'], r['total_err'], percent)} (minus nominal "
                    f"{_cell(r['minus_nominal'], r['minus_err_nominal'], percent)}{pull})"
                )
    return [
        f"Domain training on the jets of its target it never saw ({sample}: the odd-numbered jets; it adapted to the "
        "even-numbered ones, unlabelled): " + "; ".join(parts) + ".",
        "",
    ]


def _finding(defences: pd.DataFrame, seeds: pd.DataFrame, models) -> list[str]:
    """Which defence lowers the held-out sensitivity beyond SIGNIFICANCE total errors, and at what cost."""
    pooled = defences[(defences["sample"] == ALL_HELD_OUT) & defences["quantity"].isin(list(SHOWN))]
    better, cases = [], 0
    for model in [m for m in models if m != NOMINAL]:
        own = pooled[pooled["model"] == model].dropna(subset=["z_nominal"])
        cases += len(own)
        lower = own[own["z_nominal"] < -SIGNIFICANCE]
        if len(lower):
            what = ", ".join(f"{r.discriminator} {SHOWN[r.quantity]} ({r.z_nominal:+.1f})" for r in lower.itertuples())
            costs = []
            for disc in _DISCRIMINATORS:
                cost = seed_value(seeds, "raw_auc_difference", f"{model} vs {NOMINAL}", disc)
                name, drop, error = attack_drop(seeds, model, disc)
                cost_text = _cell(-cost[0], cost[1], spec=".4f")
                costs.append(f"{disc} raw-AUC cost {cost_text}, {name} drop {_cell(drop, error, True)}")
            better.append(f"{model} (on {what}; {'; '.join(costs)})")
    if better:
        answer = (
            f"these modes lower the sensitivity to held-out mismodelling (held out, all) below nominal's by more "
            f"than {SIGNIFICANCE:g} total errors: " + "; ".join(better) + "."
        )
    else:
        answer = (
            f"no mode lowers the sensitivity to held-out mismodelling (held out, all) below nominal's by more "
            f"than {SIGNIFICANCE:g} total errors, in any of the {cases} comparisons (mode, discriminator, "
            "quantity)."
        )
    return [f"Finding: {answer}", "", *_per_sample(defences), ""]


def _per_sample(defences: pd.DataFrame) -> list[str]:
    """The comparisons with nominal on single samples beyond SIGNIFICANCE total errors, with the count made (some
    of many comparisons pass by chance: about 0.3 % at three errors).
    """
    rows = defences[(defences["sample"] != ALL_HELD_OUT) & (defences["model"] != NOMINAL)]
    rows = rows[rows["quantity"].isin(list(SHOWN)) & rows["z_nominal"].notna()]
    if rows.empty:
        return []
    beyond = rows[rows["z_nominal"].abs() > SIGNIFICANCE].sort_values("z_nominal")
    listed = "; ".join(
        f"{r.model} {'lower' if r.z_nominal < 0 else 'higher'} on {r.sample} {r.discriminator} {SHOWN[r.quantity]} "
        f"({r.z_nominal:+.1f})"
        for r in beyond.itertuples()
    )
    return [
        f"Per sample (the target's unseen half included), of {len(rows)} comparisons with nominal, "
        f"{len(beyond)} lie beyond {SIGNIFICANCE:g} total errors" + (f": {listed}." if listed else "."),
    ]
