# The paper's figures, the training history and the strong suite's figures, each from the tables or the
# cached samples, each captioned in the report (workflow/report/*.rst).


report: "../report/workflow.rst"


# Each figure's inputs in a study ({root}: the architecture's folder, results/ for the DNN).
FIGURE_INPUTS = {
    "fig4_cross_attacks": ["{root}/tables/auc.csv"],
    "fig5_input_shifts": ["{root}/samples/fgsm_inputs.parquet"],
    "fig6_roc_vs_epsilon": ["{root}/tables/roc.parquet", "{root}/tables/auc.csv"],
    "fig7_roc_per_checkpoint": ["{root}/tables/roc.parquet", "{root}/tables/auc.csv"],
    "fig8_nominal_vs_adversarial": ["{root}/tables/roc.parquet", "{root}/tables/auc.csv"],
    "fig9_auc_drop": ["{root}/tables/auc.csv"],
    "fig10_first_track_d0": ["{root}/samples/fgsm_inputs.parquet"],
    "training_history": [],  # the reference seed's trainings (model_dirs)
    "attack_suite_vs_epsilon": ["{root}/tables/auc.csv", "{root}/tables/certified.csv"],
    "worst_case_per_checkpoint": ["{root}/tables/worst_case.csv"],
    "auc_lost_vs_visibility": [
        "{root}/tables/visibility.csv",
        *(["{root}/tables/shifted_visibility.csv"] if SHIFTED.samples else []),
    ],
    "scale_factors_per_bin": ["{root}/tables/scale_factors.csv", "{root}/tables/worst_case.csv"],
}
if SHIFTED.samples:  # robustness vs mismodelling
    FIGURE_INPUTS["shifted_scale_factors"] = ["{root}/tables/shifted_working_points.csv"]
    FIGURE_INPUTS["premise"] = ["{root}/tables/premise_points.csv", "{root}/tables/premise.csv"]
FIGURE_CATEGORY = {
    "fig4_cross_attacks": "Robustness",
    "fig5_input_shifts": "Inputs",
    "fig6_roc_vs_epsilon": "Vulnerability",
    "fig7_roc_per_checkpoint": "Vulnerability",
    "fig8_nominal_vs_adversarial": "Robustness",
    "fig9_auc_drop": "Robustness",
    "fig10_first_track_d0": "Inputs",
    "training_history": "Training",
    "attack_suite_vs_epsilon": "Strong attacks",
    "worst_case_per_checkpoint": "Strong attacks",
    "auc_lost_vs_visibility": "Strong attacks",
    "scale_factors_per_bin": "Calibration",
    "shifted_scale_factors": "Robustness vs mismodelling",
    "premise": "Robustness vs mismodelling",
}


for study, root in zip([*ARCHITECTURES, *EXTERNAL], ROOTS):  # an architecture's, or an audited model's
    for figure in study_figures(root):

        rule:
            name:
                figure if root == "results" else f"{figure}_{study}"
            input:
                [path.format(root=root) for path in FIGURE_INPUTS[figure]] or model_dirs(root),
            output:
                png=report(
                    f"{root}/figures/{figure}.png",
                    caption=f"../report/{figure}.rst",
                    category=FIGURE_CATEGORY[figure],
                    subcategory=study if len(ROOTS) > 1 else None,
                    labels={"figure": figure},
                ),
                pdf=f"{root}/figures/{figure}.pdf",
            log:
                f"{root}/logs/figures/{figure}.log",
            conda:
                "../envs/robusttag.yaml"
            threads: 1
            params:
                figure=figure,
                settings=rt.figure_config(figure, EVALUATION),
            script:
                "../scripts/figure.py"
