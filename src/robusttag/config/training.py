"""The settings of a training: the network (``training.model``, one architecture), the loss, the
mode and its attack, and the lists a run trains (modes, seeds, architectures).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

from ..errors import ConfigError
from ..features import InputLayout
from .data import Variation
from .schema import choices, default, only_known

NOMINAL = "nominal"
#: Every training mode, in the order tables and figures show them: nominal; FGSM adversarial training
#: (the paper's, named "adversarial"), PGD and NGM adversarial training; the defences against mismodelling.
MODES: tuple[str, ...] = choices("training.modes.[]")
#: The modes that train against attacks: each replaces a batch by its attacked version.
ATTACK_MODES: tuple[str, ...] = ("adversarial", "pgd", "ngm")
#: The modes that train against mismodelling: on varied jets (augmented, paired) or an unlabelled sample (domain).
MISMODELLING_MODES: tuple[str, ...] = ("augmented", "domain", "paired")
#: The modes that read training.variations.
VARIED_MODES: tuple[str, ...] = ("augmented", "paired")
#: What the paired penalty compares: log-odds between the classes, or probabilities.
PAIRED_OUTPUTS: tuple[str, ...] = choices("training.paired.output")
#: The default ``training.modes``: the paper's two.
DEFAULT_MODES: tuple[str, ...] = default("training.modes")
#: What checkpoint selection (and early stopping) minimises: 1 - the mean of the validation BvsL and CvsL
#: AUCs, or the validation loss, as the paper; either as a trailing mean over epochs.
SELECTION_METRICS: tuple[str, ...] = choices("training.selection.metric")


def ordered_models(names) -> list[str]:
    """Model names in the order of MODES, any others after them, alphabetically."""
    names = set(names)
    return [m for m in MODES if m in names] + sorted(names - set(MODES))


#: The taggers (``training.model.architecture``) and the input layout each reads
#: (:mod:`robusttag.features`): the paper's DNN on the flat inputs; a deep set and a
#: particle-transformer-like encoder on the track sequence.
ARCHITECTURE_LAYOUTS: dict[str, str] = {"dnn": "flat", "deepsets": "sequence", "transformer": "sequence"}
ARCHITECTURES: tuple[str, ...] = tuple(ARCHITECTURE_LAYOUTS)
DNN = "dnn"


@dataclass(frozen=True)
class DeepSetsSettings:
    """``training.model.deepsets``: a network per track, masked sum and mean pooling, a jet-level head."""

    track_width: int = default("training.model.deepsets.track_width")
    track_depth: int = default("training.model.deepsets.track_depth")
    width: int = default("training.model.deepsets.width")
    depth: int = default("training.model.deepsets.depth")

    def __post_init__(self) -> None:
        if min(self.track_width, self.track_depth, self.width, self.depth) < 1:
            raise ConfigError(f"training.model.deepsets: every width and depth must be at least 1, got {self}")


@dataclass(frozen=True)
class TransformerSettings:
    """``training.model.transformer``: attention blocks over a class token and the tracks, then a head."""

    dim: int = default("training.model.transformer.dim")
    blocks: int = default("training.model.transformer.blocks")
    heads: int = default("training.model.transformer.heads")
    width: int = default("training.model.transformer.width")
    depth: int = default("training.model.transformer.depth")

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
    width: int = default("training.model.width")
    depth: int = default("training.model.depth")
    dropout: float = default("training.model.dropout")
    n_classes: int = 3
    architecture: str = default("training.model.architecture")
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
        flat = dict(only_known(cls, section, where))
        nested = {"deepsets": DeepSetsSettings, "transformer": TransformerSettings, "layout": InputLayout}
        for name, kind in nested.items():
            if isinstance(flat.get(name), dict):
                flat[name] = kind(**only_known(kind, flat[name], f"{where}.{name}"))
        return cls(**flat)

    @property
    def input_layout(self) -> str:
        """The layout of inputs this architecture reads: ``flat`` or ``sequence``."""
        return ARCHITECTURE_LAYOUTS[self.architecture]


@dataclass(frozen=True)
class LossSettings:
    """What the loss (and so every input gradient of an attack) depends on."""

    focal_gamma: float = default("training.focal_gamma")
    double_softmax: bool = default("training.compat.double_softmax")  #: softmax twice (the authors' code)


#: The config's ``training`` sections each mode reads beyond the common keys (the others change none of its
#: numbers, so a change there retrains no training of that mode).
MODE_SECTIONS: dict[str, tuple[str, ...]] = {
    NOMINAL: (),
    "adversarial": ("adversarial",),
    "pgd": ("adversarial", "pgd"),
    "ngm": ("adversarial", "ngm"),
    "augmented": ("augmented", "variations"),
    "domain": ("domain",),
    "paired": ("paired", "variations"),
}
#: The sections of MODE_SECTIONS, and the keys no single training reads.
NOT_COMMON_KEYS = ("adversarial", "pgd", "ngm", "augmented", "domain", "paired", "variations", "seeds", "modes")
#: The default ``training.variations``.
DEFAULT_VARIATIONS = tuple(Variation(**entry) for entry in default("training.variations"))


@dataclass(frozen=True)
class TrainingSettings:
    """The ``training`` section of the config, for one mode."""

    mode: str = "nominal"
    seed: int = default("training.seeds")[0]
    device: str = default("training.device")
    lr: float = default("training.lr")
    lr_decay_epochs: float = default("training.lr_decay_epochs")  #: lr(epoch) = lr / (1 + epoch / lr_decay_epochs)
    batch_size: int = default("training.batch_size")
    max_epochs: int = default("training.max_epochs")
    patience: int = default("training.patience")  #: epochs without a lower selection score before stopping
    selection_metric: str = default("training.selection.metric")  #: "val_loss" with smoothing 1: the paper's
    selection_smoothing: int = default("training.selection.smoothing")  #: epochs of the trailing mean
    focal_gamma: float = default("training.focal_gamma")
    epsilon: float = default("training.adversarial.epsilon")  #: every attacking mode's size, standardised units
    attack_dropout: bool = default("training.adversarial.attack_dropout")  #: dropout on, as the authors did
    clean_fraction: float = default("training.adversarial.clean_fraction")  #: weight of the clean batch's loss
    pgd_steps: int = default("training.pgd.steps")
    pgd_step_size: float | None = default("training.pgd.step_size")  #: fraction of epsilon; None: 2.5 / steps
    pgd_random_start: bool = default("training.pgd.random_start")
    pgd_restrict_impact: float | None = default("training.pgd.restrict_impact")  #: raw-value cap; None: none
    ngm_steps: int = default("training.ngm.steps")
    ngm_step_size: float = default("training.ngm.step_size")
    ngm_norm: float = default("training.ngm.norm")
    ngm_restrict_impact: float | None = default("training.ngm.restrict_impact")
    double_softmax: bool = default("training.compat.double_softmax")  #: softmax twice (authors' code)
    accumulate_attack_grad: bool = default("training.compat.accumulate_attack_grad")  #: leaks into the update
    variations: tuple[Variation, ...] = DEFAULT_VARIATIONS  #: what augmented and paired training train on
    augmented_fraction: float = default("training.augmented.fraction")  #: chance that a batch's jet is varied
    #: the domain's target: its declaration (``ShiftedSample.to_config``, with the shifted samples' seed and size
    #: when generated), resolved by :func:`robusttag.config.training_config`; None before
    domain_target: dict | None = None
    domain_weight: float = default("training.domain.weight")  #: lambda at the end of its ramp
    domain_ramp: float | None = default("training.domain.ramp")  #: None: lambda constant
    domain_per_flavour: bool = default("training.domain.per_flavour")
    domain_target_fraction: float = default("training.domain.target_fraction")
    domain_width: int = default("training.domain.width")
    domain_depth: int = default("training.domain.depth")
    paired_weight: float = default("training.paired.weight")
    paired_output: str = default("training.paired.output")
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
        for name in ("pgd_step_size", "pgd_restrict_impact", "ngm_restrict_impact", "domain_ramp"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ConfigError(f"training.{name.replace('_', '.', 1)} must be positive or null")
        self._check_defence()

    def _check_defence(self) -> None:
        """The defences' settings, and what their mode needs: variations (augmented, paired: paired ones).

        Raises
        ------
        ConfigError
            On a value out of range or what the mode needs missing.
        """
        fractions = {
            "augmented.fraction": self.augmented_fraction,
            "domain.target_fraction": self.domain_target_fraction,
        }
        for key, fraction in fractions.items():
            if not 0 < fraction <= 1:
                raise ConfigError(f"training.{key} must be in (0, 1], got {fraction}")
        if self.domain_weight < 0 or self.paired_weight < 0 or min(self.domain_width, self.domain_depth) < 1:
            raise ConfigError("training.domain.weight and paired.weight must be >= 0, domain.width and depth >= 1")
        if self.paired_output not in PAIRED_OUTPUTS:
            raise ConfigError(f"training.paired.output '{self.paired_output}' is unknown; choose from {PAIRED_OUTPUTS}")
        names = [v.name for v in self.variations]
        if len(set(names)) != len(names):
            raise ConfigError(f"training.variations: names must be distinct, got {names}")
        if self.mode in VARIED_MODES and not self.variations:
            raise ConfigError(f"training mode {self.mode} trains on training.variations, which lists none")
        unpaired = [v.name for v in self.variations if not v.paired]
        if self.mode == "paired" and unpaired:
            raise ConfigError(
                f"training mode paired compares each jet's nominal and varied simulation, but training.variations "
                f"{unpaired} are generator variations (independent jets): train on them with augmented, or drop them"
            )
        if self.mode == "domain" and self.domain_target is None:
            raise ConfigError("training mode domain needs a target sample (training.domain.target)")

    @classmethod
    def from_config(cls, section: dict, mode: str) -> TrainingSettings:
        """From the config's ``training`` section (nested as in config.yaml; its ``seeds`` give the
        reference seed) or a training rule's params (:func:`training_config`: one ``seed``).

        Raises
        ------
        ConfigError
            On an unknown key or mode, or a value out of range.
        """
        ignored = ("model", "compat", "selection", *NOT_COMMON_KEYS)
        flat = {k: v for k, v in section.items() if k not in ignored}
        flat.setdefault("seed", training_seeds(section)[0])  # the config's section: the reference seed
        flat.update(section.get("adversarial", {}))
        for name in ("pgd", "ngm"):
            flat.update({f"{name}_{k}": v for k, v in section.get(name, {}).items()})
        flat.update(section.get("compat", {}))
        flat.update({f"selection_{k}": v for k, v in section.get("selection", {}).items()})
        for name in ("augmented", "domain", "paired"):
            flat.update({f"{name}_{k}": v for k, v in section.get(name, {}).items()})
        if "variations" in section:
            flat["variations"] = tuple(Variation(**entry) for entry in section["variations"])
        if isinstance(flat.get("domain_target"), str):  # a name, not yet resolved: only the resolved one is read
            flat["domain_target"] = None
        model_section = dict(section.get("model", {}))
        model_section["architecture"] = training_architectures(section)[0]  # the config's section: the first
        return cls(mode=mode, model=ModelSettings.from_dict(model_section), **only_known(cls, flat, "training"))

    @property
    def attacks(self) -> bool:
        """Whether the mode trains on attacked batches."""
        return self.mode in ATTACK_MODES

    def domain_lambda(self, progress: float) -> float:
        """The reversed gradient's weight at ``progress`` (0 to 1) of the training."""
        if self.domain_ramp is None:
            return self.domain_weight
        return self.domain_weight * (2.0 / (1.0 + math.exp(-self.domain_ramp * progress)) - 1.0)

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
DEFAULT_SEEDS: tuple[int, ...] = default("training.seeds")


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
