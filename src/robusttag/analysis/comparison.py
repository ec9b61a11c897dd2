"""The architectures compared, to answer whether a more complex network changes the picture.

The paper asks whether "more complex neural network structures" change how
vulnerable the tagger is and how much adversarial training helps. Each
architecture's study (:func:`robusttag.paths.study_root`) has already
quoted its numbers over the training seeds with their errors
(:func:`robusttag.analysis.seeds.seed_table`, ``seeds.csv``) and its scale factors on
the shifted samples (``shifted_working_points.csv``). This module puts them
side by side, one ``architecture`` column, and compares every architecture
with the first one of the run (the paper's DNN where it is trained): the
differences of the raw AUCs and of the relative drops, with the total errors
of the two in quadrature. The architectures are evaluated on the same test
jets, so the statistical part of a difference is smaller than quadrature
says: the comparison is conservative.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import ordered_models
from ..history import read_history
from ..paths import history_file
from .seeds import SIGNIFICANCE

COMPARISON_COLUMNS = (
    "architecture",
    "quantity",
    "model",
    "discriminator",
    "sample",
    "seeds",
    "value",
    "stat_err",
    "training_err",
    "total_err",
    "null",
    "z",
    "significant",
)
#: the seeds table's quantities compared across architectures (each model's own numbers)
COMPARED = ("raw_auc", "fgsm_relative_drop", "worst_relative_drop")
#: the seeds table's quantities carried over as they are (per model, and each defended mode against nominal)
CARRIED = (*COMPARED, "raw_auc_difference", "fgsm_drop_ratio", "worst_drop_ratio")
#: the working point of the shifted samples' scale factors (the premise's: 10 % mistag)
SHIFTED_MISTAG = 0.1


def _significance(value: float, error: float, null: float) -> tuple[float, bool]:
    z = (value - null) / error if np.isfinite(error) and error > 0 else np.nan
    return z, bool(np.isfinite(z) and abs(z) > SIGNIFICANCE)


def _seed_rows(architecture: str, seeds: pd.DataFrame) -> list[dict]:
    rows = []
    for r in seeds[seeds["quantity"].isin(CARRIED)].itertuples():
        rows.append(
            {
                "architecture": architecture,
                "quantity": r.quantity,
                "model": r.model,
                "discriminator": r.discriminator,
                "sample": "",
                "seeds": int(r.seeds),
                "value": r.value,
                "stat_err": r.stat_err,
                "training_err": r.training_err,
                "total_err": r.total_err,
                "null": r.null,
                "z": r.z,
                "significant": bool(r.significant),
            }
        )
    return rows


def _shifted_rows(architecture: str, auc: pd.DataFrame, working_points: pd.DataFrame, seed: int) -> list[dict]:
    """Per shifted sample, model and discriminator (the reference seed's selected checkpoint): the relative
    AUC change and the scale factors at the 10 % mistag cut, each with its bootstrap error.
    """
    at = auc[auc["selected"].astype(bool) & (auc["seed"] == seed)]
    wp = working_points[
        working_points["selected"].astype(bool)
        & (working_points["seed"] == seed)
        & np.isclose(working_points["mistag_target"], SHIFTED_MISTAG)
    ]
    rows = []

    def add(quantity, r, value, error, null):
        z, significant = _significance(value, error, null)
        rows.append(
            {
                "architecture": architecture,
                "quantity": quantity,
                "model": r.model,
                "discriminator": r.discriminator,
                "sample": r.sample,
                "seeds": 1,
                "value": value,
                "stat_err": error,
                "training_err": np.nan,
                "total_err": error,
                "null": null,
                "z": z,
                "significant": significant,
            }
        )

    for r in at.itertuples():
        add("shifted_relative_auc_change", r, r.auc_change / r.reference_auc, r.auc_change_err / r.reference_auc, 0.0)
    for r in wp.itertuples():
        add("shifted_sf_efficiency", r, r.sf_efficiency, r.sf_efficiency_err, 1.0)
        add("shifted_sf_mistag", r, r.sf_mistag, r.sf_mistag_err, 1.0)
    return rows


def _differences(table: pd.DataFrame, reference: str) -> list[dict]:
    """Each other architecture minus ``reference``, per compared quantity, model and discriminator."""
    own = table[table["quantity"].isin(COMPARED)]
    base = own[own["architecture"] == reference].set_index(["quantity", "model", "discriminator"])
    rows = []
    for r in own[own["architecture"] != reference].itertuples():
        key = (r.quantity, r.model, r.discriminator)
        if key not in base.index:
            continue
        b = base.loc[key]
        value = r.value - b["value"]
        errors = [e for e in (r.total_err, b["total_err"]) if np.isfinite(e)]
        total = math.sqrt(sum(e * e for e in errors)) if errors else np.nan
        z, significant = _significance(value, total, 0.0)
        stat = math.hypot(r.stat_err, b["stat_err"])
        training = math.hypot(r.training_err, b["training_err"])
        rows.append(
            {
                "architecture": f"{r.architecture} - {reference}",
                "quantity": f"{r.quantity}_difference",
                "model": r.model,
                "discriminator": r.discriminator,
                "sample": "",
                "seeds": min(int(r.seeds), int(b["seeds"])),
                "value": value,
                "stat_err": stat,
                "training_err": training,
                "total_err": total,
                "null": 0.0,
                "z": z,
                "significant": significant,
            }
        )
    return rows


def architecture_table(
    seed_tables: dict[str, pd.DataFrame],
    shifted: dict[str, tuple[pd.DataFrame, pd.DataFrame]] | None = None,
    reference_seed: int = 1,
) -> pd.DataFrame:
    """The architectures side by side, and each against the first.

    Parameters
    ----------
    seed_tables : {architecture: its ``seeds.csv``}, in the run's order (the first is the reference).
    shifted : {architecture: (its ``shifted_auc.csv``, its ``shifted_working_points.csv``)}, if any.
    reference_seed : the seed whose selected checkpoints the shifted tables quote.

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`: the carried quantities per architecture, the shifted samples' ones,
        and ``<quantity>_difference`` rows named ``"<architecture> - <reference>"``.
    """
    rows = [row for architecture, seeds in seed_tables.items() for row in _seed_rows(architecture, seeds)]
    for architecture, (auc, working_points) in (shifted or {}).items():
        rows += _shifted_rows(architecture, auc, working_points, reference_seed)
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    if seed_tables:
        table = pd.concat([table, pd.DataFrame(_differences(table, next(iter(seed_tables))))], ignore_index=True)
    return table[list(COMPARISON_COLUMNS)]


def training_cost(model_dirs: dict[str, list[str | os.PathLike]]) -> pd.DataFrame:
    """Per architecture and mode: epochs trained, seconds per epoch and jets per second (mean over the
    trainings and their epochs, from each ``history.csv``) on the machine that ran them.
    """
    rows = []
    for architecture, folders in model_dirs.items():
        per_mode: dict[str, list[dict]] = {}
        for folder in folders:
            per_mode.setdefault(Path(folder).parent.name, []).extend(read_history(history_file(folder)))
        for mode in ordered_models(per_mode):
            history = per_mode[mode]
            rows.append(
                {
                    "architecture": architecture,
                    "model": mode,
                    "epochs": len(history),
                    "seconds_per_epoch": float(np.mean([h["seconds"] for h in history])),
                    "jets_per_s": float(np.mean([h["jets_per_s"] for h in history])),
                }
            )
    return pd.DataFrame(rows, columns=["architecture", "model", "epochs", "seconds_per_epoch", "jets_per_s"])
