"""What every figure shares: style, labels, saving, table checks and selections, colours.

The style context, the experiment label, atomic PNG + PDF saving, the checks
and selections of the results tables, the models' colours and markers.

Every error raised here is a :class:`~robusttag.errors.ResultsError` naming
what was asked for and what the table holds.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..analysis.tables import reference_rows
from ..config import NOMINAL, ordered_models
from ..errors import ResultsError
from ..features import CLASS_NAMES
from ..metrics import DISCRIMINATORS

try:  # HEP styling is optional: plots still work (plainer) without mplhep
    import mplhep as _hep
except ImportError:  # pragma: no cover - mplhep is installed in the project venv
    _hep = None

_DPI = 150
_EXP = "robusttag"
_LLABEL = "Simulation"

#: The model of Figs. 5, 6 and 7.
_NOMINAL = NOMINAL


def _studied_model(models) -> str:
    """The model Figs. 5, 6 and 7 show: the nominal one, or an audit's only model where there is none."""
    models = ordered_models(models)
    return _NOMINAL if _NOMINAL in models or not models else models[0]


_FLAVOUR_COLOURS: dict[str, str] = {"b": "#d62728", "c": "#2ca02c", "light": "#1f77b4"}
_MODEL_COLOURS: dict[str, str] = {"nominal": "#1f77b4", "adversarial": "#ff7f0e"}
_MODEL_MARKERS: dict[str, str] = {"nominal": "o", "adversarial": "s"}
#: Open markers for the nominal model, filled for the others (paper Fig. 9).
_MODEL_FILLED: dict[str, bool] = {"nominal": False, "adversarial": True}
#: Line style of each model's attacked curve (paper Fig. 8: dashed / dash-dotted).
_MODEL_ATTACK_STYLE: dict[str, str] = {"nominal": "--", "adversarial": "-."}

_AUC_COLUMNS = ("model", "epoch", "attack", "attack_source", "epsilon", "discriminator", "auc")


# --------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------


def _eps_text(eps: float) -> str:
    return rf"$\epsilon = {eps:g}$"


def _cap_text(restrict_impact: float | None) -> str:
    """Write the cap of the FGSM samples as a label: "cap 25 %" for 0.25, "no cap" for None."""
    if restrict_impact is None:
        return "no cap"
    return f"cap {float(restrict_impact) * 100:g} %"


def _flavour(label: int) -> str:
    """Flavour name of a training label (0 -> "b")."""
    return CLASS_NAMES[label]


def _discriminator_flavours(discriminator: str) -> tuple[str, str]:
    """(signal, background) flavour names of a discriminator of :data:`robusttag.metrics.DISCRIMINATORS`."""
    signal, background = DISCRIMINATORS[discriminator]
    return _flavour(signal), _flavour(background)


# --------------------------------------------------------------------------
# Figure plumbing
# --------------------------------------------------------------------------


@contextlib.contextmanager
def _style():
    """Apply the HEP style (matplotlib's default without mplhep).

    A figure opened inside and left open by an error is closed on the way out.
    """
    before = set(plt.get_fignums())
    style = _hep.style.CMS if _hep is not None else "default"
    try:
        with plt.style.context(style):
            yield
    except BaseException:
        for num in set(plt.get_fignums()) - before:
            plt.close(num)
        raise


def _label(ax, rlabel: str = "") -> None:
    """Neutral experiment label above the axes: "robusttag Simulation".

    Plain text (bold name, italic qualifier) rather than ``mplhep.label``: it
    claims no experiment's data, and avoids the extra draw passes mplhep uses
    to place its label pieces.
    """
    ax.text(
        0.0,
        1.005,
        rf"$\bf{{{_EXP}}}$ $\it{{{_LLABEL}}}$",
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize="large",
    )
    if rlabel:
        ax.text(1.0, 1.005, rlabel, transform=ax.transAxes, ha="right", va="bottom", fontsize="medium")


def _save(fig, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<path>.png`` and ``<path>.pdf`` atomically; always close ``fig``."""
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for ext in ("png", "pdf"):
            final = base.parent / f"{base.name}.{ext}"
            # Same directory, so os.replace is atomic; a plain new file gets the usual permissions.
            tmp = base.parent / f".{base.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.{ext}"
            try:
                # No creation date in the PDF, so identical inputs give identical files.
                metadata = {"CreationDate": None} if ext == "pdf" else None
                fig.savefig(tmp, format=ext, dpi=_DPI, metadata=metadata)
                os.replace(tmp, final)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            written.append(final)
    finally:
        plt.close(fig)
    return written[0], written[1]


# --------------------------------------------------------------------------
# Input files of the pipeline
# --------------------------------------------------------------------------


def _input(inputs: Sequence[str], suffix: str, what: str) -> str:
    """Pick the one input file ending in ``suffix``.

    Raises
    ------
    ResultsError
        When none, or more than one, of the inputs ends in ``suffix``.
    """
    found = [str(p) for p in inputs if str(p).endswith(suffix)]
    if len(found) != 1:
        raise ResultsError(f"expected one {what} ('*{suffix}') among the inputs, got {list(map(str, inputs))}")
    return found[0]


def _read_auc(inputs: Sequence[str]) -> pd.DataFrame:
    """The AUC table, the reference seed's rows (the one studied at every checkpoint)."""
    return reference_rows(pd.read_csv(_input(inputs, ".csv", "AUC table")))


# --------------------------------------------------------------------------
# Table checks and selections
# --------------------------------------------------------------------------


def _require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ResultsError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ResultsError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


def _eps_mask(series: pd.Series, eps: float) -> np.ndarray:
    return np.isclose(series.to_numpy(dtype=float), float(eps), rtol=1e-6, atol=1e-9)


def _available(values: Iterable) -> list:
    vals = pd.unique(pd.Series(list(values)))
    try:
        return sorted(vals.tolist())
    except TypeError:
        return vals.tolist()


def _as_bool(series: pd.Series) -> np.ndarray:
    """Read a flag column as booleans; missing values count as False."""
    return series.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _check_discriminators(discriminators: Sequence[str]) -> None:
    unknown = [d for d in discriminators if d not in DISCRIMINATORS]
    if unknown:
        raise ResultsError(f"unknown discriminator(s) {unknown}; choose from {list(DISCRIMINATORS)}")


def _check_model(df: pd.DataFrame, model: str, what: str) -> pd.DataFrame:
    sub = df[df["model"] == model]
    if sub.empty:
        raise ResultsError(f"{what} has no rows for model '{model}'; models present: {_available(df['model'])}")
    return sub


def _discriminator_rows(auc: pd.DataFrame, discriminator: str) -> pd.DataFrame:
    """Select the rows of the AUC table for one (known) discriminator.

    Raises
    ------
    ResultsError
        When the discriminator is unknown or has no rows in the table.
    """
    _check_discriminators([discriminator])
    table = auc[auc["discriminator"] == discriminator]
    if table.empty:
        raise ResultsError(
            f"auc table has no rows for discriminator '{discriminator}'; present: {_available(auc['discriminator'])}"
        )
    return table


def _selected_epoch(auc: pd.DataFrame, model: str) -> int:
    """Find the checkpoint the AUC table flags as ``model``'s selected one.

    Raises
    ------
    ResultsError
        When the model is absent, or the table flags no or several selected epochs for it.
    """
    rows = _check_model(auc, model, "auc table")
    epochs = _available(rows.loc[_as_bool(rows["selected"]), "epoch"])
    if len(epochs) != 1:
        raise ResultsError(f"auc table must flag exactly one selected epoch for model '{model}', found {epochs}")
    return int(epochs[0])


def _auc_value(
    auc: pd.DataFrame | None,
    *,
    model: str,
    epoch: int,
    discriminator: str,
    attack: str,
    source: str | None = None,
    epsilon: float | None = None,
) -> float | None:
    """Look up the stored AUC of one curve; None when no AUC table / row is given."""
    if auc is None:
        return None
    sel = auc[(auc["model"] == model) & (auc["epoch"] == int(epoch))]
    sel = sel[(sel["discriminator"] == discriminator) & (sel["attack"] == attack)]
    if attack != "raw":
        sel = sel[sel["attack_source"] == (model if source is None else source)]
        if epsilon is not None:
            sel = sel[_eps_mask(sel["epsilon"], epsilon)]
    if sel.empty:
        return None
    return float(sel["auc"].iloc[0])


# --------------------------------------------------------------------------
# Models and epsilons: colours, markers (the order: robusttag.config.ordered_models)
# --------------------------------------------------------------------------


def _model_colour(model: str, index: int) -> str:
    return _MODEL_COLOURS.get(model, f"C{(index + 2) % 10}")


def _model_marker(model: str, index: int) -> str:
    return _MODEL_MARKERS.get(model, "^D<>v"[index % 5])


def _model_filled(model: str) -> bool:
    return _MODEL_FILLED.get(model, True)


def _eps_colours(epsilons: Sequence[float]) -> dict[float, tuple]:
    cmap = plt.get_cmap("plasma")
    n = len(epsilons)
    return {eps: cmap(0.05 + 0.75 * (i / max(n - 1, 1))) for i, eps in enumerate(epsilons)}
