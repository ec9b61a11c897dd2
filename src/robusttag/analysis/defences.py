"""The defences judged on variations they never saw: per mode and held-out sample, the sensitivity to
mismodelling at each seed's selected checkpoint, over the seeds, and each mode against nominal and FGSM training.

A model's sensitivity to a shifted sample is the absolute relative AUC change and |SF - 1| of the signal
efficiency and of the mistag rate at the cuts of 1 % and 10 % mistag fixed on the nominal validation jets
(:mod:`.mismodelling`). Each is a mean over the seeds with the errors of :mod:`.seeds`: statistical (the
bootstrap errors of the shifted tables; the same jets at every seed, so taken as fully correlated: the root
mean square over the seeds) and training (the spread over the seeds over sqrt(N)), in quadrature. A comparison
is made seed by seed (the same seed: the same initial weights and batch order), its per-seed statistical error
the two errors in quadrature.

Domain training adapts to its target sample's even-numbered jets, unlabelled: on that sample it is judged on the
odd-numbered jets alone (the unseen half, :data:`UNSEEN_HALF`), as every other model there, and never as held out
on the whole sample. ``held out, all`` is the mean over every held-out sample but the target of each quantity.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..config import NOMINAL, ordered_models
from ..errors import ResultsError
from .seeds import SIGNIFICANCE

#: The suffix of a sample's name for its odd-numbered jets (the domain target's half domain training never saw)
UNSEEN_HALF = "_unseen_half"
#: The held-out kind of a domain target's unseen half
TARGET_HALF = "domain target, unseen half"
#: The pseudo-sample of the mean over the held-out samples
ALL_HELD_OUT = "held out, all"
#: (quantity, its source column, the fixed-cut mistag target or None for the AUC)
QUANTITIES = (
    ("auc_change", None, None),
    ("sf_efficiency_1pct", "sf_efficiency", 0.01),
    ("sf_mistag_1pct", "sf_mistag", 0.01),
    ("sf_efficiency_10pct", "sf_efficiency", 0.1),
    ("sf_mistag_10pct", "sf_mistag", 0.1),
)
_AGAINST = (NOMINAL, "adversarial")
DEFENCE_COLUMNS = (
    "model",
    "sample",
    "held_out",
    "discriminator",
    "quantity",
    "seeds",
    "value",
    "stat_err",
    "training_err",
    "total_err",
    *(f"{name}_{against}" for against in _AGAINST for name in ("minus", "minus_err", "z", "significant")),
)


def unseen_half(sample: str) -> str:
    """The name of a sample's odd-numbered jets."""
    return f"{sample}{UNSEEN_HALF}"


def per_seed_sensitivities(auc: pd.DataFrame, working_points: pd.DataFrame) -> pd.DataFrame:
    """Per (model, seed, sample, discriminator, quantity) at the selected checkpoints: the sensitivity (an absolute
    value) and its statistical error.
    """
    keys = ["model", "seed", "sample", "discriminator"]
    parts = []
    chosen = auc[auc["selected"].astype(bool)]
    parts.append(
        chosen[keys].assign(
            quantity="auc_change",
            value=(chosen["auc_change"] / chosen["reference_auc"]).abs(),
            error=chosen["auc_change_err"] / chosen["reference_auc"],
        )
    )
    chosen = working_points[working_points["selected"].astype(bool)]
    for quantity, column, mistag in QUANTITIES[1:]:
        at = chosen[np.isclose(chosen["mistag_target"], mistag)]
        parts.append(at[keys].assign(quantity=quantity, value=(at[column] - 1).abs(), error=at[f"{column}_err"]))
    return pd.concat(parts, ignore_index=True)


def _over_seeds(values: np.ndarray, errors: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, statistical, training, total error) of per-seed values with their statistical errors."""
    n = len(values)
    stat = float(np.sqrt(np.mean(np.square(errors)))) if np.isfinite(errors).all() else np.nan
    training = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else np.nan
    known = [e for e in (stat, training) if np.isfinite(e)]
    return float(np.mean(values)), stat, training, math.sqrt(sum(e * e for e in known)) if known else np.nan


def held_out_rows(per_seed: pd.DataFrame, kinds: dict[str, str], target: str | None) -> pd.DataFrame:
    """The rows a model is judged on: every sample of ``kinds`` ({sample: held-out kind}), the domain target's
    unseen half (all models), and the mean over the held-out samples but the target (:data:`ALL_HELD_OUT`).

    Raises
    ------
    ResultsError
        When domain training would be judged as held out on its whole target sample (a sample half of whose jets
        it trained on), or a sample is of no declared kind.
    """
    unknown = sorted(set(per_seed["sample"]) - set(kinds) - ({unseen_half(target)} if target else set()))
    if unknown:
        raise ResultsError(f"shifted samples {unknown} are of no declared kind (held out, or the domain's target)")
    rows = per_seed.assign(held_out=per_seed["sample"].map(kinds))
    if target:
        rows.loc[rows["sample"] == unseen_half(target), "held_out"] = TARGET_HALF
        rows = rows[(rows["model"] != "domain") | (rows["sample"] != target)]  # it adapted to half of these jets
    pooled = rows[~rows["sample"].isin([target, unseen_half(target) if target else None])]
    mean = pooled.groupby(["model", "seed", "discriminator", "quantity"], as_index=False).agg(
        value=("value", lambda v: v.mean(skipna=False)),  # undefined where one sample's is (no jet past a cut)
        error=("error", lambda e: float(np.sqrt(np.square(e.to_numpy()).sum())) / len(e)),
    )
    mean = mean.assign(sample=ALL_HELD_OUT, held_out=ALL_HELD_OUT)
    return pd.concat([rows, mean], ignore_index=True)


def check_judged_rows(rows: pd.DataFrame, trained_on: dict[str, set[str]]) -> None:
    """The held-out rule on the finished rows: no model is judged as held out on a sample it trained on.

    Raises
    ------
    ResultsError
        Naming the model and the sample.
    """
    for model, samples in trained_on.items():
        judged = rows[(rows["model"] == model) & rows["sample"].isin(samples) & (rows["held_out"] != TARGET_HALF)]
        if len(judged):
            raise ResultsError(
                f"the {model} model trained on {sorted(set(judged['sample']))}: no held-out row may judge it there"
            )


def defence_table(
    auc: pd.DataFrame, working_points: pd.DataFrame, kinds: dict[str, str], target: str | None = None
) -> pd.DataFrame:
    """Per model, sample (held out, the target's unseen half, and all held out), discriminator and quantity: the
    sensitivity over the seeds, and each model minus nominal and minus FGSM training (``adversarial``), seed by
    seed, with their significance (:data:`SIGNIFICANCE` total errors from zero).
    """
    rows = held_out_rows(per_seed_sensitivities(auc, working_points), kinds, target)
    check_judged_rows(rows, {"domain": {target}} if target else {})
    keys = ["sample", "discriminator", "quantity"]
    out = []
    for key, group in rows.groupby(keys, sort=False):
        by_model = {m: g.set_index("seed").sort_index() for m, g in group.groupby("model")}
        for model in ordered_models(by_model):
            own = by_model[model]
            value, stat, training, total = _over_seeds(own["value"].to_numpy(), own["error"].to_numpy())
            row = dict(zip(("model", *keys), (model, *key)))
            row |= {"held_out": own["held_out"].iloc[0], "seeds": len(own), "value": value}
            row |= {"stat_err": stat, "training_err": training, "total_err": total}
            for against in _AGAINST:
                row |= _against(own, by_model.get(against), against) if model != against else {}
            out.append(row)
    table = pd.DataFrame(out, columns=list(DEFENCE_COLUMNS))
    order = {m: i for i, m in enumerate(ordered_models(table["model"]))}
    return table.sort_values(
        ["sample", "discriminator", "quantity", "model"], key=lambda c: c.map(order) if c.name == "model" else c
    ).reset_index(drop=True)


def _against(own: pd.DataFrame, other: pd.DataFrame | None, name: str) -> dict:
    """One model minus another, seed by seed over their common seeds."""
    if other is None:
        return {}
    seeds = own.index.intersection(other.index)
    if len(seeds) == 0:
        return {}
    difference = own.loc[seeds, "value"].to_numpy() - other.loc[seeds, "value"].to_numpy()
    errors = np.hypot(own.loc[seeds, "error"].to_numpy(), other.loc[seeds, "error"].to_numpy())
    value, _, _, total = _over_seeds(difference, errors)
    z = value / total if np.isfinite(total) and total > 0 else np.nan
    return {
        f"minus_{name}": value,
        f"minus_err_{name}": total,
        f"z_{name}": z,
        f"significant_{name}": bool(np.isfinite(z) and abs(z) > SIGNIFICANCE),
    }


def seed_value(seeds: pd.DataFrame, quantity: str, model: str, discriminator: str) -> tuple[float, float]:
    """(value, total error) of a quantity of the seeds table (``seeds.csv``), NaN where it has none."""
    row = seeds[(seeds["quantity"] == quantity) & (seeds["model"] == model) & (seeds["discriminator"] == discriminator)]
    return (float(row["value"].iloc[0]), float(row["total_err"].iloc[0])) if len(row) else (np.nan, np.nan)


def attack_drop(seeds: pd.DataFrame, model: str, discriminator: str) -> tuple[str, float, float]:
    """(which attack, relative AUC drop, total error): the suite's worst case where it ran at every seed, else
    FGSM's ("" and NaN without either).
    """
    for quantity, name in (("worst_relative_drop", "worst case"), ("fgsm_relative_drop", "FGSM")):
        value, error = seed_value(seeds, quantity, model, discriminator)
        if np.isfinite(value):
            return name, value, error
    return "", np.nan, np.nan
