"""The spread over training seeds, combined with the statistical errors, and the significance of comparisons.

Every mode is trained once per seed of ``training.seeds`` and judged at its
selected checkpoint. Each quantity q (a raw AUC, a relative AUC drop, or a
comparison such as the adversarial/nominal ratio of drops) is computed per
seed, q_s, and quoted as the mean over the N seeds with two errors:

- statistical: the standard deviation over the bootstrap resamples of the test
  jets of the mean over seeds (the same resamples for every seed, model and
  attack, so the errors of differences and ratios are paired);
- training: the standard deviation of q_s over the seeds (``seed_spread``,
  what one training of the recipe may give) divided by sqrt(N), the error of
  the mean.

Their quadrature sum is ``total_err``. A comparison is ``significant`` when it
lies more than :data:`SIGNIFICANCE` total errors from its null value (0 for a
difference, 1 for a ratio): with few seeds the training error is itself
uncertain, hence three rather than two.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..config import NOMINAL, defended_modes, ordered_models
from ..metrics import DISCRIMINATORS
from .uncertainties import standard_error

#: total errors from the null value beyond which a comparison is called significant
SIGNIFICANCE = 3.0

SEED_COLUMNS = (
    "quantity",
    "model",
    "discriminator",
    "seeds",
    "value",
    "stat_err",
    "seed_spread",
    "training_err",
    "total_err",
    "null",
    "z",
    "significant",
)

#: Replicas keys of a checkpoint's raw curve and of an attacked one
_NONE = ("raw", "none", 0.0)
#: the columns of a working point's key in the resampled scale factors (then its mistag target)
_WORKING_POINT_KEY = ("model", "seed", "epoch", "attack", "attack_source", "epsilon", "discriminator")


def _per_seed(auc: pd.DataFrame, worst_case: pd.DataFrame, model: str, disc: str, eps: float) -> pd.DataFrame:
    """Per seed (in order) at the selected checkpoint of a model: epoch, raw AUC, relative drop under its own
    FGSM at ``eps`` and, where the strong suite ran, under the worst case with the attack behind it.
    """
    chosen = auc[auc["selected"].astype(bool) & (auc["model"] == model) & (auc["discriminator"] == disc)]
    raw = chosen[chosen["attack"] == "raw"].set_index("seed")
    own = chosen[(chosen["attack"] == "fgsm") & (chosen["attack_source"] == model) & np.isclose(chosen["epsilon"], eps)]
    rows = pd.DataFrame(
        {"epoch": raw["epoch"], "raw_auc": raw["auc"], "fgsm_relative_drop": own.set_index("seed")["relative_drop"]}
    )
    worst = worst_case[
        worst_case["selected"].astype(bool)
        & (worst_case["model"] == model)
        & (worst_case["discriminator"] == disc)
        & np.isclose(worst_case["epsilon"], eps)
    ].set_index("seed")
    rows["worst_relative_drop"] = worst["worst_relative_drop"].reindex(rows.index)
    rows["worst_attack"] = worst["worst_attack"].reindex(rows.index)
    return rows.dropna(subset=["raw_auc", "fgsm_relative_drop"]).rename_axis("seed").reset_index().sort_values("seed")


def _quantities(rows: pd.DataFrame, replicas: dict, model: str, disc: str, eps: float) -> dict:
    """{quantity: (per-seed values, per-seed resampled values or None)} of one model and discriminator."""

    def resampled(attack_of) -> np.ndarray | None:
        """Per seed, the resampled raw AUC (``attack_of`` None) or relative drop under ``attack_of(row)``."""
        out = []
        for row in rows.itertuples():
            checkpoint = (model, int(row.seed), int(row.epoch))
            raw = replicas.get((*checkpoint, *_NONE, disc))
            if raw is None:
                return None
            if attack_of is None:
                out.append(raw)
                continue
            attack = attack_of(row)
            attacked = (
                replicas.get((*checkpoint, attack, model, round(eps, 6), disc)) if isinstance(attack, str) else None
            )
            if attacked is None:
                return None
            out.append((raw - attacked) / raw)
        return np.array(out)

    return {
        "raw_auc": (rows["raw_auc"].to_numpy(float), resampled(None)),
        "fgsm_relative_drop": (rows["fgsm_relative_drop"].to_numpy(float), resampled(lambda row: "fgsm")),
        "worst_relative_drop": (rows["worst_relative_drop"].to_numpy(float), resampled(lambda row: row.worst_attack)),
    }


def _row(quantity: str, model: str, disc: str, values, resampled, null: float = np.nan) -> dict:
    """One quantity over the seeds: mean, statistical, training and total errors, and its significance."""
    n = len(values)
    value = float(np.mean(values))
    stat = standard_error(resampled.mean(axis=0)) if resampled is not None else np.nan
    spread = float(np.std(values, ddof=1)) if n > 1 else np.nan
    training = spread / math.sqrt(n) if n > 1 else np.nan
    errors = [e for e in (stat, training) if np.isfinite(e)]
    total = math.sqrt(sum(e * e for e in errors)) if errors else np.nan
    z = (value - null) / total if np.isfinite(null) and np.isfinite(total) and total > 0 else np.nan
    significant = bool(np.isfinite(z) and abs(z) > SIGNIFICANCE)
    fields = (quantity, model, disc, n, value, stat, spread, training, total, null, z, significant)
    return dict(zip(SEED_COLUMNS, fields))


def seed_table(
    auc: pd.DataFrame,
    worst_case: pd.DataFrame,
    replicas: dict,
    eps: float,
    working_points: pd.DataFrame | None = None,
    sf_replicas: dict | None = None,
) -> pd.DataFrame:
    """Per model and discriminator over the seeds: the raw AUC and the relative drops under FGSM and the
    worst case at ``eps``; and the comparisons: adversarial minus nominal raw AUC, adversarial over nominal
    drop (FGSM, worst case), and per model the worst case's drop minus FGSM's. With ``working_points``
    (and ``sf_replicas``, their resampled scale factors) also the scale factors of efficiency and mistag
    under FGSM at the loosest fixed-cut working point, and the adversarial over nominal mistag shift
    (SF - 1). Seeds pair the comparisons (the same seed gives both modes the same initial weights and
    batch order).
    """
    rows = []
    for disc in DISCRIMINATORS:
        quantities = {}
        for model in ordered_models(auc["model"]):
            per_seed = _per_seed(auc, worst_case, model, disc, eps)
            if not len(per_seed):
                continue
            quantities[model] = (per_seed["seed"].tolist(), _quantities(per_seed, replicas, model, disc, eps))
            for name, (values, resampled) in quantities[model][1].items():
                if not np.isnan(values).any():  # the worst case: only where the suite ran at every seed
                    rows.append(_row(name, model, disc, values, resampled))
            worst, fgsm = quantities[model][1]["worst_relative_drop"], quantities[model][1]["fgsm_relative_drop"]
            resampled = None if worst[1] is None or fgsm[1] is None else worst[1] - fgsm[1]
            if not np.isnan(worst[0]).any():
                rows.append(_row("worst_minus_fgsm_drop", model, disc, worst[0] - fgsm[0], resampled, null=0.0))
        for mode in _defended(quantities):
            rows += _mode_comparisons(quantities[NOMINAL][1], quantities[mode][1], disc, mode)
        if working_points is not None and len(working_points):
            rows += _scale_factor_rows(working_points, sf_replicas or {}, disc, eps)
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


def _scale_factor_rows(working_points: pd.DataFrame, sf_replicas: dict, disc: str, eps: float) -> list[dict]:
    """The fixed-cut scale factors under each model's own FGSM at the loosest working point, over the seeds,
    and the adversarial over nominal mistag shift (SF_mistag - 1).
    """
    target = working_points["mistag_target"].max()
    chosen = working_points[
        (working_points["attack"] == "fgsm")
        & (working_points["attack_source"] == working_points["model"])
        & (working_points["discriminator"] == disc)
        & (working_points["mistag_target"] == target)
        & np.isclose(working_points["epsilon"], eps)
    ].sort_values("seed")
    rows, shifts = [], {}
    for model in ordered_models(chosen["model"]):
        per_seed = chosen[chosen["model"] == model]
        keys = [(*(getattr(r, c) for c in _WORKING_POINT_KEY), r.mistag_target) for r in per_seed.itertuples()]
        resampled = [sf_replicas.get(key) for key in keys]
        complete = all(r is not None for r in resampled)
        for i, (name, column) in enumerate((("fgsm_sf_efficiency", "sf_efficiency"), ("fgsm_sf_mistag", "sf_mistag"))):
            stacked = np.array([r[i] for r in resampled]) if complete else None
            rows.append(_row(name, model, disc, per_seed[column].to_numpy(float), stacked))
        shifts[model] = (
            per_seed["seed"].tolist(),
            per_seed["sf_mistag"].to_numpy(float) - 1,
            np.array([r[1] for r in resampled]) - 1 if complete else None,
        )
    for mode in _defended(shifts):
        with np.errstate(divide="ignore", invalid="ignore"):
            values = shifts[mode][1] / shifts[NOMINAL][1]
            both = shifts[mode][2] is not None and shifts[NOMINAL][2] is not None
            resampled = shifts[mode][2] / shifts[NOMINAL][2] if both else None
        rows.append(_row("sf_mistag_shift_ratio", f"{mode} vs {NOMINAL}", disc, values, resampled, null=1.0))
    return rows


def _defended(per_mode: dict) -> list[str]:
    """The defended modes (:func:`.settings.defended_modes`) trained with the nominal model's seeds."""
    return [m for m in defended_modes(per_mode) if per_mode[m][0] == per_mode[NOMINAL][0]]


def _mode_comparisons(nominal: dict, defended: dict, disc: str, mode: str) -> list[dict]:
    """A defended mode against nominal, seed by seed: the raw AUC difference and the ratios of the drops."""

    def combine(name, operation):
        values = operation(defended[name][0], nominal[name][0])
        both = defended[name][1] is not None and nominal[name][1] is not None
        return values, operation(defended[name][1], nominal[name][1]) if both else None

    with np.errstate(divide="ignore", invalid="ignore"):
        difference = combine("raw_auc", np.subtract)
        fgsm = combine("fgsm_relative_drop", np.divide)
        worst = combine("worst_relative_drop", np.divide)
    where = f"{mode} vs {NOMINAL}"
    rows = [
        _row("raw_auc_difference", where, disc, *difference, null=0.0),
        _row("fgsm_drop_ratio", where, disc, *fgsm, null=1.0),
    ]
    if not np.isnan(worst[0]).any():
        rows.append(_row("worst_drop_ratio", where, disc, *worst, null=1.0))
    return rows
