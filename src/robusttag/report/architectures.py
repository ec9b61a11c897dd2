"""The run's ``summary.md`` with several architectures: each one's numbers side by side and their differences."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.comparison import SHIFTED_MISTAG, architecture_table, training_cost
from ..analysis.seeds import SIGNIFICANCE
from ..config import ordered_models
from ..io import atomic_output


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
