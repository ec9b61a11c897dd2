"""The settings of the evaluation: the ``evaluation`` section, and for each kind of job (scoring, input
samples, the strong attack suite, tables) a class holding only the keys its output depends on: a rule passes
exactly those as params, so that Snakemake reruns a job only when one of them changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import ConfigError
from ..features import CLASS_NAMES, LAYOUTS
from .data import VARIATION_NAME, Variation
from .schema import as_tuples, choices, default, only_known
from .training import ARCHITECTURES, MODES


@dataclass(frozen=True)
class ScoringSettings:
    """What a score file depends on: the attacks and how they are run."""

    epsilons: tuple[float, ...] = default("evaluation.epsilons")  #: FGSM and baseline sizes, standardised units
    restrict_impact: float | None = default(
        "evaluation.restrict_impact"
    )  #: the cap, fraction of the raw value; None: plain Eq. 2
    baselines: bool = default("evaluation.baselines")  #: Gaussian noise and coherent shifts at the selected checkpoint
    noise_seed: int = default("evaluation.noise_seed")
    max_jets: int | None = default("evaluation.max_jets")  #: evaluate only the first test jets (None: all)
    batch_size: int = default("evaluation.batch_size")
    device: str = default("evaluation.device")
    epsilon_scale: str = default("evaluation.epsilon_scale")  #: each input's budget per unit of eps (EPSILON_SCALES)

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

    input_features: tuple[str, ...] = default("evaluation.figures.input_features")
    input_epsilons: tuple[float, ...] = default("evaluation.figures.input_epsilons")  #: Fig. 5, capped as configured
    uncapped_epsilon: float = default("evaluation.figures.uncapped_epsilon")  #: Fig. 10, plain Eq. 2
    restrict_impact: float | None = default("evaluation.restrict_impact")
    max_jets: int | None = default("evaluation.max_jets")
    batch_size: int = default("evaluation.batch_size")
    device: str = default("evaluation.device")
    epsilon_scale: str = default("evaluation.epsilon_scale")

    #: the column of Fig. 10, always sampled
    FIRST_TRACK_D0 = "trk0_d0"

    def sampled_features(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.input_features, self.FIRST_TRACK_D0)))


@dataclass(frozen=True)
class TableSettings:
    """What the tables and the summary depend on."""

    weighted: bool = default("evaluation.weighted")  #: metrics with the test jets' flavour weights
    summary_epsilon: float = default("evaluation.summary_epsilon")  #: the epsilon of the summary
    restrict_impact: float | None = default("evaluation.restrict_impact")  #: quoted in the summary
    bootstrap: int = default("evaluation.bootstrap")  #: resamples of the test jets for the statistical errors (0: none)
    bootstrap_seed: int = default("evaluation.bootstrap_seed")
    scale_factor_pt_bins: tuple[float, ...] = default(
        "evaluation.scale_factor_pt_bins"
    )  #: GeV, the fixed-cut scale factors per bin
    scale_factor_abs_eta_bins: tuple[float, ...] = default("evaluation.scale_factor_abs_eta_bins")

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

    input_features: tuple[str, ...] = default("evaluation.figures.input_features")
    input_epsilons: tuple[float, ...] = default("evaluation.figures.input_epsilons")  #: Fig. 5
    uncapped_epsilon: float = default("evaluation.figures.uncapped_epsilon")  #: Fig. 10, plain Eq. 2
    checkpoints: int = default(
        "evaluation.figures.checkpoints"
    )  #: Fig. 7: checkpoints drawn, evenly spaced in log(epoch)

    def __post_init__(self) -> None:
        if not self.input_features or not self.input_epsilons or any(e <= 0 for e in self.input_epsilons):
            raise ConfigError("evaluation.figures.input_features and input_epsilons (> 0) must not be empty")
        if self.uncapped_epsilon <= 0 or self.checkpoints < 1:
            raise ConfigError("evaluation.figures.uncapped_epsilon must be > 0 and checkpoints >= 1")


#: The methods of the strong attack suite (evaluation.attacks); FGSM is the cheap scan's.
ATTACK_METHODS: tuple[str, ...] = choices("evaluation.attacks.[].method")
#: The objectives of an iterative attack: the loss, or each discriminator's log-odds (one attack per discriminator).
ATTACK_OBJECTIVES: tuple[str, ...] = choices("evaluation.attacks.[].objective")
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
    name: str = default("evaluation.attacks.[].name")  #: as the tables show it; empty: the method's name
    steps: int = default("evaluation.attacks.[].steps")
    step_size: float = default("evaluation.attacks.[].step_size")
    restarts: int = default("evaluation.attacks.[].restarts")
    random_start: bool = default("evaluation.attacks.[].random_start")
    objective: str = default("evaluation.attacks.[].objective")  #: pgd: loss | discriminator (targeted: always)
    norm: float = default("evaluation.attacks.[].norm")  #: ngm's p
    integer_steps: bool = default("evaluation.attacks.[].integer_steps")  #: +-1 steps of the integer features
    seed: int = default("evaluation.attacks.[].seed")  #: of the random starts

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


_DEFAULT_ATTACKS = tuple(AttackSettings(**entry) for entry in default("evaluation.attacks"))


def attack_suite(entries) -> tuple[AttackSettings, ...]:
    """The ``evaluation.attacks`` list as settings; two attacks of one name are refused.

    Raises
    ------
    ConfigError
        On an unknown key, a bad value, or a repeated attack name.
    """
    suite = tuple(
        e if isinstance(e, AttackSettings) else AttackSettings(**only_known(AttackSettings, e, "evaluation.attacks"))
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
    epsilons: tuple[float, ...] = default("evaluation.epsilons")
    restrict_impact: float | None = default("evaluation.restrict_impact")
    epsilon_scale: str = default("evaluation.epsilon_scale")
    certified_method: str = default("evaluation.certified_method")
    certified_jets: int = default("evaluation.certified_jets")
    exact_domains: int | None = default("evaluation.exact_domains")
    summary_epsilon: float = default("evaluation.summary_epsilon")  #: where the exact and invisible attacks run
    invisible_p_value: float = default("evaluation.invisible_p_value")
    invisible_correlation: float = default("evaluation.invisible_correlation")
    visibility_jets: int = default("evaluation.visibility_jets")
    max_jets: int | None = default("evaluation.max_jets")
    batch_size: int = default("evaluation.batch_size")
    device: str = default("evaluation.device")

    def __post_init__(self) -> None:
        object.__setattr__(self, "attacks", attack_suite(self.attacks))
        if self.certified_method not in CERTIFIED_METHODS or self.certified_jets < 0 or self.visibility_jets < 0:
            raise ConfigError(
                f"evaluation.certified_method must be one of {list(CERTIFIED_METHODS)}, "
                "certified_jets and visibility_jets >= 0"
            )
        if self.epsilon_scale not in EPSILON_SCALES:
            raise ConfigError(f"evaluation.epsilon_scale must be one of {list(EPSILON_SCALES)}")
        if not 0 < self.invisible_p_value < 1 or not self.invisible_correlation > 0:
            raise ConfigError(
                "evaluation.invisible_p_value must lie in (0, 1) and invisible_correlation be positive, got "
                f"{self.invisible_p_value} and {self.invisible_correlation}"
            )
        if self.exact_domains is not None and not self.exact_domains > 0:
            raise ConfigError(f"evaluation.exact_domains must be a positive number or null, got {self.exact_domains}")


#: bound propagation of the certified AUC: CROWN linear bounds, or plain intervals (much looser, ~100x cheaper)
CERTIFIED_METHODS: tuple[str, ...] = choices("evaluation.certified_method")

#: evaluation.epsilon_scale: each input's budget is eps (unit), or eps times half the
#: 1 %-99 % quantile range of its genuine training values (quantile, standardised units)
EPSILON_SCALES: tuple[str, ...] = choices("evaluation.epsilon_scale")


@dataclass(frozen=True)
class DistanceSettings:
    """What a distance file depends on: the jets, the box and the search."""

    distance_jets: int = default("evaluation.distance_jets")
    distance_max_epsilon: float = default("evaluation.distance_max_epsilon")
    distance_bisections: int = default("evaluation.distance_bisections")
    restrict_impact: float | None = default("evaluation.restrict_impact")
    epsilon_scale: str = default("evaluation.epsilon_scale")
    weighted: bool = default("evaluation.weighted")  #: the cuts fixed on weighted validation jets
    max_jets: int | None = default("evaluation.max_jets")
    batch_size: int = default("evaluation.batch_size")
    device: str = default("evaluation.device")

    def __post_init__(self) -> None:
        if self.distance_jets < 0 or not self.distance_max_epsilon > 0 or not 1 <= self.distance_bisections <= 30:
            raise ConfigError(
                "evaluation.distance_jets must be >= 0, distance_max_epsilon > 0 and distance_bisections "
                f"in 1..30, got {self.distance_jets}, {self.distance_max_epsilon}, {self.distance_bisections}"
            )


@dataclass(frozen=True)
class StrongAttackCheckpoints:
    """The ``evaluation.strong_attacks`` section: where the strong suite runs besides the selected checkpoints."""

    epochs: tuple[int, ...] = default("evaluation.strong_attacks.epochs")

    def __post_init__(self) -> None:
        if any(e < 1 for e in self.epochs):
            raise ConfigError(f"evaluation.strong_attacks.epochs must be >= 1, got {list(self.epochs)}")


#: The sample of nominal generator knobs beside the shifted ones (their seed, their size): each synthetic
#: shift is measured against it jet for jet, since the generator draws every jet's flavour, pT and eta
#: before any knob acts.
NOMINAL_TWIN = "nominal_twin"
#: The reference of a user's sample (other jets): the nominal test split, scored beside the samples.
NOMINAL_TEST = "nominal_test"


@dataclass(frozen=True)
class ShiftedSample(Variation):
    """One alternative sample the models are evaluated on as if it were data, held out from every training: a
    variation of the simulation (:class:`Variation`), or a user's files (ROOT or JSON, as ``dataset.root.files``
    / the UCI JSON) from another simulation or from data.
    """

    files: tuple[str, ...] = ()
    tree: str = default("evaluation.shifted_samples.samples.[].tree")  #: the TTree of ROOT files

    def __post_init__(self) -> None:
        if self.name in (NOMINAL_TWIN, NOMINAL_TEST):
            raise ConfigError(f"{self.where()}: the names '{NOMINAL_TWIN}' and '{NOMINAL_TEST}' are taken")
        varied = bool(self.scale or self.pythia or self.tracker)
        if varied and not self.files:
            super().__post_init__()
        elif varied or not self.files or not VARIATION_NAME.fullmatch(self.name):
            raise ConfigError(
                f"{self.where()}: a name is lower-case letters, digits and _; give one of scale (generator knob "
                "factors), pythia and/or tracker (Pythia settings, tracker knobs) or files"
            )

    def where(self) -> str:
        return f"evaluation.shifted_samples: sample '{self.name}'"

    @property
    def generated(self) -> bool:
        """Made here (by a generator): its reference is the nominal twin."""
        return not self.files

    def to_config(self) -> dict:
        if self.files:
            return {"name": self.name, "files": list(self.files), "tree": self.tree}
        return super().to_config()


#: What an audited model's outputs are: logits, or class probabilities (they are turned into log-probabilities).
EXTERNAL_OUTPUTS: tuple[str, ...] = choices("evaluation.external_models.[].outputs")
#: The file suffixes read as TorchScript (``torch.jit.save``).
TORCHSCRIPT_SUFFIXES: tuple[str, ...] = (".pt", ".pth", ".ts", ".torchscript")
ONNX_SUFFIX = ".onnx"
#: What an audited model takes: standardised rows of its layout, or the jets' inputs in the dataset's units.
EXTERNAL_INPUTS: tuple[str, ...] = choices("evaluation.external_models.[].inputs")


#: The ONNX operators robusttag runs in torch (:mod:`robusttag.onnx_graph`), and the opsets whose signatures it reads
#: (axes as inputs of ReduceSum, Squeeze, Unsqueeze from 13).
ONNX_OPERATORS = frozenset(
    "Identity Constant Cast Gemm MatMul Add Sub Mul Div Pow Neg Sqrt Exp Log Erf Relu Sigmoid Tanh Softmax LogSoftmax "
    "LayerNormalization Clip Max Min ReduceSum ReduceMean ReduceMax Transpose Reshape Flatten Unsqueeze Squeeze "
    "Concat Gather Slice Shape Expand ConstantOfShape Where Equal Less LessOrEqual Greater GreaterOrEqual Not And "
    "Or IsNaN IsInf".split()
)
ONNX_OPSETS = range(13, 22)


def check_onnx_graph(model, where: str) -> None:
    """Refuse an ONNX model (``onnx.ModelProto``) robusttag cannot run, naming what it holds and what is read.

    Raises
    ------
    ConfigError
        When the graph has no output, an opset outside :data:`ONNX_OPSETS`, a node of another domain or an
        operator outside :data:`ONNX_OPERATORS`, or a node with several outputs in use.
    """
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset not in ONNX_OPSETS:
        first, last = ONNX_OPSETS.start, ONNX_OPSETS.stop - 1
        raise ConfigError(f"{where}: ONNX opset {opset}; robusttag reads opsets {first} to {last}")
    if not model.graph.output:
        raise ConfigError(f"{where}: the ONNX graph has no output")
    for node in model.graph.node:
        standard = node.domain in ("", "ai.onnx")
        if not standard or node.op_type not in ONNX_OPERATORS:
            name = node.op_type if standard else f"{node.domain}.{node.op_type}"
            raise ConfigError(
                f"{where}: ONNX operator {name} (node '{node.name}') is not one robusttag runs; it reads "
                f"{sorted(ONNX_OPERATORS)}"
            )
        if any(node.output[1:]):
            raise ConfigError(f"{where}: ONNX node '{node.name}' ({node.op_type}) has several outputs in use")


def check_onnx_file(path: str | os.PathLike, where: str) -> None:
    """:func:`check_onnx_graph` of an ONNX file.

    Raises
    ------
    ConfigError
        When the file is not an ONNX model, or holds a graph robusttag cannot run.
    """
    import onnx  # the configuration's other checks do not need it

    try:
        model = onnx.load(str(path))
    except Exception as error:  # protobuf's DecodeError and friends
        raise ConfigError(f"{where}: {path} is not an ONNX model: {error}") from error
    check_onnx_graph(model, where)


@dataclass(frozen=True)
class ExternalModel:
    """A tagger trained elsewhere, audited here (``evaluation.external_models``): a TorchScript or ONNX file,
    the layout of its inputs, the order of its outputs and what they are.

    With ``inputs: preprocessed``, a ``flat`` model is called on (jets, inputs) rows of the flat layout, a
    ``sequence`` model on the jet features (jets, 16), the tracks (jets, tracks, 28) and the padding mask
    (jets, tracks) bool. With ``inputs: raw``, any model is called on one (jets, inputs) tensor of the layout's
    inputs in the dataset's units (the preprocessing folded in, as robusttag's exports).
    """

    name: str
    file: str
    layout: str = default("evaluation.external_models.[].layout")
    inputs: str = default("evaluation.external_models.[].inputs")
    classes: tuple[str, ...] = default("evaluation.external_models.[].classes")
    outputs: str = default("evaluation.external_models.[].outputs")
    preprocessing: str | None = default(
        "evaluation.external_models.[].preprocessing"
    )  #: a preprocessing.json of its own; None: robusttag's of its layout
    files: tuple[str, ...] = default("evaluation.external_models.[].files")  #: its own jets; (): the test split
    tree: str = default("evaluation.external_models.[].tree")  #: the TTree of ROOT files

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "files", tuple(self.files))
        where = f"evaluation.external_models: model '{self.name}'"
        reserved = (*MODES, *ARCHITECTURES, NOMINAL_TWIN, NOMINAL_TEST)
        if not VARIATION_NAME.fullmatch(self.name) or self.name in reserved:
            raise ConfigError(f"{where}: a name is lower-case letters, digits and _, none of {reserved}")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"{where}: layout '{self.layout}' is unknown; choose from {LAYOUTS}")
        if sorted(self.classes) != sorted(CLASS_NAMES):
            raise ConfigError(f"{where}: classes must order {list(CLASS_NAMES)}, got {list(self.classes)}")
        if self.outputs not in EXTERNAL_OUTPUTS:
            raise ConfigError(f"{where}: outputs '{self.outputs}' is unknown; choose from {EXTERNAL_OUTPUTS}")
        if self.inputs not in EXTERNAL_INPUTS:
            raise ConfigError(f"{where}: inputs '{self.inputs}' is unknown; choose from {EXTERNAL_INPUTS}")
        if not self.is_onnx and Path(self.file).suffix.lower() not in TORCHSCRIPT_SUFFIXES:
            raise ConfigError(
                f"{where}: {self.file} is neither TorchScript (a file ending in {TORCHSCRIPT_SUFFIXES}) "
                f"nor ONNX ({ONNX_SUFFIX})"
            )

    @property
    def is_onnx(self) -> bool:
        """Whether the file is ONNX (else TorchScript)."""
        return Path(self.file).suffix.lower() == ONNX_SUFFIX


#: Each about as large as FGSM at the smallest eps (0.005) on the nominal model's raw AUC (README).
_DEFAULT_SHIFTS = tuple(ShiftedSample(**entry) for entry in default("evaluation.shifted_samples.samples"))


@dataclass(frozen=True)
class ShiftedSamples:
    """The ``evaluation.shifted_samples`` section: mismodelled simulation ("pseudo-data") and other samples."""

    seed: int = default(
        "evaluation.shifted_samples.seed"
    )  #: generator seed of the synthetic shifts and their nominal twin
    n_jets: int = default("evaluation.shifted_samples.n_jets")  #: jets of each synthetic shift and of the twin
    samples: tuple[ShiftedSample, ...] = _DEFAULT_SHIFTS

    def __post_init__(self) -> None:
        samples = tuple(s if isinstance(s, ShiftedSample) else ShiftedSample(**as_tuples(s)) for s in self.samples)
        object.__setattr__(self, "samples", samples)
        names = [s.name for s in samples]
        if len(set(names)) != len(names):
            raise ConfigError(f"evaluation.shifted_samples: sample names must be unique, got {names}")
        if self.n_jets < 100:
            raise ConfigError(f"evaluation.shifted_samples.n_jets must be at least 100, got {self.n_jets}")

    @classmethod
    def from_config(cls, section: dict) -> ShiftedSamples:
        values = dict(only_known(cls, section, "evaluation.shifted_samples"))
        samples = []
        for entry in values.pop("samples", [s.to_config() for s in _DEFAULT_SHIFTS]):
            samples.append(ShiftedSample(**as_tuples(only_known(ShiftedSample, entry, "evaluation.shifted_samples"))))
        return cls(samples=tuple(samples), **values)

    def names(self) -> list[str]:
        """Every sample the models are scored on: the nominal twin first when a sample is generated."""
        twin = [NOMINAL_TWIN] if any(s.generated for s in self.samples) else []
        return twin + [s.name for s in self.samples]

    def sample(self, name: str) -> ShiftedSample | None:
        """The sample named so (None: the twin)."""
        return next((s for s in self.samples if s.name == name), None)


@dataclass(frozen=True)
class EvaluationSettings:
    """The whole ``evaluation`` section; the jobs take the parts they depend on."""

    epsilons: tuple[float, ...] = default("evaluation.epsilons")
    restrict_impact: float | None = default("evaluation.restrict_impact")
    epochs: str | tuple[int, ...] = default("evaluation.epochs")  #: checkpoints scanned (the selected one always is)
    baselines: bool = default("evaluation.baselines")
    noise_seed: int = default("evaluation.noise_seed")
    weighted: bool = default("evaluation.weighted")
    max_jets: int | None = default("evaluation.max_jets")
    summary_epsilon: float = default(
        "evaluation.summary_epsilon"
    )  #: the epsilon of the summary and of Figs. 4, 7 and 8
    bootstrap: int = default("evaluation.bootstrap")
    bootstrap_seed: int = default("evaluation.bootstrap_seed")
    scale_factor_pt_bins: tuple[float, ...] = default("evaluation.scale_factor_pt_bins")
    scale_factor_abs_eta_bins: tuple[float, ...] = default("evaluation.scale_factor_abs_eta_bins")
    batch_size: int = default("evaluation.batch_size")
    device: str = default("evaluation.device")
    epsilon_scale: str = default("evaluation.epsilon_scale")
    attacks: tuple[AttackSettings, ...] = _DEFAULT_ATTACKS
    certified_method: str = default("evaluation.certified_method")
    certified_jets: int = default("evaluation.certified_jets")
    exact_domains: int | None = default("evaluation.exact_domains")
    distance_jets: int = default("evaluation.distance_jets")
    distance_max_epsilon: float = default("evaluation.distance_max_epsilon")
    distance_bisections: int = default("evaluation.distance_bisections")
    invisible_p_value: float = default("evaluation.invisible_p_value")
    invisible_correlation: float = default("evaluation.invisible_correlation")
    visibility_jets: int = default("evaluation.visibility_jets")
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
        self._part(DistanceSettings)
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
        values = as_tuples(only_known(cls, section, "evaluation"))
        figures = FigureSettings(
            **as_tuples(only_known(FigureSettings, values.pop("figures", {}), "evaluation.figures"))
        )
        strong = only_known(StrongAttackCheckpoints, values.pop("strong_attacks", {}), "evaluation.strong_attacks")
        strong = StrongAttackCheckpoints(**as_tuples(strong))
        attacks = attack_suite(values.pop("attacks", _DEFAULT_ATTACKS))
        shifted = ShiftedSamples.from_config(values.pop("shifted_samples", {}))
        external = tuple(
            ExternalModel(**only_known(ExternalModel, entry, "evaluation.external_models"))
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
