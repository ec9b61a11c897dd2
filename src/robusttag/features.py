"""The one declaration of the dataset's fields and of the 184 model inputs.

Everything downstream (readers, writers, the synthetic generator,
preprocessing, attack exclusions, plots) takes names, order, groups, integer
flags and default rules from here; nothing else hard-codes a position.

Two layers are declared:

* the *raw* fields, named and ordered exactly as in one line of the Jet Flavor
  Dataset (``../shared/reference/jet-flavor-dataset.md``): 17 jet-level
  values and, per track, 28 values in four groups (helix, covariance, weight,
  vertex);
* the *model inputs*, in one of two layouts (:class:`InputLayout`):

  - ``flat`` (the paper's DNN): 16 jet-level features plus 28 features for
    each of the first ``N_TRACK_SLOTS`` tracks, variable-major (column = 16 +
    field * 6 + slot), named ``jet_pt`` ... and ``trk0_d0`` ...
    ``trk5_vertex_energy_fraction``; every column scaled on its own;
  - ``sequence`` (the set-based taggers): the same 16 jet-level features, then
    up to ``max_tracks`` tracks, track-major (column = 16 + slot * 29 + field),
    each the 28 track fields and ``present``, the padding mask (1 for a track,
    0 for padding, never scaled and never moved by an attack). A track field is
    scaled with one mean and width for every slot, so that a model which treats
    the tracks as a set sees the same numbers for the same track in any slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import ConfigError

# --------------------------------------------------------------------------
# Raw fields, in file order
# --------------------------------------------------------------------------

JET_KINEMATICS: tuple[str, ...] = ("jet_pt", "jet_eta")
FLAVOR = "flavor"
JET_TRACKING: tuple[str, ...] = (
    "track_2_d0_significance",
    "track_3_d0_significance",
    "track_2_z0_significance",
    "track_3_z0_significance",
    "n_tracks_over_d0_threshold",
    "jet_prob",
    "jet_width_eta",
    "jet_width_phi",
)
JET_VERTEX: tuple[str, ...] = (
    "vertex_significance",
    "n_secondary_vertices",
    "n_secondary_vertex_tracks",
    "delta_r_vertex",
    "vertex_mass",
    "vertex_energy_fraction",
)
#: The 17 jet-level values of a line: [jet_pt, jet_eta, flavor, [8], [6], ...].
RAW_JET_FIELDS: tuple[str, ...] = (*JET_KINEMATICS, FLAVOR, *JET_TRACKING, *JET_VERTEX)

TRACK_HELIX: tuple[str, ...] = ("d0", "z0", "phi", "theta", "qoverp")
TRACK_COVARIANCE: tuple[str, ...] = (
    "d0d0",
    "z0d0",
    "z0z0",
    "phid0",
    "phiz0",
    "phiphi",
    "thetad0",
    "thetaz0",
    "thetaphi",
    "thetatheta",
    "qoverpd0",
    "qoverpz0",
    "qoverpphi",
    "qoverptheta",
    "qoverpqoverp",
)
TRACK_WEIGHT: tuple[str, ...] = ("weight",)
TRACK_VERTEX: tuple[str, ...] = (
    "vertex_mass",
    "vertex_displacement",
    "vertex_delta_eta_jet",
    "vertex_delta_phi_jet",
    "vertex_displacement_significance",
    "vertex_n_tracks",
    "vertex_energy_fraction",
)
#: The four sub-lists of one track, in file order.
TRACK_GROUPS: tuple[tuple[str, ...], ...] = (TRACK_HELIX, TRACK_COVARIANCE, TRACK_WEIGHT, TRACK_VERTEX)
#: The 28 values of one track, in file order.
TRACK_FIELDS: tuple[str, ...] = tuple(name for group in TRACK_GROUPS for name in group)

#: Diagonal entries of the helix covariance (variances, always > 0).
COVARIANCE_DIAGONAL: frozenset[str] = frozenset({"d0d0", "z0z0", "phiphi", "thetatheta", "qoverpqoverp"})


def raw_track_column(field: str) -> str:
    """Name of the list column holding one track field in the raw Parquet table."""
    return f"track_{field}"


#: Flavour codes of the file and the training labels of the paper's code.
FLAVOR_CODES: dict[int, str] = {5: "b", 4: "c", 0: "light"}
LABELS: dict[str, int] = {"b": 0, "c": 1, "light": 2}
CLASS_NAMES: tuple[str, ...] = ("b", "c", "light")

#: Primary-vertex tracks carry the pion mass as their "vertex mass".
PION_MASS_GEV = 0.13957

# --------------------------------------------------------------------------
# Model inputs
# --------------------------------------------------------------------------

N_TRACK_SLOTS = 6

#: The sequence layout's per-track padding mask: 1.0 for a track of the jet, 0.0 for padding.
PRESENT = "present"
#: The per-track columns of the sequence layout, in order within a track.
SEQUENCE_TRACK_FIELDS: tuple[str, ...] = (*TRACK_FIELDS, PRESENT)
LAYOUTS: tuple[str, ...] = ("flat", "sequence")
#: The sequence layout's default number of tracks (``preprocess.max_tracks``).
MAX_TRACKS = 25

INTEGER_FIELDS: frozenset[str] = frozenset(
    {"n_tracks_over_d0_threshold", "n_secondary_vertices", "n_secondary_vertex_tracks", "vertex_n_tracks"}
)


@dataclass(frozen=True)
class Fixed:
    """Default is a constant chosen below every genuine value of the column."""

    value: float


@dataclass(frozen=True)
class BelowMinimum:
    """Default is the column's smallest genuine training value minus a step.

    ``step`` is absolute when given; ``None`` means 1e-3 of the column's
    genuine range (for the tiny off-diagonal covariances whose scale varies).
    """

    step: float | None = None


DefaultRule = Fixed | BelowMinimum


@dataclass(frozen=True)
class Feature:
    """One model input column."""

    name: str
    group: str
    source: str  #: raw jet field, or raw track field for track inputs (or PRESENT)
    slot: int | None  #: track slot (0 = first after ordering), None for jet-level inputs
    is_integer: bool
    default: DefaultRule
    scaled: bool = True  #: standardised with the training statistics (all but the padding mask)

    @property
    def level(self) -> Literal["jet", "track"]:
        return "jet" if self.slot is None else "track"


# The paper's code defaults (reference note, "Defaults"): jet-level constants.
_JET_DEFAULTS: dict[str, DefaultRule] = {
    "jet_pt": Fixed(0.0),
    "jet_eta": Fixed(-3.0),
    "track_2_d0_significance": Fixed(0.0),
    "track_3_d0_significance": Fixed(0.0),
    "track_2_z0_significance": Fixed(0.0),
    "track_3_z0_significance": Fixed(0.0),
    "n_tracks_over_d0_threshold": Fixed(-0.001),
    "jet_prob": Fixed(-0.001),
    "jet_width_eta": Fixed(0.0),
    "jet_width_phi": Fixed(0.0),
    **{name: Fixed(0.0) for name in JET_VERTEX},
}


def _track_default(field: str) -> DefaultRule:
    if field in ("d0", "z0", "phi", "theta", "qoverp", "vertex_delta_eta_jet", "vertex_delta_phi_jet"):
        return BelowMinimum(step=0.001)
    if field in COVARIANCE_DIAGONAL or field in ("vertex_mass", "vertex_n_tracks", "vertex_energy_fraction"):
        return Fixed(0.0)
    if field == "weight":  # the paper's code used 0, but a fit weight can be exactly 0: stay below
        return Fixed(-0.001)
    if field in TRACK_COVARIANCE:  # off-diagonal: may be negative, scale varies by entry
        return BelowMinimum(step=None)
    if field in ("vertex_displacement", "vertex_displacement_significance"):
        return Fixed(-0.001)
    raise KeyError(field)


def _group_of_jet_field(name: str) -> str:
    if name in JET_KINEMATICS:
        return "jet_kinematics"
    return "jet_tracking" if name in JET_TRACKING else "jet_vertex"


def _group_of_track_field(field: str) -> str:
    for group_name, group in zip(("track_helix", "track_covariance", "track_weight", "track_vertex"), TRACK_GROUPS):
        if field in group:
            return group_name
    raise KeyError(field)


def _jet_features() -> list[Feature]:
    return [
        Feature(name, _group_of_jet_field(name), name, None, name in INTEGER_FIELDS, _JET_DEFAULTS[name])
        for name in (*JET_KINEMATICS, *JET_TRACKING, *JET_VERTEX)
    ]


def _track_feature(field: str, slot: int) -> Feature:
    """The input of a track field in a slot (the sequence layout's PRESENT: the padding mask, never scaled)."""
    if field == PRESENT:
        return Feature(f"trk{slot}_{PRESENT}", "track_padding", PRESENT, slot, True, Fixed(0.0), scaled=False)
    return Feature(
        f"trk{slot}_{field}", _group_of_track_field(field), field, slot, field in INTEGER_FIELDS, _track_default(field)
    )


def _build_inputs(n_slots: int) -> tuple[Feature, ...]:
    """The flat layout: variable-major."""
    return tuple(_jet_features() + [_track_feature(field, slot) for field in TRACK_FIELDS for slot in range(n_slots)])


def input_features(n_slots: int = N_TRACK_SLOTS) -> tuple[Feature, ...]:
    """The model inputs for ``n_slots`` track slots (paper: 6, giving 184).

    Raises
    ------
    ConfigError
        When ``n_slots`` is below 1.
    """
    if n_slots < 1:
        raise ConfigError(f"the number of track slots must be at least 1, got {n_slots}")
    return _build_inputs(n_slots)


#: The paper's 184 inputs.
INPUTS: tuple[Feature, ...] = input_features()
INPUT_NAMES: tuple[str, ...] = tuple(f.name for f in INPUTS)
N_INPUTS = len(INPUTS)


def sequence_features(max_tracks: int = MAX_TRACKS) -> tuple[Feature, ...]:
    """The model inputs of the sequence layout: the jet-level features, then ``max_tracks``
    tracks of :data:`SEQUENCE_TRACK_FIELDS` each, track-major.

    Raises
    ------
    ConfigError
        When ``max_tracks`` is below 1.
    """
    if max_tracks < 1:
        raise ConfigError(f"preprocess.max_tracks must be at least 1, got {max_tracks}")
    tracks = [_track_feature(field, slot) for slot in range(max_tracks) for field in SEQUENCE_TRACK_FIELDS]
    return tuple(_jet_features() + tracks)


def layout_features(layout: str, n_tracks: int) -> tuple[Feature, ...]:
    """The inputs of a layout: ``flat`` with ``n_tracks`` slots, or ``sequence`` with ``n_tracks`` tracks.

    Raises
    ------
    ConfigError
        On an unknown layout or fewer than one track.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"input layout '{layout}' is unknown; choose from {LAYOUTS}")
    return input_features(n_tracks) if layout == "flat" else sequence_features(n_tracks)


@dataclass(frozen=True)
class InputLayout:
    """How a model reads its input row: which columns are the jet's and which each track's.

    ``flat``: one vector, every column an input of its own (the DNN). ``sequence``:
    ``n_jet_features`` jet-level columns, then ``n_tracks`` blocks of
    ``n_track_fields`` columns, the last of each block the padding mask (PRESENT).
    """

    kind: str = "flat"
    n_inputs: int = N_INPUTS
    n_jet_features: int = len(JET_KINEMATICS) + len(JET_TRACKING) + len(JET_VERTEX)
    n_tracks: int = N_TRACK_SLOTS
    n_track_fields: int = len(TRACK_FIELDS)

    def __post_init__(self) -> None:
        if self.kind not in LAYOUTS:
            raise ConfigError(f"input layout '{self.kind}' is unknown; choose from {LAYOUTS}")
        if self.kind == "sequence" and self.n_inputs != self.n_jet_features + self.n_tracks * self.n_track_fields:
            raise ConfigError(f"a sequence layout of {self} does not add up to its {self.n_inputs} inputs")

    @classmethod
    def of(cls, features: tuple[Feature, ...], kind: str) -> InputLayout:
        """The layout of a list of inputs (:func:`layout_features`)."""
        n_jet = sum(f.slot is None for f in features)
        n_tracks = 1 + max((f.slot for f in features if f.slot is not None), default=-1)
        n_fields = (len(features) - n_jet) // max(n_tracks, 1)
        return cls(kind, len(features), n_jet, n_tracks, n_fields)

    @classmethod
    def from_summary(cls, summary: dict) -> InputLayout:
        """The layout of the inputs of ``preprocessing.json`` (summaries without one are flat)."""
        stored = summary.get("layout")
        if stored is None:
            return cls("flat", len(summary["feature_order"]))
        return cls(**stored)


def default_column(feature_name: str) -> str:
    """Name of the boolean "is default" column of an input in the preprocessed tables."""
    return f"default_{feature_name}"


# --------------------------------------------------------------------------
# Axis labels (figures)
# --------------------------------------------------------------------------

#: Axis labels of the jet-level inputs a flavour physicist will look for first.
_FEATURE_LABELS: dict[str, str] = {
    "jet_pt": r"Jet $p_\mathrm{T}$ [GeV]",
    "jet_eta": r"Jet $\eta$",
    "track_2_d0_significance": r"Track 2 $d_0$ significance",
    "track_3_d0_significance": r"Track 3 $d_0$ significance",
    "track_2_z0_significance": r"Track 2 $z_0$ significance",
    "track_3_z0_significance": r"Track 3 $z_0$ significance",
    "n_tracks_over_d0_threshold": r"Tracks over $d_0$ threshold",
    "jet_prob": "Jet probability",
    "jet_width_eta": r"Jet width in $\eta$",
    "jet_width_phi": r"Jet width in $\phi$",
    "vertex_significance": "Secondary vertex significance",
    "n_secondary_vertices": "Secondary vertices",
    "n_secondary_vertex_tracks": "Secondary vertex tracks",
    "delta_r_vertex": r"$\Delta R$(vertex, jet)",
    "vertex_mass": "Secondary vertex mass [GeV]",
    "vertex_energy_fraction": "Secondary vertex energy fraction",
}
#: Axis labels of the per-track fields (the others are labelled by their name).
_TRACK_FIELD_LABELS: dict[str, str] = {
    "d0": r"$d_0$ [mm]",
    "z0": r"$z_0$ [mm]",
    "phi": r"$\Delta\phi$ to jet",
    "theta": r"$\Delta\theta$ to jet",
    "qoverp": r"$q/p$ [1/GeV]",
    "d0_significance": r"$d_0$ significance",
    "z0_significance": r"$z_0$ significance",
    "weight": "vertex-fit weight",
    "vertex_mass": "vertex mass [GeV]",
    "vertex_displacement": "vertex displacement [mm]",
    "vertex_displacement_significance": "vertex displacement significance",
    "vertex_n_tracks": "vertex tracks",
    "vertex_energy_fraction": "vertex energy fraction",
}
#: A per-slot track input: "trk0_d0" (the model inputs' names) or "track_0_d0"; any slot number.
_TRACK_SLOT = re.compile(r"^(?:trk|track_)(\d+)_(.+)$")


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, ..."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def feature_label(name: str) -> str:
    """Give the axis label of a feature column.

    Parameters
    ----------
    name : str
        A jet-level input (``jet_pt``), or a per-slot track input of any slot
        (``trk3_d0`` or ``track_3_d0``; slot 0 is the first track).

    Returns
    -------
    str
        The label (Matplotlib mathtext), e.g. ``"4th track $d_0$ [mm]"`` for
        ``trk3_d0``; a track field without a label of its own keeps its name
        (``"1st track d0d0"``); an unknown name is returned unchanged.
    """
    if name in _FEATURE_LABELS:
        return _FEATURE_LABELS[name]
    match = _TRACK_SLOT.match(name)
    if match:
        slot, field = int(match.group(1)), match.group(2)
        return f"{_ordinal(slot + 1).capitalize()} track {_TRACK_FIELD_LABELS.get(field, field)}"
    return name
