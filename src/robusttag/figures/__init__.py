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

The pipeline draws a figure by name with :func:`make_figure`; :data:`FIGURES`
maps each name to its drawing function ``(inputs, path, **keywords)``, whose
keywords are the settings of :data:`robusttag.config.FIGURE_KEYS`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # never open a window; must precede every import of pyplot (in the modules below)

from ..errors import ConfigError  # noqa: E402
from .calibration import plot_scale_factors_per_bin, scale_factors_per_bin  # noqa: E402
from .comparison import architectures, plot_architectures  # noqa: E402
from .history import plot_training_history, training_history  # noqa: E402
from .inputs import fig5_input_shifts, fig10_first_track_d0, plot_first_track_d0, plot_input_shifts  # noqa: E402
from .mismodelling import plot_premise, plot_shifted_scale_factors, premise, shifted_scale_factors  # noqa: E402
from .robustness import (  # noqa: E402
    fig4_cross_attacks,
    fig9_auc_drop,
    plot_auc_drop_vs_auc,
    plot_cross_attacks,
    spread_checkpoints,
)
from .roc import (  # noqa: E402
    fig6_roc_vs_epsilon,
    fig7_roc_per_checkpoint,
    fig8_nominal_vs_adversarial,
    plot_roc_nominal_vs_adversarial,
    plot_roc_per_checkpoint,
    plot_roc_vs_epsilon,
)
from .suite import (  # noqa: E402
    attack_suite_vs_epsilon,
    auc_lost_vs_visibility,
    plot_attack_suite_vs_epsilon,
    plot_auc_lost_vs_visibility,
    plot_worst_case_per_checkpoint,
    worst_case_per_checkpoint,
)

__all__ = [
    "FIGURES",
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

#: Figure name (as in workflow/rules/figures.smk) -> drawing function
#: ``(inputs, path, **keywords)``; the keywords are the last parts of the
#: figure's keys in :data:`robusttag.config.FIGURE_KEYS`.
FIGURES: dict[str, Callable[..., tuple[Path, Path]]] = {
    "fig4_cross_attacks": fig4_cross_attacks,
    "fig5_input_shifts": fig5_input_shifts,
    "fig6_roc_vs_epsilon": fig6_roc_vs_epsilon,
    "fig7_roc_per_checkpoint": fig7_roc_per_checkpoint,
    "fig8_nominal_vs_adversarial": fig8_nominal_vs_adversarial,
    "fig9_auc_drop": fig9_auc_drop,
    "fig10_first_track_d0": fig10_first_track_d0,
    "training_history": training_history,
    "attack_suite_vs_epsilon": attack_suite_vs_epsilon,
    "worst_case_per_checkpoint": worst_case_per_checkpoint,
    "auc_lost_vs_visibility": auc_lost_vs_visibility,
    "scale_factors_per_bin": scale_factors_per_bin,
    "shifted_scale_factors": shifted_scale_factors,
    "premise": premise,
    "architectures": architectures,
}


def _keywords(function: Callable) -> list[str]:
    """List the keyword-only parameters of a drawing function: the settings it reads."""
    parameters = inspect.signature(function).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def make_figure(name: str, inputs: Sequence[str], path: str | os.PathLike, **keywords) -> tuple[Path, Path]:
    """Draw the pipeline's figure ``name`` from its input files.

    Parameters
    ----------
    name : str
        A figure of :data:`FIGURES` (the rule names of workflow/rules/figures.smk).
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
    if name not in FIGURES:
        raise ConfigError(f"unknown figure '{name}'; choose from {list(FIGURES)}")
    function = FIGURES[name]
    expected = _keywords(function)
    if sorted(keywords) != sorted(expected):
        raise ConfigError(f"figure '{name}' reads the settings {expected}, got {sorted(keywords)}")
    return function(list(inputs), path, **keywords)
