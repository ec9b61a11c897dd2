"""The settings of the data: the ``dataset`` section (where the jets come from) and the
``preprocess`` section (how they become a model's inputs).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from ..errors import ConfigError
from ..features import FLAVOR, LAYOUTS, RAW_JET_FIELDS, TRACK_FIELDS, Feature, layout_features, raw_track_column
from .schema import as_tuples, choices, default, only_known

SOURCES: tuple[str, ...] = choices("dataset.source")
TRACK_ORDERS: tuple[str, ...] = choices("preprocess.track_order")


@dataclass(frozen=True)
class SyntheticSettings:
    n_jets: int = default("dataset.synthetic.n_jets")
    seed: int = default("dataset.synthetic.seed")
    difficulty: dict = field(default_factory=dict)  #: overrides of sources.synthetic.Difficulty


#: The name of the Pythia sample the study trains on (its chunks under results/pythia/dataset/)
PYTHIA_DATASET = "dataset"


@dataclass(frozen=True)
class PythiaSettings:
    """The ``dataset.pythia`` section: how the Pythia source makes its samples."""

    n_jets: int = default("dataset.pythia.n_jets")
    seed: int = default("dataset.pythia.seed")
    chunk_jets: int = default("dataset.pythia.chunk_jets")
    flavour_shares: dict = field(default_factory=lambda: dict(default("dataset.pythia.flavour_shares")))
    pt_hat_min: float = default("dataset.pythia.pt_hat_min")
    pt_hat_bias: float = default("dataset.pythia.pt_hat_bias")
    labels: str = default("dataset.pythia.labels")
    settings: dict = field(default_factory=dict)  #: Pythia settings of every sample
    tracker: dict = field(default_factory=dict)  #: the nominal tracker's knobs

    def __post_init__(self) -> None:
        shares = self.flavour_shares
        if set(shares) != {"b", "c", "light"} or any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
            raise ConfigError(f"dataset.pythia.flavour_shares must give b, c and light, >= 0, not all 0: {shares}")
        if self.labels not in choices("dataset.pythia.labels"):
            raise ConfigError(
                f"dataset.pythia.labels '{self.labels}' is unknown; choose from {choices('dataset.pythia.labels')}"
            )
        if self.n_jets < 1 or self.chunk_jets < 1:
            raise ConfigError(
                f"dataset.pythia.n_jets and chunk_jets must be positive, got {self.n_jets}, {self.chunk_jets}"
            )


@dataclass(frozen=True)
class TrackerSettings:
    """The tracker's knobs; a detector variation changes some of them.

    ``resolution_scale`` widens the true spread of d0 and z0 (1.2: 20 % wider) while every track keeps its
    nominal quoted covariance, as a mismodelled resolution does in data; ``efficiency_scale`` multiplies every
    efficiency (at most 1); ``fake_rate`` is the mean number of fake tracks per real track of a jet; ``d0_bias``
    (mm) is added to every measured d0 (a misalignment-like shift).
    """

    resolution_scale: float = 1.0
    efficiency_scale: float = 1.0
    fake_rate: float = 0.01
    d0_bias: float = 0.0

    def __post_init__(self) -> None:
        bad = {
            name: value
            for name, value, good in (
                ("resolution_scale", self.resolution_scale, 0 < self.resolution_scale <= 10),
                ("efficiency_scale", self.efficiency_scale, 0 < self.efficiency_scale <= 2),
                ("fake_rate", self.fake_rate, 0 <= self.fake_rate <= 1),
                ("d0_bias", self.d0_bias, abs(self.d0_bias) <= 1),
            )
            if not good
        }
        if bad:
            raise ConfigError(
                f"tracker setting(s) out of range: {bad}; resolution_scale in (0, 10], efficiency_scale in (0, 2], "
                "fake_rate in [0, 1], |d0_bias| <= 1 mm"
            )

    @classmethod
    def from_config(cls, values: dict, where: str) -> TrackerSettings:
        """The tracker of a config section (``{knob: value}``).

        Raises
        ------
        ConfigError
            On an unknown knob or one out of range, naming ``where``.
        """
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"{where}: unknown tracker setting(s) {unknown}; choose from {list(cls.__dataclass_fields__)}"
            )
        try:
            return cls(**{name: float(value) for name, value in values.items()})
        except (ConfigError, TypeError, ValueError) as error:
            raise ConfigError(f"{where}: {error}") from None


def pythia_text(value: object) -> str:
    """A setting's value as Pythia reads it (a YAML boolean as on or off)."""
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def read_pythia_setting(pythia, key: str, value: object, sample: str) -> None:
    """``key = value`` into a ``pythia8mc.Pythia``, refused when Pythia does not take it (it would go on with its
    default).

    Raises
    ------
    ConfigError
        Naming the sample, the key and what Pythia made of it.
    """
    text = pythia_text(value)
    if pythia.readString(f"{key} = {text}"):
        return
    settings = pythia.settings
    if any(known(key) for known in (settings.isFlag, settings.isMode, settings.isParm, settings.isWord)):
        raise ConfigError(f"sample {sample!r}: {key} = {text} is outside Pythia's range")
    raise ConfigError(f"sample {sample!r}: Pythia does not know the setting {key!r} (in '{key} = {text}')")


def check_pythia_settings(settings: dict, sample: str) -> None:
    """Pythia reads every setting of a sample (without starting a run): an unknown key or a value out of its
    range is refused here, before any job.

    Raises
    ------
    ConfigError
        Naming the sample, the key and what Pythia made of it.
    """
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for key, value in settings.items():
        read_pythia_setting(pythia, key, value, sample)


@dataclass(frozen=True)
class PythiaSample:
    """One sample the Pythia source makes: its jets in chunks (``chunk_sizes``) from its seed, with the generator
    settings of ``generator`` (:class:`robusttag.sources.pythia.Sample`'s fields), through the tracker of
    ``tracker``; ``events`` names the sample whose generated events it reads (itself, or the nominal twin for a
    detector variation, which re-simulates the twin's events).
    """

    name: str
    events: str
    seed: int
    n_jets: int
    chunk_jets: int
    generator: dict
    tracker: dict

    @property
    def chunk_sizes(self) -> list[int]:
        full, rest = divmod(self.n_jets, self.chunk_jets)
        return [self.chunk_jets] * full + ([rest] if rest else [])


#: A variation's name: lower-case letters, digits and _ (a folder and a wildcard)
VARIATION_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Variation:
    """A variation of the simulation: the embedded generator with some knobs multiplied (``scale``: {knob:
    factor}), or Pythia with further settings (``pythia``: a generator variation, independent jets) and/or
    another tracker (``tracker``: alone, a detector variation re-simulating the same events). Declared as a
    training variation (``training.variations``) or, with files as a further kind, as a held-out sample
    (:class:`robusttag.config.ShiftedSample`).
    """

    name: str
    scale: dict = field(default_factory=dict)
    pythia: dict = field(default_factory=dict)
    tracker: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = self.where()
        if not VARIATION_NAME.fullmatch(self.name):
            raise ConfigError(f"{where}: a name is lower-case letters, digits and _")
        if bool(self.scale) == bool(self.pythia or self.tracker):
            raise ConfigError(f"{where}: give one of scale (generator knob factors) or pythia and/or tracker")
        bad = {k: v for k, v in self.scale.items() if not isinstance(v, (int, float)) or v <= 0}
        if bad:
            raise ConfigError(f"{where}: scale factors must be positive numbers, got {bad}")

    def where(self) -> str:
        """Where it is declared, for error messages."""
        return f"training.variations: variation '{self.name}'"

    @property
    def synthetic(self) -> bool:
        """Made by the embedded generator."""
        return bool(self.scale)

    @property
    def pythia_made(self) -> bool:
        """Made by the Pythia source."""
        return bool(self.pythia or self.tracker)

    @property
    def paired(self) -> bool:
        """The nominal jets themselves, mismodelled (the embedded generator's knobs: the same flavour, pT and eta and
        the same random draws, only where a knob acts does a jet change; or a detector variation re-simulating the
        same events); a generator variation is an independent sample.
        """
        return self.synthetic or (bool(self.tracker) and not self.pythia)

    def knobs(self) -> dict[str, dict]:
        """What it changes, by kind: {"generator": keys, "detector": keys}, the embedded generator's knobs being
        the generator's.
        """
        return {"generator": {**self.scale, **self.pythia}, "detector": dict(self.tracker)}

    def to_config(self) -> dict:
        own = {"scale": dict(self.scale)} if self.scale else {}
        own |= {"pythia": dict(self.pythia)} if self.pythia else {}
        own |= {"tracker": dict(self.tracker)} if self.tracker else {}
        return {"name": self.name, **own}


@dataclass(frozen=True)
class UciSettings:
    url: str = default("dataset.uci.url")
    sha256: str | None = default("dataset.uci.sha256")  #: expected SHA-256 of the download; None skips the check


@dataclass(frozen=True)
class RootSettings:
    files: tuple[str, ...] = default("dataset.root.files")
    tree: str = default("dataset.root.tree")


#: The inputs an HDF5 file's fields map onto (``dataset.h5.fields``): the jet-level fields but the flavour, and
#: ``track_<field>`` for the tracks' fields.
H5_FIELDS: tuple[str, ...] = (
    *(name for name in RAW_JET_FIELDS if name != FLAVOR),
    *(raw_track_column(name) for name in TRACK_FIELDS),
)


@dataclass(frozen=True)
class H5Flavour:
    """Where an HDF5 file keeps the jets' flavour, and its codes."""

    field: str = default("dataset.h5.flavour.field")
    b: int = default("dataset.h5.flavour.b")
    c: int = default("dataset.h5.flavour.c")
    light: int = default("dataset.h5.flavour.light")
    skip: tuple[int, ...] = default("dataset.h5.flavour.skip")

    def __post_init__(self) -> None:
        object.__setattr__(self, "skip", tuple(self.skip))
        codes = [self.b, self.c, self.light, *self.skip]
        if len(set(codes)) != len(codes):
            raise ConfigError(f"dataset.h5.flavour: the codes of b, c, light and skip must differ, got {codes}")

    def codes(self) -> dict[int, int]:
        """{the file's code: the dataset's code (5 b, 4 c, 0 light)}."""
        return {self.b: 5, self.c: 4, self.light: 0}


@dataclass(frozen=True)
class H5Settings:
    """The ``dataset.h5`` section: HDF5 files in the ATLAS salt/UPP layout and how their fields map on robusttag's."""

    files: tuple[str, ...] = default("dataset.h5.files")
    jets: str = default("dataset.h5.jets")
    tracks: str = default("dataset.h5.tracks")
    valid: str = default("dataset.h5.valid")
    flavour: H5Flavour = field(default_factory=H5Flavour)
    fields: dict = field(default_factory=dict)
    block_jets: int = default("dataset.h5.block_jets")

    def __post_init__(self) -> None:
        if isinstance(self.flavour, dict):
            object.__setattr__(
                self, "flavour", H5Flavour(**as_tuples(only_known(H5Flavour, self.flavour, "dataset.h5.flavour")))
            )
        unknown = sorted(set(self.fields) - set(H5_FIELDS))
        if unknown:
            raise ConfigError(
                f"dataset.h5.fields: {unknown} are not robusttag inputs; the keys are {H5_FIELDS[0]}, ..., "
                f"{H5_FIELDS[-1]} (the jet-level fields, and track_<field> for the tracks')"
            )
        if self.block_jets < 1:
            raise ConfigError(f"dataset.h5.block_jets must be at least 1, got {self.block_jets}")

    def source(self, name: str) -> tuple[str | None, float, float | None]:
        """(the file's field, its scale, or None and the constant) that robusttag's input ``name`` reads."""
        spec = self.fields.get(name, name)
        if isinstance(spec, str):
            return spec, 1.0, None
        if "value" in spec:
            return None, 1.0, float(spec["value"])
        return spec["field"], float(spec.get("scale", 1.0)), None


@dataclass(frozen=True)
class DatasetSettings:
    """The ``dataset`` section: where the jets come from."""

    source: str = default("dataset.source")
    synthetic: SyntheticSettings = field(default_factory=SyntheticSettings)
    pythia: PythiaSettings = field(default_factory=PythiaSettings)
    uci: UciSettings = field(default_factory=UciSettings)
    root: RootSettings = field(default_factory=RootSettings)
    h5: H5Settings = field(default_factory=H5Settings)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"dataset.source '{self.source}' is unknown; choose from {SOURCES}")
        for name in ("root", "h5"):
            if self.source == name and not getattr(self, name).files:
                raise ConfigError(f"dataset.source is '{name}' but dataset.{name}.files names no file")

    @classmethod
    def from_config(cls, section: dict) -> DatasetSettings:
        """From the config's ``dataset`` section.

        Raises
        ------
        ConfigError
            On an unknown key or source, or a ``root`` or ``h5`` source without files.
        """
        values = dict(only_known(cls, section, "dataset"))
        parts = {"synthetic": SyntheticSettings, "pythia": PythiaSettings, "uci": UciSettings, "root": RootSettings}
        parts |= {"h5": H5Settings}
        for name, part in parts.items():
            values[name] = part(**as_tuples(only_known(part, values.get(name, {}), f"dataset.{name}")))
        return cls(**values)


@dataclass(frozen=True)
class PreprocessSettings:
    """The ``preprocess`` section (``layout`` is chosen by the architectures trained, the last three
    fields are fixed by the method: neither is configured).
    """

    n_tracks: int = default("preprocess.n_tracks")  #: track slots of the flat layout
    max_tracks: int = default("preprocess.max_tracks")  #: tracks of the sequence layout
    layout: str = "flat"
    track_order: str = default("preprocess.track_order")
    split: tuple[float, float, float] = default("preprocess.split")
    seed: int = default("preprocess.seed")
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
        return cls(**as_tuples(only_known(cls, section, "preprocess")))

    def features(self) -> tuple[Feature, ...]:
        """The model inputs this preprocessing makes, in its layout."""
        return layout_features(self.layout, self.n_tracks if self.layout == "flat" else self.max_tracks)

    def input_names(self) -> tuple[str, ...]:
        """The names of the model inputs this preprocessing makes."""
        return tuple(feature.name for feature in self.features())


# ---------------------------------------------------------------------------
# The embedded generator's knobs (robusttag.sources.synthetic)
# ---------------------------------------------------------------------------


#: Knobs that are probabilities; fragmentation_suppression may be 0, every other knob is positive.
_FRACTIONS = ("sv_efficiency_b", "sv_efficiency_c", "light_long_lived_rate", "light_fake_sv_rate")
_FRACTIONS += ("mismeasured_track_rate",)
_NON_NEGATIVE = ("fragmentation_suppression",)


@dataclass(frozen=True)
class Difficulty:
    """Knobs that set how separable the flavours are.

    The defaults are tuned so that the paper's tagger lands near its nominal
    AUCs on the real data (BvsL ~0.95, CvsL ~0.76): the Delphes sample's track
    resolution is coarse and its light jets hold many displaced fakes, so the
    resolution is 3x the nominal 10 um + 70 um/pT, 15 % of the tracks have a
    further 3x wider tail, and 30 % of the light jets hold a long-lived decay.
    """

    lifetime_scale: float = 0.7  #: scales every heavy-hadron decay length
    resolution_scale: float = 3.0  #: scales the impact-parameter resolution (10 um + 70 um/pT)
    decay_tracks_b: float = 4.0  #: mean charged tracks from a b decay chain
    decay_tracks_c: float = 1.8  #: mean charged tracks from a c decay
    sv_efficiency_b: float = 0.75  #: chance a b decay gives a secondary vertex
    sv_efficiency_c: float = 0.25  #: chance a c decay gives a secondary vertex
    light_long_lived_rate: float = 0.30  #: light jets with a K0s/Lambda-like decay
    light_fake_sv_rate: float = 0.10  #: light jets with a fake vertex from prompt tracks
    mismeasured_track_rate: float = 0.15  #: tracks with a 3x wider d0 resolution (tails)
    fragmentation_suppression: float = 0.7  #: fewer fragmentation tracks per heavy-decay track

    def __post_init__(self) -> None:
        values = self.to_dict()
        bad = [
            k
            for k, v in values.items()
            if not (0 <= v <= 1 if k in _FRACTIONS else v >= 0 if k in _NON_NEGATIVE else v > 0)
        ]
        if bad:
            raise ConfigError(
                f"generator knob(s) out of range: { {k: values[k] for k in bad} }; rates and efficiencies lie in "
                "[0, 1], scales and mean track counts are positive, fragmentation_suppression >= 0"
            )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_config(cls, overrides: dict, where: str = "dataset.synthetic.difficulty") -> Difficulty:
        """The knobs of a config's ``difficulty`` section.

        Raises
        ------
        ConfigError
            On an unknown knob or one out of range, naming ``where``.
        """
        _check_knobs(overrides, where)
        try:
            return cls(**overrides)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None

    def scaled(self, factors: dict, where: str) -> Difficulty:
        """These knobs with some multiplied by ``factors`` ({knob: factor}): a mismodelled simulation.

        Raises
        ------
        ConfigError
            On an unknown knob or one scaled out of range, naming ``where``.
        """
        _check_knobs(factors, where)
        try:
            return Difficulty(**{k: float(f"{v * factors.get(k, 1.0):.12g}") for k, v in self.to_dict().items()})
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None


def _check_knobs(names, where: str) -> None:
    unknown = sorted(set(names) - set(Difficulty.__dataclass_fields__))
    if unknown:
        raise ConfigError(
            f"{where}: unknown generator knob(s) {unknown}; choose from {sorted(Difficulty.__dataclass_fields__)}"
        )
