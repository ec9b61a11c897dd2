"""Plotting functions for the paper's figures (Stein et al. 2022, Figs. 4-10) and the strong suite's.

Every function here only *draws*: it takes tables that the evaluation steps
have already computed (ROC curves, AUC values, input samples, training
histories) and writes one figure as ``<path>.png`` (150 dpi) and
``<path>.pdf``. Nothing is recomputed: no model is run, no attack crafted, no
ROC curve or AUC derived from scores.

``path`` is given *without* a suffix; its parent directory is created. Each
file is written under a temporary name in the same directory and then moved
into place with :func:`os.replace`, so a reader never sees a half-written
figure. Every figure is closed after saving.

When a requested model, epoch, epsilon, discriminator or feature is missing
from the table, the function raises :class:`~robusttag.errors.ResultsError`
naming what was asked for and what the table holds.

Input tables (long format, one row per point):

``roc``
    ``model, epoch, attack, attack_source, epsilon, discriminator,
    efficiency, mistag``; one curve per (model, epoch, attack,
    attack_source, epsilon, discriminator). ``attack`` is one of ``raw``,
    ``fgsm``, ``noise``, ``shift_up``, ``shift_down``; ``attack_source`` is the
    model the attack was crafted on (for ``raw`` it equals ``model``).
``auc``
    ``model, epoch, attack, attack_source, epsilon, discriminator, auc,
    eff_at_mistag_0.01, eff_at_mistag_0.1, scale_factor_at_mistag_0.01,
    selected``; ``selected`` marks the model's chosen checkpoint.
``samples``
    ``model, label, attack, epsilon, capped`` plus one column per sampled
    feature in raw physical units, named as the model inputs (``trk0_d0``);
    ``label`` is a training label of :data:`robusttag.features.LABELS`.
``history``
    ``epoch, train_loss, val_loss, lr, seconds, jets_per_s``.
``worst_case``, ``certified``, ``visibility``
    The strong suite's tables (see :mod:`robusttag.figures.suite`).
``scale_factors``
    The fixed-cut scale factors per (pT, |eta|) bin (see :mod:`robusttag.figures.calibration`).
``shifted_working_points``, ``premise_points``, ``premise``
    The shifted samples' scale factors and the premise (see :mod:`robusttag.figures.mismodelling`).
``architectures``
    The architectures compared (see :mod:`robusttag.analysis.comparison` and :mod:`robusttag.figures.comparison`).

The pipeline draws a figure by name with :func:`make_figure`: the registry
:data:`robusttag.config.FIGURES` names each figure's drawing function
``(inputs, path, **keywords)``, its inputs and its settings (the keywords).
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # never open a window; must precede every import of pyplot (in the modules below)

from ..config import FIGURES  # noqa: E402
from ..errors import ConfigError  # noqa: E402
from .base import spread_checkpoints  # noqa: E402
from .calibration import plot_scale_factors_per_bin  # noqa: E402
from .comparison import plot_architectures  # noqa: E402
from .history import plot_training_history  # noqa: E402
from .inputs import plot_first_track_d0, plot_input_shifts  # noqa: E402
from .mismodelling import plot_premise, plot_shifted_scale_factors  # noqa: E402
from .robustness import plot_auc_drop_vs_auc, plot_cross_attacks  # noqa: E402
from .roc import plot_roc_nominal_vs_adversarial, plot_roc_per_checkpoint, plot_roc_vs_epsilon  # noqa: E402
from .suite import (  # noqa: E402
    plot_attack_suite_vs_epsilon,
    plot_auc_lost_vs_visibility,
    plot_worst_case_per_checkpoint,
)

__all__ = [
    "drawing_function",
    "make_figure",
    "plot_architectures",
    "plot_attack_suite_vs_epsilon",
    "plot_auc_lost_vs_visibility",
    "plot_auc_drop_vs_auc",
    "plot_cross_attacks",
    "plot_first_track_d0",
    "plot_input_shifts",
    "plot_premise",
    "plot_roc_nominal_vs_adversarial",
    "plot_roc_per_checkpoint",
    "plot_roc_vs_epsilon",
    "plot_scale_factors_per_bin",
    "plot_shifted_scale_factors",
    "plot_training_history",
    "plot_worst_case_per_checkpoint",
    "spread_checkpoints",
]


def drawing_function(name: str) -> Callable[..., tuple[Path, Path]]:
    """The function that draws the figure ``name`` of :data:`robusttag.config.FIGURES` from its input files
    and settings, ``(inputs, path, **keywords)``.

    Raises
    ------
    ConfigError
        For a figure that is not registered.
    """
    if name not in FIGURES:
        raise ConfigError(f"unknown figure '{name}'; choose from {list(FIGURES)}")
    module, function = FIGURES[name].draw.split(".")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def _keywords(function: Callable) -> list[str]:
    """List the keyword-only parameters of a drawing function: the settings it reads."""
    parameters = inspect.signature(function).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def make_figure(name: str, inputs: Sequence[str], path: str | os.PathLike, **keywords) -> tuple[Path, Path]:
    """Draw the pipeline's figure ``name`` from its input files.

    Parameters
    ----------
    name : str
        A figure of :data:`robusttag.config.FIGURES` (its rule's name in a study of the DNN).
    inputs : sequence of str
        The figure's input files (the rule's input).
    path : str or os.PathLike
        The output without a suffix; ``<path>.png`` and ``<path>.pdf`` are written.
    **keywords
        Exactly the settings the figure reads
        (:func:`robusttag.config.figure_config`).

    Returns
    -------
    tuple of pathlib.Path
        The PNG and the PDF written.

    Raises
    ------
    ConfigError
        For an unknown figure, or keywords other than the figure's settings.
    ResultsError
        When an input lacks what the figure needs.
    """
    function = drawing_function(name)
    expected = _keywords(function)
    if sorted(keywords) != sorted(expected):
        raise ConfigError(f"figure '{name}' reads the settings {expected}, got {sorted(keywords)}")
    return function(list(inputs), path, **keywords)
