"""The evaluation keys each figure reads (its rule's params), and which figures a study draws."""

from __future__ import annotations

#: Per figure, the ``evaluation`` keys it reads (dotted below ``figures``), passed
#: to its drawing function as keyword arguments named by the last part.
FIGURE_KEYS: dict[str, tuple[str, ...]] = {
    "fig4_cross_attacks": ("summary_epsilon",),
    "fig5_input_shifts": ("figures.input_features", "figures.input_epsilons", "restrict_impact"),
    "fig6_roc_vs_epsilon": ("epsilons",),
    "fig7_roc_per_checkpoint": ("summary_epsilon", "figures.checkpoints"),
    "fig8_nominal_vs_adversarial": ("summary_epsilon",),
    "fig9_auc_drop": (),
    "fig10_first_track_d0": ("figures.uncapped_epsilon",),
    "training_history": (),
    "attack_suite_vs_epsilon": (),
    "worst_case_per_checkpoint": ("summary_epsilon",),
    "auc_lost_vs_visibility": (),
    "scale_factors_per_bin": ("summary_epsilon",),
    "shifted_scale_factors": (),
    "premise": ("summary_epsilon",),
    "architectures": (),
}
#: The figures of one architecture's study (``architectures`` compares the studies of a run).
STUDY_FIGURES: tuple[str, ...] = tuple(name for name in FIGURE_KEYS if name != "architectures")
#: The figures of an audited model's study: no training history, no second model to compare with.
AUDIT_FIGURES: tuple[str, ...] = tuple(
    name for name in STUDY_FIGURES if name not in ("training_history", "fig8_nominal_vs_adversarial")
)
