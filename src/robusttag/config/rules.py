"""What each rule receives as params: the part of the config its output depends on, so that Snakemake reruns
a job only when one of those keys changes (and a job's settings class reads them back, :func:`from_params`).
"""

from __future__ import annotations

from dataclasses import asdict

from ..errors import ConfigError
from .evaluation import (
    BASELINE_KEYS,
    DistanceSettings,
    EvaluationSettings,
    ExternalModel,
    SampleSettings,
    ScoringSettings,
    ShiftedSamples,
    StrongAttackSettings,
    TableSettings,
)
from .figures import FIGURE_KEYS
from .schema import as_tuples, only_known
from .training import ARCHITECTURE_KEYS, DNN, MODE_SECTIONS, NOT_COMMON_KEYS, TrainingSettings


def training_config(section: dict, mode: str, seed: int, architecture: str = DNN, shifted: dict | None = None) -> dict:
    """The part of the ``training`` section that one training (architecture, mode and seed) depends on
    (the rule's params): the common keys, its mode's sections (MODE_SECTIONS) and its architecture's keys
    (ARCHITECTURE_KEYS), neither the other seeds nor the lists of modes and architectures. Domain training's
    target is resolved in ``shifted`` (``evaluation.shifted_samples``) to its declaration (:func:`domain_target`).
    """
    kept = {k: v for k, v in section.items() if k not in NOT_COMMON_KEYS or k in MODE_SECTIONS.get(mode, ())}
    if mode == "domain":
        kept["domain"] = dict(section.get("domain", {})) | {"target": domain_target(section, shifted or {})}
    model = section.get("model", {})
    own = ("dropout", *ARCHITECTURE_KEYS[architecture])
    return kept | {"seed": seed, "model": {k: v for k, v in model.items() if k in own} | {"architecture": architecture}}


def domain_target(section: dict, shifted: dict) -> dict:
    """The declaration of domain training's target (``training.domain.target``; None: the first shifted sample) as
    ``ShiftedSample.to_config``, with the shifted samples' seed and size when generated (what its jets depend on).

    Raises
    ------
    ConfigError
        When no shifted sample is declared or none has the name.
    """
    samples = ShiftedSamples.from_config(shifted)
    name = section.get("domain", {}).get("target") or (samples.samples[0].name if samples.samples else None)
    sample = samples.sample(name) if name else None
    if sample is None:
        raise ConfigError(
            f"training.domain.target: {name or 'none given'} is no sample of evaluation.shifted_samples "
            f"{samples.names()}; domain training adapts to (half of) one of them"
        )
    size = {"seed": samples.seed, "n_jets": samples.n_jets} if sample.generated else {}
    return sample.to_config() | size


def preprocess_config(section: dict, layout: str) -> dict:
    """The part of the ``preprocess`` section the preprocessing of one layout depends on (the rule's params),
    with the layout: the flat layout does not read ``max_tracks``, the sequence layout not ``n_tracks``.
    """
    unread = "max_tracks" if layout == "flat" else "n_tracks"
    return {k: v for k, v in section.items() if k != unread} | {"layout": layout}


def loss_config(section: dict) -> dict:
    """The part of the ``training`` section an attack's gradient depends on (the scoring rules' params)."""
    settings = TrainingSettings.from_config(section, "nominal")
    return asdict(settings.loss)


def external_config(model: ExternalModel) -> dict:
    """An audited model's declaration as a rule's params (and back: ``ExternalModel(**params)``)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(model).items()}


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
    return cls(**as_tuples(only_known(cls, dict(params), cls.__name__)))


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
        values["certified_jets"], values["visibility_jets"], values["exact_domains"] = 0, 0, None
        for key in ("certified_method", "invisible_p_value", "invisible_correlation"):  # nothing there reads them
            del values[key]
    return values


def distance_config(evaluation: dict) -> dict:
    """The distance rule's params: the jets, the box and the search."""
    return _subset(DistanceSettings, evaluation)


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
