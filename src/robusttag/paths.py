"""Where every artifact of a run lives under ``results/``: asked by the workflow's rules and by the library
alike, so that a path is spelled in one place. Torch-free: Snakemake imports it when it parses the workflow.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import ARCHITECTURES, DNN
from .errors import ConfigError, ResultsError

RESULTS = "results"


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


def audit_root(name: str) -> str:
    """The folder of the study of an audited model (``evaluation.external_models``)."""
    return f"results/external/{name}"


def preprocessed_dir(layout: str) -> str:
    """Where the preprocessing of a layout writes its splits and ``preprocessing.json``."""
    return "results/preprocessed" if layout == "flat" else f"results/preprocessed_{layout}"


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
