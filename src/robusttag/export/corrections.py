"""Scale factors as analyses consume them: a correctionlib file (schema v2) per study.

Per selected checkpoint and discriminator, a "tagger" ``<model>_seed<seed>_<discriminator>`` with two
corrections, in the layout of the CMS b-tagging group's fixed working points:

- ``<tagger>_wp_values``: working point -> cut on the discriminant (fixed on raw validation jets);
- ``<tagger>``: the scale factor by (systematic, working_point, flavor, abseta, pt), flavor the hadron
  flavour (5 b, 4 c, 0 light), the bins of ``evaluation.scale_factor_pt_bins`` x ``scale_factor_abs_eta_bins``,
  clamped outside them. ``central`` is 1: the simulation is its own reference. The systematics: each white-box
  attack's shift, FGSM and the worst attack at each eps of the per-bin table, as a symmetric envelope
  (``fgsm_eps<eps>_up``/``_down`` = 1 +- |SF - 1|, ``worst_attack_eps<eps>_up``/``_down`` with the largest
  |SF - 1| over the attacks, bin by bin), and every shifted sample's data/simulation SF under its own name.

A bin where a scale factor is undefined (no tagged jet of the flavour in the raw simulation of that bin) takes
the working point's SF over all bins, and 1 where that is undefined too: a correction cannot say "unmeasured".
Torch-free: it reads the tables only.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable

import correctionlib.schemav2 as cs
import numpy as np
import pandas as pd

from ..analysis.tables import white_box
from ..analysis.working_points import OTHER_FLAVOUR
from ..errors import ResultsError
from ..features import LABELS
from ..io import atomic_output
from ..metrics import DISCRIMINATORS

#: the hadron flavour (PDG code of the heaviest hadron's quark, 0 light) of each label
HADRON_FLAVOUR = {LABELS["b"]: 5, LABELS["c"]: 4, LABELS["light"]: 0}
#: a working point's name by its target mistag rate: the CMS names where they apply, else ``mistag_<rate>``
WORKING_POINT_NAMES = {0.1: "L", 0.01: "M", 0.001: "T"}
_KEYS = ["model", "seed", "epoch", "discriminator", "mistag_target"]
_BIN = ["abs_eta_low", "abs_eta_high", "pt_low", "pt_high"]
_SF_COLUMNS = ("sf_efficiency", "sf_mistag", "sf_other")  #: the signal's, the background's, the other flavour's


def working_point_name(mistag: float) -> str:
    """``L``, ``M``, ``T`` for 10 %, 1 %, 0.1 % mistag, else ``mistag_<rate>`` (e.g. ``mistag_0.05``)."""
    for rate, name in WORKING_POINT_NAMES.items():
        if np.isclose(mistag, rate):
            return name
    return f"mistag_{mistag:g}"


def tagger_name(model: str, seed: int, discriminator: str) -> str:
    """A checkpoint's discriminator as the file names it, e.g. ``nominal_seed1_BvsL``."""
    return f"{model}_seed{seed}_{discriminator}"


def flavours(discriminator: str) -> tuple[int, int, int]:
    """The hadron flavours of a discriminator's SF columns (:data:`_SF_COLUMNS`): signal, background, other."""
    signal, background = DISCRIMINATORS[discriminator]
    return tuple(HADRON_FLAVOUR[label] for label in (signal, background, OTHER_FLAVOUR[discriminator]))


def _edges(per_bin: pd.DataFrame, low: str, high: str) -> list[float]:
    """The bin edges of one axis of the per-bin table.

    Raises
    ------
    ResultsError
        When its bins do not follow one another.
    """
    lows, highs = sorted(per_bin[low].unique()), sorted(per_bin[high].unique())
    if lows[1:] != highs[:-1]:
        raise ResultsError(f"the per-bin table's {low} and {high} do not form adjacent bins: {lows}, {highs}")
    return [float(x) for x in [*lows, highs[-1]]]


class _Grid:
    """The (|eta|, pT) bins of the per-bin tables, |eta| the slower index (as correctionlib's MultiBinning)."""

    def __init__(self, per_bin: pd.DataFrame) -> None:
        self.eta_edges = _edges(per_bin, "abs_eta_low", "abs_eta_high")
        self.pt_edges = _edges(per_bin, "pt_low", "pt_high")

    def filled(self, rows: pd.DataFrame, column: str, whole: float) -> np.ndarray:
        """``column`` of one curve's bin rows on the grid; a bin without a value takes ``whole``, else 1."""
        grid = np.full((len(self.eta_edges) - 1, len(self.pt_edges) - 1), np.nan)
        eta = np.searchsorted(self.eta_edges, rows["abs_eta_low"].to_numpy(float))
        pt = np.searchsorted(self.pt_edges, rows["pt_low"].to_numpy(float))
        grid[eta, pt] = rows[column].to_numpy(float)
        return np.where(np.isfinite(grid), grid, whole if np.isfinite(whole) else 1.0)


def _curves(bins: pd.DataFrame, points: pd.DataFrame, by: str):
    """(name, target mistag, bin rows, the working point's row or None) of every curve of one tagger's tables."""
    for (name, mistag), rows in bins.groupby([by, "mistag_target"], observed=True):
        point = points[(points[by] == name) & np.isclose(points["mistag_target"], mistag)]
        yield name, mistag, rows, point.iloc[0] if len(point) else None


def _whole(point, column: str) -> float:
    return np.nan if point is None else float(point[column])


def _attack_systematics(grid: _Grid, bins: pd.DataFrame, points: pd.DataFrame, disc: str) -> dict:
    """{systematic: {(working point, flavour): SF grid}} of FGSM and the worst attack at each eps, as
    1 +- |SF - 1| (the worst: the largest |SF - 1| over the white-box attacks, bin by bin).
    """
    out: dict[str, dict] = {}
    for eps, at_eps in bins.groupby("epsilon"):
        shifts: dict[tuple, dict[str, np.ndarray]] = {}
        for attack, mistag, rows, point in _curves(at_eps, points[np.isclose(points["epsilon"], eps)], "attack"):
            for column, flavour in zip(_SF_COLUMNS, flavours(disc)):
                sf = grid.filled(rows, column, _whole(point, column))
                shifts.setdefault((working_point_name(mistag), flavour), {})[attack] = np.abs(sf - 1)
        for key, by_attack in shifts.items():
            envelopes = {"worst_attack": np.max(list(by_attack.values()), axis=0)}
            if "fgsm" in by_attack:
                envelopes["fgsm"] = by_attack["fgsm"]
            for prefix, shift in envelopes.items():
                out.setdefault(f"{prefix}_eps{eps:g}_up", {})[key] = 1 + shift
                out.setdefault(f"{prefix}_eps{eps:g}_down", {})[key] = 1 - shift
    return out


def _sample_systematics(grid: _Grid, bins: pd.DataFrame, points: pd.DataFrame, disc: str) -> dict:
    """{sample: {(working point, flavour): SF grid}}: each shifted sample's data/simulation SF."""
    out: dict[str, dict] = {}
    for sample, mistag, rows, point in _curves(bins, points, "sample"):
        for column, flavour in zip(_SF_COLUMNS, flavours(disc)):
            out.setdefault(sample, {})[working_point_name(mistag), flavour] = grid.filled(
                rows, column, _whole(point, column)
            )
    return out


def _binned(grid: _Grid, values: np.ndarray) -> cs.MultiBinning:
    return cs.MultiBinning(
        nodetype="multibinning",
        inputs=["abseta", "pt"],
        edges=[grid.eta_edges, grid.pt_edges],
        content=[float(v) for v in values.ravel()],
        flow="clamp",
    )


def _category(variable: str, items: Iterable[tuple], value) -> cs.Category:
    return cs.Category(
        nodetype="category", input=variable, content=[cs.CategoryItem(key=key, value=value(key)) for key in items]
    )


def _scale_factor_correction(tagger: str, grid: _Grid, systematics: dict[str, dict]) -> cs.Correction:
    """The SF by (systematic, working_point, flavor, abseta, pt), ``central`` 1 everywhere."""
    keys = sorted({key for by_key in systematics.values() for key in by_key})
    ones = np.ones((len(grid.eta_edges) - 1, len(grid.pt_edges) - 1))
    systematics = {"central": dict.fromkeys(keys, ones), **systematics}
    working_points = sorted({wp for wp, _ in keys})
    flavours_of = {wp: sorted({f for w, f in keys if w == wp}, reverse=True) for wp in working_points}

    def by_working_point(syst):
        return _category(
            "working_point",
            working_points,
            lambda wp: _category("flavor", flavours_of[wp], lambda f: _binned(grid, systematics[syst][wp, f])),
        )

    return cs.Correction(
        name=tagger,
        description=(
            f"robusttag fixed-cut scale factors of {tagger}: central 1 (the simulation is its own reference); "
            "attack-induced shifts as symmetric envelopes (<attack>_eps<eps>_up/down = 1 +- |SF - 1|); each "
            "shifted sample's data/simulation SF under its name. A bin without a measured SF takes the working "
            "point's SF over all bins (1 where that is undefined too)."
        ),
        version=1,
        inputs=[
            cs.Variable(name="systematic", type="string", description="central, an attack's _up/_down, a sample"),
            cs.Variable(name="working_point", type="string", description="L, M, T: 10 %, 1 %, 0.1 % mistag"),
            cs.Variable(name="flavor", type="int", description="hadron flavour: 5 b, 4 c, 0 light"),
            cs.Variable(name="abseta", type="real", description="|eta| of the jet"),
            cs.Variable(name="pt", type="real", description="pT of the jet [GeV]"),
        ],
        output=cs.Variable(name="weight", type="real", description="scale factor data/simulation"),
        data=_category("systematic", list(systematics), by_working_point),
    )


def _cut_correction(tagger: str, cuts: dict[str, float]) -> cs.Correction:
    """Working point -> the cut on the discriminant."""
    return cs.Correction(
        name=f"{tagger}_wp_values",
        description=f"robusttag working points of {tagger}: the cut on the discriminant p_s / (p_s + p_bkg), fixed "
        "on raw validation jets at the working point's mistag rate",
        version=1,
        inputs=[cs.Variable(name="working_point", type="string", description="L, M, T: 10 %, 1 %, 0.1 % mistag")],
        output=cs.Variable(name="cut", type="real", description="tagged when the discriminant is at least this"),
        data=_category("working_point", sorted(cuts), lambda wp: float(cuts[wp])),
    )


def correction_set(
    working_points: pd.DataFrame,
    per_bin: pd.DataFrame,
    shifted_working_points: pd.DataFrame | None = None,
    shifted_per_bin: pd.DataFrame | None = None,
) -> cs.CorrectionSet:
    """The corrections of every checkpoint and discriminator of the per-bin table (the selected checkpoints).

    ``working_points``, ``per_bin``: the attacks' tables (``working_points.csv``, ``scale_factors.csv``);
    ``shifted_*``: the shifted samples' (their selected checkpoints' rows), or None.

    Raises
    ------
    ResultsError
        When the per-bin table has no raw rows or its bins are not adjacent.
    """
    raw = per_bin[per_bin["attack"] == "raw"]
    if raw.empty:
        raise ResultsError("the per-bin scale-factor table has no raw rows: no working point to export")
    grid, corrections = _Grid(raw), []
    attacked, attacked_points = white_box(per_bin), white_box(working_points)
    if shifted_working_points is not None and "selected" in shifted_working_points:
        shifted_working_points = shifted_working_points[shifted_working_points["selected"].astype(bool)]
    for (model, seed, epoch, disc), _ in raw.groupby(["model", "seed", "epoch", "discriminator"]):
        tagger = tagger_name(model, seed, disc)
        mine = _selector(model, seed, epoch, disc)
        cuts = working_points[mine(working_points) & (working_points["attack"] == "raw")]
        corrections.append(
            _cut_correction(tagger, {working_point_name(m): c for m, c in zip(cuts["mistag_target"], cuts["cut"])})
        )
        systematics = _attack_systematics(grid, attacked[mine(attacked)], attacked_points[mine(attacked_points)], disc)
        if shifted_per_bin is not None and shifted_working_points is not None:
            shifted, shifted_points = shifted_per_bin[mine(shifted_per_bin)], shifted_working_points
            systematics |= _sample_systematics(grid, shifted, shifted_points[mine(shifted_points)], disc)
        corrections.append(_scale_factor_correction(tagger, grid, systematics))
    return cs.CorrectionSet(
        schema_version=2,
        description="robusttag: fixed-cut working points and their scale factors, per trained model and discriminator",
        corrections=corrections,
    )


def _selector(model: str, seed: int, epoch: int, disc: str):
    def mine(table: pd.DataFrame) -> pd.Series:
        return (
            (table["model"] == model)
            & (table["seed"] == seed)
            & (table["epoch"] == epoch)
            & (table["discriminator"] == disc)
        )

    return mine


def write_corrections(
    working_points: str | os.PathLike,
    per_bin: str | os.PathLike,
    output: str | os.PathLike,
    shifted_working_points: str | os.PathLike | None = None,
    shifted_per_bin: str | os.PathLike | None = None,
) -> None:
    """Read the tables, write the correction set (JSON; gzipped when ``output`` ends in ``.gz``)."""
    paths = (working_points, per_bin, shifted_working_points, shifted_per_bin)
    corrections = correction_set(*(None if path is None else pd.read_csv(path) for path in paths))
    text = corrections.model_dump_json(exclude_unset=True)
    with atomic_output(output) as tmp:
        if str(output).endswith(".gz"):
            with gzip.open(tmp, "wt") as handle:
                handle.write(text)
        else:
            tmp.write_text(text)
