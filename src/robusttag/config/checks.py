"""The meaning checks of a config: what the schema cannot say, checked before any job runs."""

from __future__ import annotations

from ..errors import ConfigError
from .data import DatasetSettings, Difficulty, PreprocessSettings
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
