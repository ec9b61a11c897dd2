"""The meaning checks of a config: what the schema cannot say, checked before any job runs."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .data import (
    PYTHIA_DATASET,
    DatasetSettings,
    Difficulty,
    PreprocessSettings,
    PythiaSample,
    TrackerSettings,
    Variation,
    check_pythia_settings,
)
from .evaluation import NOMINAL_TWIN, EvaluationSettings, ShiftedSamples, check_onnx_file
from .rules import training_config
from .training import (
    NOMINAL,
    VARIED_MODES,
    TrainingSettings,
    training_architectures,
    training_modes,
    training_seeds,
)


def shifted_difficulties(dataset: dict, section: dict) -> dict[str, dict]:
    """{synthetic sample (the twin included): its full generator knobs}, the dataset's knobs scaled.

    Raises
    ------
    ConfigError
        On an unknown knob, one scaled out of range, or a synthetic shift of a dataset that is not synthetic
        (the generator cannot mismodel a simulation it did not make).
    """
    settings = DatasetSettings.from_config(dataset)
    shifted = ShiftedSamples.from_config(section)
    synthetic = [s for s in shifted.samples if s.synthetic]
    _made_by_the_source(shifted, settings.source)
    nominal = Difficulty.from_config(settings.synthetic.difficulty)
    knobs = {NOMINAL_TWIN: nominal.to_dict()} if synthetic else {}
    for s in synthetic:
        knobs[s.name] = nominal.scaled(s.scale, f"evaluation.shifted_samples: sample '{s.name}'").to_dict()
    return knobs


def _made_by_the_source(shifted: ShiftedSamples, source: str) -> None:
    """A generated sample mismodels the simulation of the dataset's own generator, no other.

    Raises
    ------
    ConfigError
        On a sample of another generator than ``dataset.source``.
    """
    for kind, made in (("synthetic", lambda s: s.synthetic), ("pythia", lambda s: s.pythia_made)):
        foreign = [s.name for s in shifted.samples if made(s)]
        if foreign and source != kind:
            what = "scale the embedded generator's knobs" if kind == "synthetic" else "set Pythia or tracker knobs"
            raise ConfigError(
                f"evaluation.shifted_samples: {foreign} {what}, but dataset.source is {source}; a generated "
                f"sample must come from the dataset's generator (give files for samples of a {source} dataset)"
            )


def trained_variations(training: dict) -> list[Variation]:
    """The ``training.variations`` some training reads (a mode of VARIED_MODES is trained; else none)."""
    if not set(training_modes(training)) & set(VARIED_MODES):
        return []
    return list(TrainingSettings.from_config(training, NOMINAL).variations)


#: What a held-out sample is to the trainings on training.variations: a new value of a knob they trained on, a
#: knob they never trained on, a kind of variation (generator or detector) of which they trained none, a user's
#: sample (files), or, with no variation trained, simply held out.
HELD_OUT_KINDS = ("new value of a trained knob", "knob never trained", "kind never trained", "other sample", "held out")


def held_out_kinds(training: dict, shifted_section: dict) -> dict[str, str]:
    """{shifted sample: its :data:`HELD_OUT_KINDS` entry} against the training variations trained on."""
    variations = trained_variations(training)
    trained = {"generator": set(), "detector": set()}
    for v in variations:
        for kind, knobs in v.knobs().items():
            trained[kind] |= set(knobs)
    kinds = {}
    for s in ShiftedSamples.from_config(shifted_section).samples:
        changed = {kind: set(knobs) for kind, knobs in s.knobs().items() if knobs}
        if s.files or not variations:
            kinds[s.name] = HELD_OUT_KINDS[3] if s.files else HELD_OUT_KINDS[4]
        elif any(not trained[kind] for kind in changed):
            kinds[s.name] = HELD_OUT_KINDS[2]
        else:
            kinds[s.name] = HELD_OUT_KINDS[0 if all(knobs <= trained[k] for k, knobs in changed.items()) else 1]
    return kinds


def variation_difficulties(dataset: dict, variations: list[Variation]) -> dict[str, dict]:
    """{training variation of the embedded generator: its full knobs}, the dataset's knobs scaled.

    Raises
    ------
    ConfigError
        On an unknown knob, or one scaled out of range.
    """
    nominal = Difficulty.from_config(DatasetSettings.from_config(dataset).synthetic.difficulty)
    return {v.name: nominal.scaled(v.scale, v.where()).to_dict() for v in variations if v.synthetic}


#: The Pythia source's name of a training variation's sample (results/pythia/{name}/)
def training_sample(variation: str) -> str:
    return f"training_{variation}"


def pythia_samples(dataset: dict, section: dict, variations: list[Variation] = ()) -> dict[str, PythiaSample]:
    """{name: what to make} of every sample of the Pythia source: the dataset; with generated shifted samples
    their nominal twin and each variation; and each training variation (:func:`training_sample`) ({} when the
    source is not Pythia).

    The twin has the shifted samples' seed and size; a generator variation its own seed drawn from theirs and its
    name (an independent sample); a detector variation reads the twin's events (the same jets). A training
    variation is made likewise at the dataset's seed and size, a detector variation from the dataset's events.

    Raises
    ------
    ConfigError
        On a sample of another generator, or a tracker knob that is unknown or out of range.
    """
    settings = DatasetSettings.from_config(dataset)
    shifted = ShiftedSamples.from_config(section)
    _made_by_the_source(shifted, settings.source)
    if settings.source != "pythia":
        return {}
    pythia = settings.pythia
    generator = {k: getattr(pythia, k) for k in ("flavour_shares", "pt_hat_min", "pt_hat_bias", "labels", "settings")}
    TrackerSettings.from_config(pythia.tracker, "dataset.pythia.tracker")
    samples = {
        PYTHIA_DATASET: PythiaSample(
            PYTHIA_DATASET,
            PYTHIA_DATASET,
            pythia.seed,
            pythia.n_jets,
            pythia.chunk_jets,
            generator,
            dict(pythia.tracker),
        )
    }
    made = [s for s in shifted.samples if s.pythia_made]
    if made:
        twin = PythiaSample(
            NOMINAL_TWIN, NOMINAL_TWIN, shifted.seed, shifted.n_jets, pythia.chunk_jets, generator, dict(pythia.tracker)
        )
        samples[NOMINAL_TWIN] = twin
    for s in made:
        tracker = {**pythia.tracker, **s.tracker}
        TrackerSettings.from_config(tracker, f"evaluation.shifted_samples: sample '{s.name}'")
        if s.paired:
            samples[s.name] = PythiaSample(
                s.name, NOMINAL_TWIN, shifted.seed, shifted.n_jets, pythia.chunk_jets, generator, tracker
            )
        else:
            seed = _own_seed(shifted.seed, s.name)
            varied = generator | {"settings": {**pythia.settings, **s.pythia}}
            samples[s.name] = PythiaSample(s.name, s.name, seed, shifted.n_jets, pythia.chunk_jets, varied, tracker)
    for v in variations:
        name = training_sample(v.name)
        if name in samples:
            raise ConfigError(f"{v.where()}: its sample's name {name} is an evaluation.shifted_samples sample's")
        tracker = {**pythia.tracker, **v.tracker}
        TrackerSettings.from_config(tracker, v.where())
        if v.paired:
            samples[name] = PythiaSample(
                name, PYTHIA_DATASET, pythia.seed, pythia.n_jets, pythia.chunk_jets, generator, tracker
            )
        else:
            varied = generator | {"settings": {**pythia.settings, **v.pythia}}
            seed = _own_seed(pythia.seed, name)
            samples[name] = PythiaSample(name, name, seed, pythia.n_jets, pythia.chunk_jets, varied, tracker)
    return samples


def _own_seed(seed: int, name: str) -> int:
    """An independent sample's seed, drawn from its family's seed and its name."""
    return int(np.random.SeedSequence([seed, zlib.crc32(name.encode())]).generate_state(1)[0])


def check_held_out(dataset: dict, variations: list[Variation], shifted: ShiftedSamples) -> None:
    """The held-out rule: no sample a model is judged on as held out is a variation it trained on (the same name,
    or the same generator knobs, Pythia settings and tracker).

    Raises
    ------
    ConfigError
        Naming the training variation and the held-out sample.
    """
    settings = DatasetSettings.from_config(dataset)
    for v in variations:
        for s in shifted.samples:
            if s.generated and (v.name == s.name or _effect(v, settings) == _effect(s, settings)):
                raise ConfigError(
                    f"{v.where()} and evaluation.shifted_samples: sample '{s.name}' are the same variation "
                    f"({v.to_config()} against {s.to_config()}): a model trained on it cannot be judged on it as "
                    "held out; change or drop one of them"
                )


def _effect(variation: Variation, settings: DatasetSettings) -> tuple:
    """What a variation makes of the nominal simulation: the full generator knobs, Pythia settings and tracker."""
    if variation.synthetic:
        knobs = Difficulty.from_config(settings.synthetic.difficulty).scaled(variation.scale, variation.where())
        return ("synthetic", tuple(sorted(knobs.to_dict().items())))
    pythia = {**settings.pythia.settings, **variation.pythia}
    tracker = {**settings.pythia.tracker, **variation.tracker}
    return ("pythia", tuple(sorted((k, str(v)) for k, v in pythia.items())), tuple(sorted(tracker.items())))


def check_variations_made_by_the_source(variations: list[Variation], source: str) -> None:
    """A training variation varies the dataset's own generator.

    Raises
    ------
    ConfigError
        On a variation of another generator than ``dataset.source`` (files are no training variation).
    """
    for v in variations:
        kind = "synthetic" if v.synthetic else "pythia"
        if kind != source:
            raise ConfigError(
                f"{v.where()} varies the {kind} generator, but dataset.source is {source}: a training variation "
                "must remake the dataset's own jets with another setting (the synthetic and pythia sources)"
            )


def check_pythia_samples(samples: dict[str, PythiaSample]) -> None:
    """Pythia reads every generator setting of every sample (unknown keys, values out of range), before any job.

    Raises
    ------
    ConfigError
        Naming the sample and the setting.
    """
    checked = set()
    for sample in samples.values():
        settings = sample.generator["settings"]
        key = tuple(sorted((k, str(v)) for k, v in settings.items()))
        if key not in checked:
            check_pythia_settings(settings, sample.name)
            checked.add(key)


def check_config(config: dict) -> None:
    """What the schema cannot say, checked before any job runs: every section
    makes its settings, and the figures' features are among the inputs that
    ``preprocess.n_tracks`` makes.

    Raises
    ------
    ConfigError
        Naming the first key that is wrong and what would be accepted.
    """
    dataset, shifted = config.get("dataset", {}), config.get("evaluation", {}).get("shifted_samples", {})
    training = config.get("training", {})
    variations = trained_variations(training)
    check_variations_made_by_the_source(variations, DatasetSettings.from_config(dataset).source)
    check_held_out(dataset, variations, ShiftedSamples.from_config(shifted))
    shifted_difficulties(dataset, shifted)
    variation_difficulties(dataset, variations)
    check_pythia_samples(pythia_samples(dataset, shifted, variations))
    preprocess = PreprocessSettings.from_config(config.get("preprocess", {}))
    for architecture in training_architectures(training):
        for mode in training_modes(training):
            TrainingSettings.from_config(
                training_config(training, mode, training_seeds(training)[0], architecture, shifted), mode
            )
    evaluation = EvaluationSettings.from_config(config.get("evaluation", {}))
    for model in evaluation.external_models:  # a file a job of the run makes is checked when it is imported
        if model.is_onnx and Path(model.file).is_file():
            check_onnx_file(model.file, f"evaluation.external_models: model '{model.name}' (file: {model.file})")
    names = preprocess.input_names()
    unknown = [name for name in evaluation.samples.sampled_features() if name not in names]
    if unknown:
        raise ConfigError(
            f"evaluation.figures.input_features: {unknown} are not among the {len(names)} inputs of "
            f"preprocess.n_tracks = {preprocess.n_tracks} (e.g. {names[0]}, ..., {names[-1]})"
        )
