"""The architectures compared, to answer whether a more complex network changes the picture.

The paper asks whether "more complex neural network structures" change how
vulnerable the tagger is and how much adversarial training helps. Each
architecture's study (:func:`robusttag.paths.study_root`) has already
quoted its numbers over the training seeds with their errors
(:func:`robusttag.seeds.seed_table`, ``seeds.csv``) and its scale factors on
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

from .config import ordered_models
from .history import read_history
from .io import atomic_output
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
            per_mode.setdefault(Path(folder).parent.name, []).extend(read_history(Path(folder) / "history.csv"))
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


def _value(value: float, error: float, percent: bool = False) -> str:
    if not np.isfinite(value):
        return ""
    scale, unit = (100.0, " %") if percent else (1.0, "")
    digits = 2 if percent else 4
    if not np.isfinite(error):
        return f"{value * scale:.{digits}f}{unit}"
    return f"{value * scale:.{digits}f} ± {error * scale:.{digits}f}{unit}"


def _cell(table: pd.DataFrame, architecture: str, quantity: str, model: str, disc: str, percent=False, mark=False):
    """One quantity's value ± total error as a table cell ('' where the table has none); with ``mark``,
    ** after a significant one.
    """
    row = table[
        (table["architecture"] == architecture)
        & (table["quantity"] == quantity)
        & (table["model"] == model)
        & (table["discriminator"] == disc)
    ]
    if row.empty:
        return ""
    r = row.iloc[0]
    return _value(r["value"], r["total_err"], percent) + (" **" if mark and r["significant"] else "")


def summary_markdown(
    table: pd.DataFrame, cost: pd.DataFrame, epsilon: float, architectures: list[str], studies: dict[str, str]
) -> str:
    """``summary.md`` of a run with several architectures: the paper's question answered with numbers.

    Parameters
    ----------
    table : :func:`architecture_table`.
    cost : :func:`training_cost`.
    epsilon : the epsilon of the seeds' tables (``evaluation.summary_epsilon``).
    architectures : in the run's order, the first the reference.
    studies : {architecture: the path of its own summary}.
    """
    own = table[~table["architecture"].str.contains(" - ")]
    models = ordered_models(own["model"][~own["model"].str.contains(" vs ")])
    discs = [d for d in ("BvsL", "CvsL") if d in set(own["discriminator"])]
    reference = architectures[0]
    lines = [
        "# Architectures compared",
        "",
        'The paper asks whether "more complex neural network structures" change the picture. Each architecture '
        f"below was trained, attacked and judged by the same DAG on the same jets; at epsilon = {epsilon:g}, at the "
        "selected checkpoints, the mean over the training seeds ± its total error (statistical and training in "
        "quadrature). Each architecture's own summary holds the details: "
        + ", ".join(f"[{a}]({studies[a]})" for a in architectures)
        + ".",
        "",
        "## Raw AUC and relative AUC drops",
        "",
    ]
    head = ["architecture", "model"]
    for disc in discs:
        head += [f"{disc} raw AUC", f"{disc} FGSM drop", f"{disc} worst-case drop"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for architecture in architectures:
        for model in models:
            cells = [architecture, model]
            for disc in discs:
                cells.append(_cell(own, architecture, "raw_auc", model, disc))
                cells.append(_cell(own, architecture, "fgsm_relative_drop", model, disc, percent=True))
                cells.append(_cell(own, architecture, "worst_relative_drop", model, disc, percent=True))
            if any(cells[2:]):
                lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *_ratio_lines(own, architectures, discs), *_difference_lines(table, reference, discs)]
    lines += [*_shifted_lines(own, architectures, discs), *_cost_lines(cost)]
    return "\n".join(lines) + "\n"


def _ratio_lines(own: pd.DataFrame, architectures: list[str], discs: list[str]) -> list[str]:
    compared = sorted(set(own.loc[own["quantity"] == "fgsm_drop_ratio", "model"]))
    if not compared:
        return []
    lines = [
        "## Adversarial training per architecture",
        "",
        "Each defended mode's relative drop over the nominal model's (1: no gain; below 1: more robust), seed by "
        f"seed, and its raw AUC minus the nominal one; ** marks a value more than {SIGNIFICANCE:g} total errors "
        "from its null (1, or 0 for the difference).",
        "",
    ]
    head = ["architecture", "comparison"]
    for disc in discs:
        head += [f"{disc} FGSM drop ratio", f"{disc} worst-case drop ratio", f"{disc} raw AUC difference"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for architecture in architectures:
        for comparison in compared:
            cells = [architecture, comparison]
            for disc in discs:
                for quantity in ("fgsm_drop_ratio", "worst_drop_ratio", "raw_auc_difference"):
                    cells.append(_cell(own, architecture, quantity, comparison, disc, mark=True))
            if any(cells[2:]):
                lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _difference_lines(table: pd.DataFrame, reference: str, discs: list[str]) -> list[str]:
    differences = table[table["architecture"].str.contains(" - ")]
    if differences.empty:
        return []
    lines = [
        f"## Against {reference}",
        "",
        f"Each architecture minus {reference}, model by model, with the two total errors in quadrature (the same "
        f"test jets: conservative); ** marks a difference beyond {SIGNIFICANCE:g} errors.",
        "",
    ]
    head = ["difference", "model"]
    for disc in discs:
        head += [f"{disc} raw AUC", f"{disc} FGSM drop", f"{disc} worst-case drop"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in dict.fromkeys(differences["architecture"]):
        for model in ordered_models(differences["model"]):
            cells = [name, model]
            for disc in discs:
                cells.append(_cell(differences, name, "raw_auc_difference", model, disc, mark=True))
                for quantity in ("fgsm_relative_drop_difference", "worst_relative_drop_difference"):
                    cells.append(_cell(differences, name, quantity, model, disc, percent=True, mark=True))
            if any(cells[2:]):
                lines.append("| " + " | ".join(cells) + " |")
    significant = differences[differences["significant"]]
    verdict = (
        f"{len(significant)} of {len(differences)} differences lie beyond {SIGNIFICANCE:g} errors."
        if len(differences)
        else ""
    )
    return [*lines, "", verdict, ""]


def _shifted_lines(own: pd.DataFrame, architectures: list[str], discs: list[str]) -> list[str]:
    shifted = own[own["quantity"].str.startswith("shifted_")]
    if shifted.empty:
        return []
    lines = [
        "## Scale factors on the shifted samples",
        "",
        "Each architecture's models (the reference seed's selected checkpoint) on the mismodelled samples: the "
        f"relative AUC change and the mistag scale factor at the cut of {SHIFTED_MISTAG:g} mistag fixed on the "
        "nominal validation split, with bootstrap errors.",
        "",
    ]
    head = ["sample", "architecture", "model"]
    for disc in discs:
        head += [f"{disc} ΔAUC/AUC", f"{disc} SF mistag"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sample in sorted(set(shifted["sample"])):
        rows = shifted[shifted["sample"] == sample]
        for architecture in architectures:
            for model in ordered_models(rows["model"]):
                cells = [sample, architecture, model]
                for disc in discs:
                    part = rows[(rows["architecture"] == architecture) & (rows["model"] == model)]
                    cells.append(_cell(part, architecture, "shifted_relative_auc_change", model, disc, percent=True))
                    cells.append(_cell(part, architecture, "shifted_sf_mistag", model, disc))
                if any(cells[3:]):
                    lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _cost_lines(cost: pd.DataFrame) -> list[str]:
    if cost.empty:
        return []
    lines = [
        "## What each architecture costs to train",
        "",
        "Mean over every training of the run and its epochs, on the machine that ran them.",
        "",
        "| architecture | model | epochs | seconds per epoch | jets per second |",
        "|---|---|---|---|---|",
    ]
    for r in cost.itertuples():
        lines.append(f"| {r.architecture} | {r.model} | {r.epochs} | {r.seconds_per_epoch:.1f} | {r.jets_per_s:.0f} |")
    return [*lines, ""]


def write_comparison(
    seed_files: dict[str, str | os.PathLike],
    shifted_files: dict[str, tuple[str | os.PathLike, str | os.PathLike]],
    model_dirs: dict[str, list[str | os.PathLike]],
    studies: dict[str, str],
    epsilon: float,
    reference_seed: int,
    outputs: dict[str, str | os.PathLike],
) -> pd.DataFrame:
    """Write ``architectures.csv`` (``outputs["table"]``) and the run's ``summary.md`` (``outputs["summary"]``)
    from each architecture's tables, and return the table.
    """
    seeds = {architecture: pd.read_csv(path) for architecture, path in seed_files.items()}
    shifted = {a: (pd.read_csv(auc), pd.read_csv(wp)) for a, (auc, wp) in shifted_files.items()}
    table = architecture_table(seeds, shifted, reference_seed)
    cost = training_cost(model_dirs)
    with atomic_output(outputs["table"]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    text = summary_markdown(table, cost, epsilon, list(seed_files), studies)
    with atomic_output(outputs["summary"]) as tmp:
        Path(tmp).write_text(text)
    return table
