"""The meaning checks of a config: what the schema cannot say, checked before any job runs."""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import ConfigError
from .data import (
    PYTHIA_DATASET,
    DatasetSettings,
    Difficulty,
    PreprocessSettings,
    PythiaSample,
    TrackerSettings,
    check_pythia_settings,
)
from .evaluation import NOMINAL_TWIN, EvaluationSettings, ShiftedSamples
from .rules import training_config
from .training import TrainingSettings, training_architectures, training_modes, training_seeds


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


def pythia_samples(dataset: dict, section: dict) -> dict[str, PythiaSample]:
    """{name: what to make} of every sample of the Pythia source: the dataset, and with generated shifted
    samples their nominal twin and each variation ({} when the source is not Pythia).

    The twin has the shifted samples' seed and size; a generator variation its own seed drawn from theirs and its
    name (an independent sample); a detector variation reads the twin's events (the same jets).

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
            seed = int(np.random.SeedSequence([shifted.seed, zlib.crc32(s.name.encode())]).generate_state(1)[0])
            varied = generator | {"settings": {**pythia.settings, **s.pythia}}
            samples[s.name] = PythiaSample(s.name, s.name, seed, shifted.n_jets, pythia.chunk_jets, varied, tracker)
    return samples


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
    shifted_difficulties(dataset, shifted)
    check_pythia_samples(pythia_samples(dataset, shifted))
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
