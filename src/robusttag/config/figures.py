"""Every figure of the pipeline, registered once: what draws it, what it reads, the settings it takes and where
the report files it. The workflow makes one rule per figure and study from this registry
(workflow/rules/figures.smk), the report's caption is ``workflow/report/{name}.rst``, and
:func:`robusttag.figures.make_figure` finds the drawing function here. Torch- and matplotlib-free: Snakemake
reads it when it parses the workflow.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One figure.

    ``draw`` is its drawing function, ``module.function`` in :mod:`robusttag.figures`; it reads the study's
    ``tables`` (named as in ``{root}/tables/``), the FGSM input samples (``fgsm_samples``), the reference
    seed's training folders (``histories``), and ``shifted_tables`` where the run has shifted samples.
    ``keys`` are the ``evaluation`` keys it reads (dotted below ``figures``), passed as keyword arguments
    named by their last part. ``shifted`` figures exist only with shifted samples; ``audited`` ones are drawn
    for an audited model too; ``comparison`` is the run's figure of the architectures side by side.
    """

    draw: str
    category: str
    tables: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    fgsm_samples: bool = False
    histories: bool = False
    shifted_tables: tuple[str, ...] = ()
    shifted: bool = False
    audited: bool = True
    comparison: bool = False
    defences: bool = False  #: exists only where a defence against mismodelling is trained


_ROC = ("roc.parquet", "auc.csv")

#: Figure name (its rule, its files' stem, its caption's) -> its registration.
FIGURES: dict[str, Figure] = {
    "fig4_cross_attacks": Figure("robustness.fig4_cross_attacks", "Robustness", ("auc.csv",), ("summary_epsilon",)),
    "fig5_input_shifts": Figure(
        "inputs.fig5_input_shifts",
        "Inputs",
        keys=("figures.input_features", "figures.input_epsilons", "restrict_impact"),
        fgsm_samples=True,
    ),
    "fig6_roc_vs_epsilon": Figure("roc.fig6_roc_vs_epsilon", "Vulnerability", _ROC, ("epsilons",)),
    "fig7_roc_per_checkpoint": Figure(
        "roc.fig7_roc_per_checkpoint", "Vulnerability", _ROC, ("summary_epsilon", "figures.checkpoints")
    ),
    "fig8_nominal_vs_adversarial": Figure(
        "roc.fig8_nominal_vs_adversarial", "Robustness", _ROC, ("summary_epsilon",), audited=False
    ),
    "fig9_auc_drop": Figure("robustness.fig9_auc_drop", "Robustness", ("auc.csv",)),
    "fig10_first_track_d0": Figure(
        "inputs.fig10_first_track_d0", "Inputs", keys=("figures.uncapped_epsilon",), fgsm_samples=True
    ),
    "training_history": Figure("history.training_history", "Training", histories=True, audited=False),
    "attack_suite_vs_epsilon": Figure("suite.attack_suite_vs_epsilon", "Strong attacks", ("auc.csv", "certified.csv")),
    "worst_case_per_checkpoint": Figure(
        "suite.worst_case_per_checkpoint", "Strong attacks", ("worst_case.csv",), ("summary_epsilon",)
    ),
    "distance_to_working_point": Figure(
        "distances.distance_to_working_point", "Strong attacks", ("distance_curves.csv",)
    ),
    "auc_lost_vs_visibility": Figure(
        "suite.auc_lost_vs_visibility",
        "Strong attacks",
        ("visibility.csv",),
        shifted_tables=("shifted_visibility.csv",),
    ),
    "scale_factors_per_bin": Figure(
        "calibration.scale_factors_per_bin",
        "Calibration",
        ("scale_factors.csv", "worst_case.csv"),
        ("summary_epsilon",),
    ),
    "shifted_scale_factors": Figure(
        "mismodelling.shifted_scale_factors",
        "Robustness vs mismodelling",
        ("shifted_working_points.csv",),
        shifted=True,
    ),
    "premise": Figure(
        "mismodelling.premise",
        "Robustness vs mismodelling",
        ("premise_points.csv", "premise.csv"),
        ("summary_epsilon",),
        shifted=True,
    ),
    "defences": Figure(
        "mismodelling.defences",
        "Robustness vs mismodelling",
        ("defences.csv", "seeds.csv"),
        ("summary_epsilon",),
        shifted=True,
        audited=False,
        defences=True,
    ),
    "architectures": Figure(
        "comparison.architectures", "Architectures", ("architectures.csv",), audited=False, comparison=True
    ),
}

#: Per figure, the ``evaluation`` keys it reads (:attr:`Figure.keys`).
FIGURE_KEYS: dict[str, tuple[str, ...]] = {name: figure.keys for name, figure in FIGURES.items()}
#: The figures of one study, with shifted samples.
STUDY_FIGURES: tuple[str, ...] = tuple(name for name, figure in FIGURES.items() if not figure.comparison)
#: The figures of an audited model's study: no training history, no second model to compare with.
AUDIT_FIGURES: tuple[str, ...] = tuple(name for name in STUDY_FIGURES if FIGURES[name].audited)


def study_figures(audit: bool, shifted: bool, defences: bool = False) -> list[str]:
    """The figures a study draws: an architecture's or (``audit``) an audited model's, with or without
    shifted samples in the run, and with or without a defence against mismodelling trained.
    """
    names = AUDIT_FIGURES if audit else STUDY_FIGURES
    return [
        name for name in names if (shifted or not FIGURES[name].shifted) and (defences or not FIGURES[name].defences)
    ]
