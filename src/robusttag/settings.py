"""Every setting of the pipeline, as typed dataclasses read from the config once.

One class per config section (``dataset``, ``preprocess``, ``training``,
``evaluation`` with its ``figures``), and for the evaluation one class per
kind of job (scoring, input samples, tables), each holding only the keys its
output depends on: a rule passes exactly those as params, so that Snakemake
reruns a job only when one of them changes. The dataclass defaults are the
embedded default run's (``config.yaml``) and the schema's
(``workflow/schemas/config.schema.yaml``); a test keeps the three equal.

This module imports neither torch nor matplotlib: Snakemake imports it when
it parses the workflow. The training-history readers live here for the same
reason (the DAG asks them which checkpoints exist).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .errors import ConfigError, ResultsError
from .features import CLASS_NAMES, LAYOUTS, MAX_TRACKS, Feature, InputLayout, layout_features

log = logging.getLogger(__name__)

NOMINAL = "nominal"
#: Every training mode, in the order tables and figures show them: nominal; FGSM adversarial training
#: (the paper's, named "adversarial"); PGD and NGM adversarial training.
MODES: tuple[str, ...] = (NOMINAL, "adversarial", "pgd", "ngm")
#: The default ``training.modes``: the paper's two.
DEFAULT_MODES: tuple[str, ...] = (NOMINAL, "adversarial")


def ordered_models(names) -> list[str]:
    """Model names in the order of MODES, any others after them, alphabetically."""
    names = set(names)
    return [m for m in MODES if m in names] + sorted(names - set(MODES))


TRACK_ORDERS: tuple[str, ...] = ("signed_d0_significance", "abs_d0_significance", "file")
SOURCES: tuple[str, ...] = ("synthetic", "uci", "root")
HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_auc_bvsl",
    "val_auc_cvsl",
    "selection_score",
    "lr",
    "seconds",
    "jets_per_s",
)
#: What checkpoint selection (and early stopping) minimises: the validation loss, as the paper,
#: or 1 - the mean of the validation BvsL and CvsL AUCs; either as a trailing mean over epochs.
SELECTION_METRICS: tuple[str, ...] = ("val_loss", "val_auc")


def _tuples(section: dict) -> dict:
    """Lists of a YAML section as tuples (frozen dataclasses hold tuples)."""
    return {key: tuple(value) if isinstance(value, list) else value for key, value in section.items()}


def _known(cls, section: dict, where: str) -> dict:
    """``section`` restricted to the fields of ``cls``; an unknown key is an error.

    Raises
    ------
    ConfigError
        On a key that is not a field of ``cls``, naming ``where``.
    """
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; choose from {sorted(names)}")
    return section


# ---------------------------------------------------------------------------
# dataset
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticSettings:
    n_jets: int = 200_000
    seed: int = 1
    difficulty: dict = field(default_factory=dict)  #: overrides of sources.synthetic.Difficulty


@dataclass(frozen=True)
class UciSettings:
    url: str = "http://mlphysics.ics.uci.edu/data/hb_jet_flavor_2016/dataset.json.gz"
    sha256: str | None = None  #: expected SHA-256 of the download; None skips the check


@dataclass(frozen=True)
class RootSettings:
    files: tuple[str, ...] = ()
    tree: str = "jets"


@dataclass(frozen=True)
class DatasetSettings:
    """The ``dataset`` section: where the jets come from."""

    source: str = "synthetic"
    synthetic: SyntheticSettings = field(default_factory=SyntheticSettings)
    uci: UciSettings = field(default_factory=UciSettings)
    root: RootSettings = field(default_factory=RootSettings)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"dataset.source '{self.source}' is unknown; choose from {SOURCES}")
        if self.source == "root" and not self.root.files:
            raise ConfigError("dataset.source is 'root' but dataset.root.files names no file")

    @classmethod
    def from_config(cls, section: dict) -> DatasetSettings:
        """From the config's ``dataset`` section.

        Raises
        ------
        ConfigError
            On an unknown key or source, or a ``root`` source without files.
        """
        values = dict(_known(cls, section, "dataset"))
        parts = {"synthetic": SyntheticSettings, "uci": UciSettings, "root": RootSettings}
        for name, part in parts.items():
            values[name] = part(**_tuples(_known(part, values.get(name, {}), f"dataset.{name}")))
        return cls(**values)


# ---------------------------------------------------------------------------
# preprocess
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PreprocessSettings:
    """The ``preprocess`` section (``layout`` is chosen by the architectures trained, the last three
    fields are fixed by the method: neither is configured).
    """

    n_tracks: int = 6  #: track slots of the flat layout
    max_tracks: int = MAX_TRACKS  #: tracks of the sequence layout
    layout: str = "flat"
    track_order: str = "signed_d0_significance"
    split: tuple[float, float, float] = (0.72, 0.08, 0.20)
    seed: int = 42
    weight_bins: tuple[int, int] = (50, 50)  #: (eta, pT)
    eta_range: tuple[float, float] = (-2.5, 2.5)
    pt_range_gev: tuple[float, float] = (20.0, 900.0)

    def __post_init__(self) -> None:
        if self.track_order not in TRACK_ORDERS:
            raise ConfigError(f"preprocess.track_order '{self.track_order}' is unknown; choose from {TRACK_ORDERS}")
        if self.n_tracks < 1 or self.max_tracks < 1:
            raise ConfigError(f"preprocess.n_tracks and max_tracks must be at least 1, got {self}")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"input layout '{self.layout}' is unknown; choose from {LAYOUTS}")
        if len(self.split) != 3 or not all(0 <= f <= 1 for f in self.split) or abs(sum(self.split) - 1.0) > 1e-9:
            raise ConfigError(f"preprocess.split must be three fractions summing to 1, got {list(self.split)}")

    @classmethod
    def from_config(cls, section: dict) -> PreprocessSettings:
        """From the config's ``preprocess`` section.

        Raises
        ------
        ConfigError
            On an unknown key, an unknown track order, or a split that is not three fractions summing to 1.
        """
        return cls(**_tuples(_known(cls, section, "preprocess")))

    def features(self) -> tuple[Feature, ...]:
        """The model inputs this preprocessing makes, in its layout."""
        return layout_features(self.layout, self.n_tracks if self.layout == "flat" else self.max_tracks)

    def input_names(self) -> tuple[str, ...]:
        """The names of the model inputs this preprocessing makes."""
        return tuple(feature.name for feature in self.features())


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------


#: The taggers (``training.model.architecture``) and the input layout each reads
#: (:mod:`robusttag.features`): the paper's DNN on the flat inputs; a deep set and a
#: particle-transformer-like encoder on the track sequence.
ARCHITECTURE_LAYOUTS: dict[str, str] = {"dnn": "flat", "deepsets": "sequence", "transformer": "sequence"}
ARCHITECTURES: tuple[str, ...] = tuple(ARCHITECTURE_LAYOUTS)
DNN = "dnn"


@dataclass(frozen=True)
class DeepSetsSettings:
    """``training.model.deepsets``: a network per track, masked sum and mean pooling, a jet-level head."""

    track_width: int = 64
    track_depth: int = 3  #: layers of the per-track network
    width: int = 100  #: the head's hidden width
    depth: int = 3  #: the head's hidden layers

    def __post_init__(self) -> None:
        if min(self.track_width, self.track_depth, self.width, self.depth) < 1:
            raise ConfigError(f"training.model.deepsets: every width and depth must be at least 1, got {self}")


@dataclass(frozen=True)
class TransformerSettings:
    """``training.model.transformer``: attention blocks over a class token and the tracks, then a head."""

    dim: int = 32  #: width of a track's embedding
    blocks: int = 2
    heads: int = 2  #: attention heads (of dim / heads = 16 features each)
    width: int = 100  #: the head's hidden width
    depth: int = 2  #: the head's hidden layers

    def __post_init__(self) -> None:
        if min(self.dim, self.blocks, self.heads, self.width, self.depth) < 1 or self.dim % self.heads:
            raise ConfigError(
                f"training.model.transformer: sizes must be at least 1 and dim a multiple of heads, got {self}"
            )


@dataclass(frozen=True)
class ModelSettings:
    """The network's shape; ``n_inputs`` and ``layout`` come from the data (``preprocessing.json``), not
    the config. ``width``, ``depth`` are the DNN's; ``dropout`` is every architecture's.
    """

    n_inputs: int = 184
    width: int = 100
    depth: int = 5  #: hidden layers
    dropout: float = 0.1
    n_classes: int = 3
    architecture: str = DNN
    deepsets: DeepSetsSettings = field(default_factory=DeepSetsSettings)
    transformer: TransformerSettings = field(default_factory=TransformerSettings)
    layout: InputLayout = field(default_factory=InputLayout)

    def __post_init__(self) -> None:
        if min(self.n_inputs, self.width, self.depth, self.n_classes) < 1:
            raise ConfigError(f"the model's inputs, width, depth and classes must be at least 1, got {self}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"training.model.dropout must be in [0, 1), got {self.dropout}")
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(
                f"training.model.architecture '{self.architecture}' is unknown; choose from {ARCHITECTURES}"
            )

    @classmethod
    def from_dict(cls, section: dict, where: str = "training.model") -> ModelSettings:
        """From a dict of its fields (the config's ``training.model`` of one architecture, or a
        checkpoint's ``asdict``), the nested sections as dicts.

        Raises
        ------
        ConfigError
            On an unknown key or a value out of range.
        """
        flat = dict(_known(cls, section, where))
        nested = {"deepsets": DeepSetsSettings, "transformer": TransformerSettings, "layout": InputLayout}
        for name, kind in nested.items():
            if isinstance(flat.get(name), dict):
                flat[name] = kind(**_known(kind, flat[name], f"{where}.{name}"))
        return cls(**flat)

    @property
    def input_layout(self) -> str:
        """The layout of inputs this architecture reads: ``flat`` or ``sequence``."""
        return ARCHITECTURE_LAYOUTS[self.architecture]


@dataclass(frozen=True)
class LossSettings:
    """What the loss (and so every input gradient of an attack) depends on."""

    focal_gamma: float = 25.0
    double_softmax: bool = False  #: paper-compatibility: softmax twice (the authors' code)


def selection_score(history: list[dict], metric: str, smoothing: int) -> float:
    """The quantity checkpoint selection minimises, at the last epoch of ``history``: the trailing mean
    over its last ``smoothing`` epochs (fewer at the start) of the validation loss, or of one minus the
    mean validation AUC of BvsL and CvsL. Trailing, so that early stopping can use it as it goes.
    """
    if metric == "val_loss":
        values = [row["val_loss"] for row in history[-smoothing:]]
    else:
        values = [1.0 - (row["val_auc_bvsl"] + row["val_auc_cvsl"]) / 2 for row in history[-smoothing:]]
    return sum(values) / len(values)


#: The config's ``training`` sections each mode reads beyond the common keys (the others change none of its
#: numbers, so a change there retrains no training of that mode).
MODE_SECTIONS: dict[str, tuple[str, ...]] = {
    NOMINAL: (),
    "adversarial": ("adversarial",),
    "pgd": ("adversarial", "pgd"),
    "ngm": ("adversarial", "ngm"),
}
#: The sections of MODE_SECTIONS, and the keys no single training reads.
_NOT_COMMON = ("adversarial", "pgd", "ngm", "seeds", "modes")


@dataclass(frozen=True)
class TrainingSettings:
    """The ``training`` section of the config, for one mode."""

    mode: str = "nominal"
    seed: int = 1
    device: str = "auto"
    lr: float = 1e-3
    lr_decay_epochs: float = 30.0  #: lr(epoch) = lr / (1 + epoch / lr_decay_epochs)
    batch_size: int = 4096
    max_epochs: int = 15
    patience: int = 10  #: epochs without a lower selection score before stopping
    selection_metric: str = "val_auc"  #: of SELECTION_METRICS; "val_loss" with smoothing 1 is the paper's rule
    selection_smoothing: int = 3  #: epochs of the trailing mean that selection and early stopping minimise
    focal_gamma: float = 25.0
    epsilon: float = 0.01  #: the attack's size in every attacking mode, standardised units
    attack_dropout: bool = True  #: craft the attack with dropout on, as the authors did
    clean_fraction: float = 0.0  #: weight of the clean batch's loss; the attacked batch's is 1 - this
    pgd_steps: int = 3
    pgd_step_size: float | None = None  #: fraction of epsilon per step; None: 2.5 / steps
    pgd_random_start: bool = True
    pgd_restrict_impact: float | None = None  #: raw-value cap of PGD training's box; None: no cap
    ngm_steps: int = 1
    ngm_step_size: float = 1.0
    ngm_norm: float = 2.0
    ngm_restrict_impact: float | None = None
    double_softmax: bool = False  #: paper-compatibility: softmax twice (authors' code)
    accumulate_attack_grad: bool = False  #: paper-compatibility: attack's gradients leak into the update
    model: ModelSettings = field(default_factory=ModelSettings)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"training mode '{self.mode}' is unknown; choose from {MODES}")
        if self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1:
            raise ConfigError("training.batch_size, max_epochs and patience must be at least 1")
        if self.selection_metric not in SELECTION_METRICS or self.selection_smoothing < 1:
            raise ConfigError(
                f"training.selection: metric must be one of {SELECTION_METRICS} and smoothing at least 1, "
                f"got {self.selection_metric!r} and {self.selection_smoothing}"
            )
        if self.lr <= 0 or self.lr_decay_epochs <= 0 or self.focal_gamma < 0 or self.epsilon < 0:
            raise ConfigError("training.lr and lr_decay_epochs must be positive, focal_gamma and epsilon >= 0")
        if not 0 <= self.clean_fraction < 1:
            raise ConfigError(f"training.adversarial.clean_fraction must be in [0, 1), got {self.clean_fraction}")
        if self.pgd_steps < 1 or self.ngm_steps < 1 or self.ngm_step_size <= 0 or self.ngm_norm < 1:
            raise ConfigError("training.pgd.steps and ngm.steps must be at least 1, ngm.step_size positive, norm >= 1")
        for name in ("pgd_step_size", "pgd_restrict_impact", "ngm_restrict_impact"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ConfigError(f"training.{name.replace('_', '.', 1)} must be positive or null")

    @classmethod
    def from_config(cls, section: dict, mode: str) -> TrainingSettings:
        """From the config's ``training`` section (nested as in config.yaml; its ``seeds`` give the
        reference seed) or a training rule's params (:func:`training_config`: one ``seed``).

        Raises
        ------
        ConfigError
            On an unknown key or mode, or a value out of range.
        """
        ignored = ("model", "compat", "selection", *_NOT_COMMON)
        flat = {k: v for k, v in section.items() if k not in ignored}
        flat.setdefault("seed", training_seeds(section)[0])  # the config's section: the reference seed
        flat.update(section.get("adversarial", {}))
        for name in ("pgd", "ngm"):
            flat.update({f"{name}_{k}": v for k, v in section.get(name, {}).items()})
        flat.update(section.get("compat", {}))
        flat.update({f"selection_{k}": v for k, v in section.get("selection", {}).items()})
        model_section = dict(section.get("model", {}))
        model_section["architecture"] = training_architectures(section)[0]  # the config's section: the first
        return cls(mode=mode, model=ModelSettings.from_dict(model_section), **_known(cls, flat, "training"))

    @property
    def attack_cap(self) -> float | None:
        """The raw-value cap of the training attack's box (PGD and NGM; FGSM training has none)."""
        return {"pgd": self.pgd_restrict_impact, "ngm": self.ngm_restrict_impact}.get(self.mode)

    @property
    def loss(self) -> LossSettings:
        return LossSettings(self.focal_gamma, self.double_softmax)

    def fingerprint(self, data_summary: str) -> str:
        """Hash of these settings and of the preprocessing that made the data."""
        text = json.dumps(asdict(self), sort_keys=True) + data_summary
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def training_config(section: dict, mode: str, seed: int, architecture: str = DNN) -> dict:
    """The part of the ``training`` section that one training (architecture, mode and seed) depends on
    (the rule's params): the common keys, its mode's sections (MODE_SECTIONS) and its architecture's keys
    (ARCHITECTURE_KEYS), neither the other seeds nor the lists of modes and architectures.
    """
    kept = {k: v for k, v in section.items() if k not in _NOT_COMMON or k in MODE_SECTIONS.get(mode, ())}
    model = section.get("model", {})
    own = ("dropout", *ARCHITECTURE_KEYS[architecture])
    return kept | {"seed": seed, "model": {k: v for k, v in model.items() if k in own} | {"architecture": architecture}}


#: The keys of ``training.model`` each architecture reads beside ``dropout``.
ARCHITECTURE_KEYS: dict[str, tuple[str, ...]] = {
    DNN: ("width", "depth"),
    "deepsets": ("deepsets",),
    "transformer": ("transformer",),
}


def training_architectures(section: dict) -> list[str]:
    """The architectures of ``training.model.architecture`` (one name or a list), in display order.

    Raises
    ------
    ConfigError
        On an unknown architecture or an empty list.
    """
    value = section.get("model", {}).get("architecture", DNN)
    names = [value] if isinstance(value, str) else list(value)
    unknown = [name for name in names if name not in ARCHITECTURES]
    if unknown or not names:
        raise ConfigError(f"training.model.architecture: {unknown or 'none given'}; choose from {ARCHITECTURES}")
    return [name for name in ARCHITECTURES if name in names]


#: The default ``training.seeds``: every mode is trained once per seed.
DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3)


def defended_modes(models) -> list[str]:
    """The modes other than nominal among ``models``, in display order, where a nominal model is there to
    compare them with (empty without one).
    """
    models = ordered_models(models)
    return [m for m in models if m != NOMINAL] if NOMINAL in models else []


def training_modes(section: dict) -> list[str]:
    """The config's training modes, in the order of MODES.

    Raises
    ------
    ConfigError
        When the list is empty, repeats a mode or names an unknown one.
    """
    modes = list(section.get("modes", DEFAULT_MODES))
    if not modes or len(set(modes)) != len(modes) or not set(modes) <= set(MODES):
        raise ConfigError(f"training.modes must be distinct modes of {list(MODES)}, at least one; got {modes}")
    return ordered_models(modes)


def training_seeds(section: dict) -> list[int]:
    """The config's training seeds, the reference seed (the lowest) first: its trainings are studied at every
    checkpoint, the others at their selected checkpoint (the spread over seeds).

    Raises
    ------
    ConfigError
        When the list is empty or repeats a seed.
    """
    seeds = list(section.get("seeds", DEFAULT_SEEDS))
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"training.seeds must be distinct non-negative integers, at least one; got {seeds}")
    return sorted(seeds)


def model_dir(mode: str, seed: int, root: str = "results") -> str:
    """Where the training of a mode with a seed writes its checkpoints and history (under an
    architecture's ``root``, :func:`study_root`).
    """
    return f"{root}/models/{mode}/seed_{seed}"


def study_root(architecture: str) -> str:
    """The folder of an architecture's study (trainings, scores, tables, figures): ``results`` for the
    paper's DNN, ``results/{architecture}`` for the others.
    """
    return "results" if architecture == DNN else f"results/{architecture}"


def study_architecture(root: str) -> str:
    """The architecture whose study lives in ``root`` (:func:`study_root`).

    Raises
    ------
    ConfigError
        When ``root`` is no architecture's.
    """
    for architecture in ARCHITECTURES:
        if study_root(architecture) == root:
            return architecture
    raise ConfigError(f"{root} is no architecture's results folder")


def external_config(model: ExternalModel) -> dict:
    """An audited model's declaration as a rule's params (and back: ``ExternalModel(**params)``)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(model).items()}


def audit_root(name: str) -> str:
    """The folder of the study of an audited model (``evaluation.external_models``)."""
    return f"results/external/{name}"


def preprocessed_dir(layout: str) -> str:
    """Where the preprocessing of a layout writes its splits and ``preprocessing.json``."""
    return "results/preprocessed" if layout == "flat" else f"results/preprocessed_{layout}"


def preprocess_config(section: dict, layout: str) -> dict:
    """The part of the ``preprocess`` section the preprocessing of one layout depends on (the rule's params),
    with the layout: the flat layout does not read ``max_tracks``, the sequence layout not ``n_tracks``.
    """
    unread = "max_tracks" if layout == "flat" else "n_tracks"
    return {k: v for k, v in section.items() if k != unread} | {"layout": layout}


def model_identity(path: str | os.PathLike) -> tuple[str, int]:
    """(mode, seed) of a training's output folder, ``.../{mode}/seed_{seed}`` (:func:`model_dir`).

    Raises
    ------
    ResultsError
        When the folder is not named so.
    """
    path = Path(path)
    seed = path.name.removeprefix("seed_")
    if not seed.isdigit() or not path.parent.name:
        raise ResultsError(f"{path}: a training's folder is named .../{{mode}}/seed_{{seed}}")
    return path.parent.name, int(seed)


def loss_config(section: dict) -> dict:
    """The part of the ``training`` section an attack's gradient depends on (the scoring rules' params)."""
    settings = TrainingSettings.from_config(section, "nominal")
    return asdict(settings.loss)


# ---------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------


# Defaults of the evaluation section, shared by the section's class and its job classes.
_EPSILONS = (0.005, 0.01, 0.02, 0.05)
_CAP = 0.25  #: the paper's cap: each step at most 25 % of the raw value
_INPUT_FEATURES = ("trk0_d0", "trk0_z0", "track_2_d0_significance", "vertex_mass")
_INPUT_EPSILONS = (0.01, 0.05)
_UNCAPPED_EPSILON = 0.1
_SCORING_BATCH = 65536
#: test jets of the certified bound: CROWN costs ~27 M multiply-adds per jet and eps (the 184-100x5-3 network)
_CERTIFIED_JETS = 500
#: test jets whose raw and attacked distributions are compared (KS, Wasserstein-1)
_VISIBILITY_JETS = 10000
_BOOTSTRAP = 100
_PT_BINS = (20.0, 30.0, 50.0, 70.0, 100.0, 150.0, 200.0, 300.0, 500.0, 900.0)
_ABS_ETA_BINS = (0.0, 1.2, 2.5)


@dataclass(frozen=True)
class ScoringSettings:
    """What a score file depends on: the attacks and how they are run."""

    epsilons: tuple[float, ...] = _EPSILONS  #: FGSM and baseline sizes, standardised units
    restrict_impact: float | None = _CAP  #: the cap, fraction of the raw value; None: plain Eq. 2
    baselines: bool = True  #: Gaussian noise and coherent shifts at the selected checkpoint
    noise_seed: int = 1
    max_jets: int | None = None  #: evaluate only the first test jets (None: all)
    batch_size: int = _SCORING_BATCH
    device: str = "auto"
    epsilon_scale: str = "unit"  #: each input's budget per unit of eps (EPSILON_SCALES)

    def __post_init__(self) -> None:
        if not self.epsilons or any(e <= 0 for e in self.epsilons):
            raise ConfigError(f"evaluation.epsilons must be positive, got {list(self.epsilons)}")
        if self.restrict_impact is not None and self.restrict_impact <= 0:
            raise ConfigError(f"evaluation.restrict_impact must be positive or null, got {self.restrict_impact}")
        if self.max_jets is not None and self.max_jets < 1:
            raise ConfigError(f"evaluation.max_jets must be at least 1 or null, got {self.max_jets}")


#: What only the extra-attacks file (at the selected checkpoint) reads of ScoringSettings.
BASELINE_KEYS = ("baselines", "noise_seed")


@dataclass(frozen=True)
class SampleSettings:
    """What the input samples of Figs. 5 and 10 depend on."""

    input_features: tuple[str, ...] = _INPUT_FEATURES
    input_epsilons: tuple[float, ...] = _INPUT_EPSILONS  #: Fig. 5, capped as configured
    uncapped_epsilon: float = _UNCAPPED_EPSILON  #: Fig. 10, plain Eq. 2
    restrict_impact: float | None = _CAP
    max_jets: int | None = None
    batch_size: int = _SCORING_BATCH
    device: str = "auto"
    epsilon_scale: str = "unit"

    #: the column of Fig. 10, always sampled
    FIRST_TRACK_D0 = "trk0_d0"

    def sampled_features(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.input_features, self.FIRST_TRACK_D0)))


@dataclass(frozen=True)
class TableSettings:
    """What the tables and the summary depend on."""

    weighted: bool = False  #: metrics with the test jets' flavour weights
    summary_epsilon: float = 0.05  #: the epsilon of the summary
    restrict_impact: float | None = _CAP  #: quoted in the summary
    bootstrap: int = _BOOTSTRAP  #: resamples of the test jets for the statistical errors (0: none)
    bootstrap_seed: int = 1
    scale_factor_pt_bins: tuple[float, ...] = _PT_BINS  #: GeV, the fixed-cut scale factors per bin
    scale_factor_abs_eta_bins: tuple[float, ...] = _ABS_ETA_BINS

    def __post_init__(self) -> None:
        if self.bootstrap == 1 or self.bootstrap < 0:
            raise ConfigError(
                f"evaluation.bootstrap must be 0 (no errors) or at least 2 resamples, got {self.bootstrap}"
            )
        for name in ("scale_factor_pt_bins", "scale_factor_abs_eta_bins"):
            edges = getattr(self, name)
            if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] < 0:
                raise ConfigError(f"evaluation.{name} must be at least two increasing edges >= 0, got {list(edges)}")


@dataclass(frozen=True)
class FigureSettings:
    """The ``evaluation.figures`` section."""

    input_features: tuple[str, ...] = _INPUT_FEATURES
    input_epsilons: tuple[float, ...] = _INPUT_EPSILONS  #: Fig. 5
    uncapped_epsilon: float = _UNCAPPED_EPSILON  #: Fig. 10, plain Eq. 2
    checkpoints: int = 4  #: Fig. 7: checkpoints drawn, evenly spaced in log(epoch)

    def __post_init__(self) -> None:
        if not self.input_features or not self.input_epsilons or any(e <= 0 for e in self.input_epsilons):
            raise ConfigError("evaluation.figures.input_features and input_epsilons (> 0) must not be empty")
        if self.uncapped_epsilon <= 0 or self.checkpoints < 1:
            raise ConfigError("evaluation.figures.uncapped_epsilon must be > 0 and checkpoints >= 1")


#: The methods of the strong attack suite (evaluation.attacks); FGSM is the cheap scan's.
ATTACK_METHODS: tuple[str, ...] = ("pgd", "ngm", "targeted")
#: The objectives of an iterative attack: the loss, or each discriminator's log-odds (one attack per discriminator).
ATTACK_OBJECTIVES: tuple[str, ...] = ("loss", "discriminator")
_DISCRIMINATOR_NAMES = ("BvsL", "CvsL", "BvsC")  # metrics.DISCRIMINATORS, whose module needs numpy


@dataclass(frozen=True)
class AttackSettings:
    """One attack of the strong suite: an entry of ``evaluation.attacks``.

    ``pgd``: L-inf projected gradient ascent with sign steps; ``targeted``: PGD
    on a discriminator's log-odds (the ``discriminator`` objective), one attack
    per discriminator; ``ngm``: steps along grad / ||grad||_norm. Steps are
    fractions (``step_size``) of the budget eps * scale, whatever ``steps`` is.
    """

    method: str
    name: str = ""  #: as the tables show it; empty: the method's name
    steps: int = 10
    step_size: float = 0.25
    restarts: int = 1
    random_start: bool = False
    objective: str = "loss"  #: pgd: loss | discriminator (targeted: always discriminator)
    norm: float = 2.0  #: ngm's p
    integer_steps: bool = False  #: then move the integer features by +-1 where that raises the objective
    seed: int = 1  #: of the random starts

    def __post_init__(self) -> None:
        where = f"evaluation.attacks '{self.name or self.method}'"
        if self.method not in ATTACK_METHODS:
            raise ConfigError(f"{where}: method must be one of {list(ATTACK_METHODS)}, got '{self.method}'")
        if self.objective not in ATTACK_OBJECTIVES:
            raise ConfigError(f"{where}: objective must be one of {list(ATTACK_OBJECTIVES)}, got '{self.objective}'")
        if self.steps < 0 or self.restarts < 1 or self.step_size <= 0 or self.norm < 1:
            raise ConfigError(f"{where}: needs steps >= 0, restarts >= 1, step_size > 0 and norm >= 1")
        if self.method == "ngm" and (self.restarts != 1 or self.random_start):
            raise ConfigError(f"{where}: ngm has neither restarts nor random starts")

    @property
    def label(self) -> str:
        return self.name or self.method

    def objectives(self) -> tuple[str, ...]:
        """What each of its attacks maximises: ``loss``, or one discriminator each."""
        if self.method == "targeted" or self.objective == "discriminator":
            return _DISCRIMINATOR_NAMES
        return ("loss",)

    def attack_names(self) -> dict[str, str]:  # the tables read the aim back from the name (aimed_at)
        """{attack name in the tables: its objective}; a targeted attack is named after its discriminator."""
        objectives = self.objectives()
        if objectives == ("loss",):
            return {self.label: "loss"}
        return {f"{self.label}_{d}": d for d in objectives}


def aimed_at(attack: str) -> str | None:
    """The discriminator an attack of the tables is aimed at (its name ends in it), or None."""
    return next((d for d in _DISCRIMINATOR_NAMES if attack.endswith(f"_{d}")), None)


_DEFAULT_ATTACKS = (
    AttackSettings("pgd", steps=5, step_size=0.5),
    AttackSettings("ngm", steps=1, step_size=1.0),
    AttackSettings("ngm", name="ngm_iterated", steps=5, step_size=0.5),
    AttackSettings("targeted", steps=5, step_size=0.5),
)


def attack_suite(entries) -> tuple[AttackSettings, ...]:
    """The ``evaluation.attacks`` list as settings; two attacks of one name are refused.

    Raises
    ------
    ConfigError
        On an unknown key, a bad value, or a repeated attack name.
    """
    suite = tuple(
        e if isinstance(e, AttackSettings) else AttackSettings(**_known(AttackSettings, e, "evaluation.attacks"))
        for e in entries
    )
    for attack in suite:
        if attack.objectives() == ("loss",) and attack.label.endswith(tuple(f"_{d}" for d in _DISCRIMINATOR_NAMES)):
            raise ConfigError(
                f"evaluation.attacks '{attack.label}': a name ending in a discriminator's is kept for the attacks "
                "aimed at that discriminator"
            )
    names = [name for attack in suite for name in attack.attack_names()]
    repeated = sorted({n for n in names if names.count(n) > 1} | ({"fgsm", "raw"} & set(names)))
    if repeated:
        raise ConfigError(f"evaluation.attacks: attack name(s) {repeated} used twice (or by the FGSM scan)")
    return suite


@dataclass(frozen=True)
class StrongAttackSettings:
    """What a strong-suite score file depends on."""

    attacks: tuple[AttackSettings, ...] = _DEFAULT_ATTACKS
    epsilons: tuple[float, ...] = _EPSILONS
    restrict_impact: float | None = _CAP
    epsilon_scale: str = "unit"
    certified_method: str = "crown"
    certified_jets: int = _CERTIFIED_JETS
    visibility_jets: int = _VISIBILITY_JETS
    max_jets: int | None = None
    batch_size: int = _SCORING_BATCH
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "attacks", attack_suite(self.attacks))
        if self.certified_method not in CERTIFIED_METHODS or self.certified_jets < 0 or self.visibility_jets < 0:
            raise ConfigError(
                f"evaluation.certified_method must be one of {list(CERTIFIED_METHODS)}, "
                "certified_jets and visibility_jets >= 0"
            )
        if self.epsilon_scale not in EPSILON_SCALES:
            raise ConfigError(f"evaluation.epsilon_scale must be one of {list(EPSILON_SCALES)}")


#: bound propagation of the certified AUC: CROWN linear bounds, or plain intervals (much looser, ~100x cheaper)
CERTIFIED_METHODS: tuple[str, ...] = ("crown", "ibp")

#: evaluation.epsilon_scale: each input's budget is eps (unit), or eps times half the
#: 1 %-99 % quantile range of its genuine training values (quantile, standardised units)
EPSILON_SCALES: tuple[str, ...] = ("unit", "quantile")


@dataclass(frozen=True)
class StrongAttackCheckpoints:
    """The ``evaluation.strong_attacks`` section: where the strong suite runs besides the selected checkpoints."""

    epochs: tuple[int, ...] = (3, 10)

    def __post_init__(self) -> None:
        if any(e < 1 for e in self.epochs):
            raise ConfigError(f"evaluation.strong_attacks.epochs must be >= 1, got {list(self.epochs)}")


#: The sample of nominal generator knobs beside the shifted ones (their seed, their size): each synthetic
#: shift is measured against it jet for jet, since the generator draws every jet's flavour, pT and eta
#: before any knob acts.
NOMINAL_TWIN = "nominal_twin"
#: The reference of a user's sample (other jets): the nominal test split, scored beside the samples.
NOMINAL_TEST = "nominal_test"
_SAMPLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class ShiftedSample:
    """One alternative sample the models are evaluated on as if it were data: the embedded generator with
    some knobs multiplied (``scale``: {knob: factor}), or a user's files (ROOT or JSON, as
    ``dataset.root.files`` / the UCI JSON) from another simulation or from data.
    """

    name: str
    scale: dict = field(default_factory=dict)
    files: tuple[str, ...] = ()
    tree: str = "jets"  #: the TTree of ROOT files

    def __post_init__(self) -> None:
        where = f"evaluation.shifted_samples: sample '{self.name}'"
        if not _SAMPLE_NAME.fullmatch(self.name) or self.name in (NOMINAL_TWIN, NOMINAL_TEST):
            raise ConfigError(
                f"{where}: a name is lower-case letters, digits and _ (not '{NOMINAL_TWIN}' or '{NOMINAL_TEST}')"
            )
        if bool(self.scale) == bool(self.files):
            raise ConfigError(f"{where}: give either scale (generator knob factors) or files, not both or neither")
        bad = {k: v for k, v in self.scale.items() if not isinstance(v, (int, float)) or v <= 0}
        if bad:
            raise ConfigError(f"{where}: scale factors must be positive numbers, got {bad}")

    @property
    def synthetic(self) -> bool:
        return bool(self.scale)

    def to_config(self) -> dict:
        if self.synthetic:
            return {"name": self.name, "scale": dict(self.scale)}
        return {"name": self.name, "files": list(self.files), "tree": self.tree}


#: What an audited model's outputs are: logits, or class probabilities (they are turned into log-probabilities).
EXTERNAL_OUTPUTS: tuple[str, ...] = ("logits", "probabilities")
#: The file suffixes read as TorchScript (``torch.jit.save``).
TORCHSCRIPT_SUFFIXES: tuple[str, ...] = (".pt", ".pth", ".ts", ".torchscript")


@dataclass(frozen=True)
class ExternalModel:
    """A tagger trained elsewhere, audited here (``evaluation.external_models``): a TorchScript file, the
    layout of its inputs, the order of its outputs and what they are.

    A ``flat`` model is called on (jets, inputs) rows of the flat layout; a ``sequence`` model on the jet
    features (jets, 16), the tracks (jets, tracks, 28) and the padding mask (jets, tracks) bool.
    """

    name: str
    file: str
    layout: str = "flat"
    classes: tuple[str, ...] = CLASS_NAMES
    outputs: str = "logits"
    preprocessing: str | None = None  #: a preprocessing.json of its own; None: robusttag's of its layout
    files: tuple[str, ...] = ()  #: ROOT or JSON files of its own jets to audit it on; (): robusttag's test split
    tree: str = "jets"  #: the TTree of ROOT files

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "files", tuple(self.files))
        where = f"evaluation.external_models: model '{self.name}'"
        reserved = (*MODES, *ARCHITECTURES, NOMINAL_TWIN, NOMINAL_TEST)
        if not _SAMPLE_NAME.fullmatch(self.name) or self.name in reserved:
            raise ConfigError(f"{where}: a name is lower-case letters, digits and _, none of {reserved}")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"{where}: layout '{self.layout}' is unknown; choose from {LAYOUTS}")
        if sorted(self.classes) != sorted(CLASS_NAMES):
            raise ConfigError(f"{where}: classes must order {list(CLASS_NAMES)}, got {list(self.classes)}")
        if self.outputs not in EXTERNAL_OUTPUTS:
            raise ConfigError(f"{where}: outputs '{self.outputs}' is unknown; choose from {EXTERNAL_OUTPUTS}")
        suffix = Path(self.file).suffix.lower()
        if suffix == ".onnx":
            raise ConfigError(
                f"{where}: {self.file} is ONNX, which gives no input gradients to attack with; convert it to "
                "TorchScript first (e.g. onnx2torch, then torch.jit.script and torch.jit.save)"
            )
        if suffix not in TORCHSCRIPT_SUFFIXES:
            raise ConfigError(f"{where}: {self.file} is not TorchScript (a file ending in {TORCHSCRIPT_SUFFIXES})")


#: Each about as large as FGSM at the smallest eps (0.005) on the nominal model's raw AUC (README).
_DEFAULT_SHIFTS = (
    ShiftedSample("d0_resolution_up_20pct", {"resolution_scale": 1.2}),
    ShiftedSample("lifetimes_down_10pct", {"lifetime_scale": 0.9}),
    ShiftedSample("sv_efficiency_down_10pct", {"sv_efficiency_b": 0.9, "sv_efficiency_c": 0.9}),
    ShiftedSample("mismeasured_tracks_up_60pct", {"mismeasured_track_rate": 1.6}),
    ShiftedSample("light_fake_vertices_up_50pct", {"light_fake_sv_rate": 1.5}),
)


@dataclass(frozen=True)
class ShiftedSamples:
    """The ``evaluation.shifted_samples`` section: mismodelled simulation ("pseudo-data") and other samples."""

    seed: int = 1001  #: generator seed of the synthetic shifts and their nominal twin
    n_jets: int = 40000  #: jets of each synthetic shift and of the twin
    samples: tuple[ShiftedSample, ...] = _DEFAULT_SHIFTS

    def __post_init__(self) -> None:
        samples = tuple(s if isinstance(s, ShiftedSample) else ShiftedSample(**_tuples(s)) for s in self.samples)
        object.__setattr__(self, "samples", samples)
        names = [s.name for s in samples]
        if len(set(names)) != len(names):
            raise ConfigError(f"evaluation.shifted_samples: sample names must be unique, got {names}")
        if self.n_jets < 100:
            raise ConfigError(f"evaluation.shifted_samples.n_jets must be at least 100, got {self.n_jets}")

    @classmethod
    def from_config(cls, section: dict) -> ShiftedSamples:
        values = dict(_known(cls, section, "evaluation.shifted_samples"))
        samples = []
        for entry in values.pop("samples", [s.to_config() for s in _DEFAULT_SHIFTS]):
            samples.append(ShiftedSample(**_tuples(_known(ShiftedSample, entry, "evaluation.shifted_samples"))))
        return cls(samples=tuple(samples), **values)

    def names(self) -> list[str]:
        """Every sample the models are scored on: the nominal twin first when a shift is synthetic."""
        twin = [NOMINAL_TWIN] if any(s.synthetic for s in self.samples) else []
        return twin + [s.name for s in self.samples]

    def sample(self, name: str) -> ShiftedSample | None:
        """The sample named so (None: the twin)."""
        return next((s for s in self.samples if s.name == name), None)


def shifted_difficulties(dataset: dict, section: dict) -> dict[str, dict]:
    """{synthetic sample (the twin included): its full generator knobs}, the dataset's knobs scaled.

    Raises
    ------
    ConfigError
        On an unknown knob, one scaled out of range, or a synthetic shift of a dataset that is not synthetic
        (the generator cannot mismodel a simulation it did not make).
    """
    from .sources.synthetic import Difficulty  # numpy and scipy: only when a config is checked

    settings = DatasetSettings.from_config(dataset)
    shifted = ShiftedSamples.from_config(section)
    synthetic = [s for s in shifted.samples if s.synthetic]
    if synthetic and settings.source != "synthetic":
        raise ConfigError(
            f"evaluation.shifted_samples: {[s.name for s in synthetic]} scale generator knobs, but "
            f"dataset.source is {settings.source}; give files for samples of a {settings.source} dataset"
        )
    nominal = Difficulty.from_config(settings.synthetic.difficulty)
    knobs = {NOMINAL_TWIN: nominal.to_dict()} if synthetic else {}
    for s in synthetic:
        knobs[s.name] = nominal.scaled(s.scale, f"evaluation.shifted_samples: sample '{s.name}'").to_dict()
    return knobs


@dataclass(frozen=True)
class EvaluationSettings:
    """The whole ``evaluation`` section; the jobs take the parts they depend on."""

    epsilons: tuple[float, ...] = _EPSILONS
    restrict_impact: float | None = _CAP
    epochs: str | tuple[int, ...] = "all"  #: checkpoints scanned (the selected one always is)
    baselines: bool = True
    noise_seed: int = 1
    weighted: bool = False
    max_jets: int | None = None
    summary_epsilon: float = 0.05  #: the epsilon of the summary and of Figs. 4, 7 and 8
    bootstrap: int = _BOOTSTRAP
    bootstrap_seed: int = 1
    scale_factor_pt_bins: tuple[float, ...] = _PT_BINS
    scale_factor_abs_eta_bins: tuple[float, ...] = _ABS_ETA_BINS
    batch_size: int = _SCORING_BATCH
    device: str = "auto"
    epsilon_scale: str = "unit"
    attacks: tuple[AttackSettings, ...] = _DEFAULT_ATTACKS
    certified_method: str = "crown"
    certified_jets: int = _CERTIFIED_JETS
    visibility_jets: int = _VISIBILITY_JETS
    strong_attacks: StrongAttackCheckpoints = field(default_factory=StrongAttackCheckpoints)
    shifted_samples: ShiftedSamples = field(default_factory=ShiftedSamples)
    external_models: tuple[ExternalModel, ...] = ()
    figures: FigureSettings = field(default_factory=FigureSettings)

    def __post_init__(self) -> None:
        names = [model.name for model in self.external_models]
        if len(set(names)) != len(names):
            raise ConfigError(f"evaluation.external_models: names must be unique, got {names}")
        self._part(ScoringSettings)  # its own checks of the epsilons, the cap and max_jets
        self._part(TableSettings)  # and of the bootstrap
        if self.summary_epsilon not in self.epsilons:
            raise ConfigError(
                f"evaluation.summary_epsilon {self.summary_epsilon} must be one of evaluation.epsilons "
                f"{list(self.epsilons)}"
            )
        if self.epochs != "all" and (isinstance(self.epochs, str) or any(e < 1 for e in self.epochs)):
            raise ConfigError(f"evaluation.epochs must be 'all' or a list of epochs >= 1, got {self.epochs}")

    @classmethod
    def from_config(cls, section: dict) -> EvaluationSettings:
        """From the config's ``evaluation`` section.

        Raises
        ------
        ConfigError
            On an unknown key or a value out of range.
        """
        values = _tuples(_known(cls, section, "evaluation"))
        figures = FigureSettings(**_tuples(_known(FigureSettings, values.pop("figures", {}), "evaluation.figures")))
        strong = _known(StrongAttackCheckpoints, values.pop("strong_attacks", {}), "evaluation.strong_attacks")
        strong = StrongAttackCheckpoints(**_tuples(strong))
        attacks = attack_suite(values.pop("attacks", _DEFAULT_ATTACKS))
        shifted = ShiftedSamples.from_config(values.pop("shifted_samples", {}))
        external = tuple(
            ExternalModel(**_known(ExternalModel, entry, "evaluation.external_models"))
            for entry in values.pop("external_models", ())
        )
        return cls(
            figures=figures,
            strong_attacks=strong,
            attacks=attacks,
            shifted_samples=shifted,
            external_models=external,
            **values,
        )

    def _part(self, cls):
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values |= {f.name: getattr(self.figures, f.name) for f in fields(self.figures)}
        return cls(**{f.name: values[f.name] for f in fields(cls)})

    @property
    def scoring(self) -> ScoringSettings:
        return self._part(ScoringSettings)

    @property
    def samples(self) -> SampleSettings:
        return self._part(SampleSettings)

    @property
    def tables(self) -> TableSettings:
        return self._part(TableSettings)

    @property
    def strong(self) -> StrongAttackSettings:
        return self._part(StrongAttackSettings)


# ---------------------------------------------------------------------------
# What each rule receives: the keys its output depends on
# ---------------------------------------------------------------------------

#: Per figure, the ``evaluation`` keys it reads (dotted below ``figures``), passed
#: to its drawing function as keyword arguments named by the last part.
FIGURE_KEYS: dict[str, tuple[str, ...]] = {
    "fig4_cross_attacks": ("summary_epsilon",),
    "fig5_input_shifts": ("figures.input_features", "figures.input_epsilons", "restrict_impact"),
    "fig6_roc_vs_epsilon": ("epsilons",),
    "fig7_roc_per_checkpoint": ("summary_epsilon", "figures.checkpoints"),
    "fig8_nominal_vs_adversarial": ("summary_epsilon",),
    "fig9_auc_drop": (),
    "fig10_first_track_d0": ("figures.uncapped_epsilon",),
    "training_history": (),
    "attack_suite_vs_epsilon": (),
    "worst_case_per_checkpoint": ("summary_epsilon",),
    "auc_lost_vs_visibility": (),
    "scale_factors_per_bin": ("summary_epsilon",),
    "shifted_scale_factors": (),
    "premise": ("summary_epsilon",),
    "architectures": (),
}
#: The figures of one architecture's study (``architectures`` compares the studies of a run).
STUDY_FIGURES: tuple[str, ...] = tuple(name for name in FIGURE_KEYS if name != "architectures")
#: The figures of an audited model's study: no training history, no second model to compare with.
AUDIT_FIGURES: tuple[str, ...] = tuple(
    name for name in STUDY_FIGURES if name not in ("training_history", "fig8_nominal_vs_adversarial")
)


def _subset(cls, evaluation: dict, leave_out: tuple[str, ...] = ()) -> dict:
    settings = EvaluationSettings.from_config(evaluation)._part(cls)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items() if k not in leave_out}


def from_params(cls, params: dict):
    """A job's settings (ScoringSettings, SampleSettings, TableSettings, ...) from its rule's params.

    Raises
    ------
    ConfigError
        On a key that is not a field of ``cls``, or a value out of range.
    """
    return cls(**_tuples(_known(cls, dict(params), cls.__name__)))


def scoring_config(evaluation: dict, *, baselines: bool) -> dict:
    """The scoring rules' params; without ``baselines`` (the per-checkpoint scan)
    the keys only the baselines read are left out.
    """
    return _subset(ScoringSettings, evaluation, () if baselines else BASELINE_KEYS)


def strong_attack_config(evaluation: dict, *, per_checkpoint: bool = False) -> dict:
    """The strong-suite scoring rules' params (the attacks as plain dicts); ``per_checkpoint``:
    at the summary's epsilon only (the checkpoints of ``strong_attacks.epochs``).
    """
    values = _subset(StrongAttackSettings, evaluation)
    if per_checkpoint:  # the worst case per checkpoint; the certified bound is the selected checkpoint's
        values["epsilons"] = [EvaluationSettings.from_config(evaluation).summary_epsilon]
        values["certified_jets"], values["visibility_jets"] = 0, 0
        del values["certified_method"]
    return values


def validation_config(evaluation: dict) -> dict:
    """The validation-scoring rule's params: how it runs, nothing that changes its scores."""
    scoring = _subset(ScoringSettings, evaluation)
    return {key: scoring[key] for key in ("batch_size", "device")}


def sample_config(evaluation: dict) -> dict:
    """The input-sample rule's params (Figs. 5 and 10)."""
    return _subset(SampleSettings, evaluation)


def table_config(evaluation: dict) -> dict:
    """The tables rule's params."""
    return _subset(TableSettings, evaluation)


def shifted_table_config(evaluation: dict) -> dict:
    """The shifted-sample tables rule's params: the weighting, the bootstrap and the bins, not the summary's keys."""
    return _subset(TableSettings, evaluation, ("summary_epsilon", "restrict_impact"))


def figure_config(name: str, evaluation: dict) -> dict:
    """A figure rule's params: {keyword: value} of the keys in FIGURE_KEYS[name].

    Raises
    ------
    ConfigError
        For a figure that is not in FIGURE_KEYS.
    """
    if name not in FIGURE_KEYS:
        raise ConfigError(f"unknown figure '{name}'; choose from {list(FIGURE_KEYS)}")
    settings = EvaluationSettings.from_config(evaluation)
    values = {}
    for key in FIGURE_KEYS[name]:
        owner = settings
        for part in key.split("."):
            owner = getattr(owner, part)
        values[key.rsplit(".", 1)[-1]] = list(owner) if isinstance(owner, tuple) else owner
    return values


def check_config(config: dict) -> None:
    """What the schema cannot say, checked before any job runs: every section
    makes its settings, and the figures' features are among the inputs that
    ``preprocess.n_tracks`` makes.

    Raises
    ------
    ConfigError
        Naming the first key that is wrong and what would be accepted.
    """
    shifted_difficulties(config.get("dataset", {}), config.get("evaluation", {}).get("shifted_samples", {}))
    preprocess = PreprocessSettings.from_config(config.get("preprocess", {}))
    training = config.get("training", {})
    for architecture in training_architectures(training):
        for mode in training_modes(training):
            TrainingSettings.from_config(
                training_config(training, mode, training_seeds(training)[0], architecture), mode
            )
    evaluation = EvaluationSettings.from_config(config.get("evaluation", {}))
    names = preprocess.input_names()
    unknown = [name for name in evaluation.samples.sampled_features() if name not in names]
    if unknown:
        raise ConfigError(
            f"evaluation.figures.input_features: {unknown} are not among the {len(names)} inputs of "
            f"preprocess.n_tracks = {preprocess.n_tracks} (e.g. {names[0]}, ..., {names[-1]})"
        )


# ---------------------------------------------------------------------------
# Training histories: which checkpoints exist, which one is selected
# ---------------------------------------------------------------------------


def read_history(path: str | os.PathLike) -> list[dict]:
    """The rows of a training's ``history.csv`` as {column: float}.

    Raises
    ------
    ResultsError
        When the file lacks a column of HISTORY_COLUMNS.
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in HISTORY_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ResultsError(f"{path}: training history lacks column(s) {missing}; it has {reader.fieldnames}")
        return [{k: float(v) for k, v in row.items()} for row in reader]


def selected_epoch(history_path: str | os.PathLike) -> int:
    """The checkpoint a model is judged by: the epoch of the lowest selection score
    (the quantity ``training.selection`` names, written by the training; the first of equals).

    Raises
    ------
    ResultsError
        When the history holds no epoch.
    """
    rows = read_history(history_path)
    if not rows:
        raise ResultsError(f"{history_path}: no epochs in the training history")
    return int(min(rows, key=lambda row: row["selection_score"])["epoch"])


def selected_epochs(model_dirs) -> dict[tuple[str, int], int]:
    """{(mode, seed): its selected epoch} for trained model directories (:func:`model_dir`, holding history.csv)."""
    return {model_identity(d): selected_epoch(Path(d) / "history.csv") for d in model_dirs}


def scanned_epochs(history_path: str | os.PathLike, epochs: str | tuple[int, ...]) -> list[int]:
    """The checkpoints to evaluate: those of ``epochs`` ('all' or a list) that
    were trained, and always the selected one.
    """
    trained = [int(row["epoch"]) for row in read_history(history_path)]
    wanted = set(trained) if epochs == "all" else set(epochs) & set(trained)
    skipped = sorted(set(() if epochs == "all" else epochs) - set(trained))
    if skipped:
        log.info("%s: epochs %s were not trained (early stopping); not scanned", history_path, skipped)
    return sorted(wanted | {selected_epoch(history_path)})
