# The paper's figures, the training history and the strong suite's figures, each from the tables or the
# cached samples, each captioned in the report (workflow/report/*.rst).


report: "../report/workflow.rst"


FIGURE_INPUTS = {
    "fig4_cross_attacks": ["results/tables/auc.csv"],
    "fig5_input_shifts": ["results/samples/fgsm_inputs.parquet"],
    "fig6_roc_vs_epsilon": ["results/tables/roc.parquet", "results/tables/auc.csv"],
    "fig7_roc_per_checkpoint": ["results/tables/roc.parquet", "results/tables/auc.csv"],
    "fig8_nominal_vs_adversarial": ["results/tables/roc.parquet", "results/tables/auc.csv"],
    "fig9_auc_drop": ["results/tables/auc.csv"],
    "fig10_first_track_d0": ["results/samples/fgsm_inputs.parquet"],
    "training_history": model_dirs(),
    "attack_suite_vs_epsilon": ["results/tables/auc.csv", "results/tables/certified.csv"],
    "worst_case_per_checkpoint": ["results/tables/worst_case.csv"],
    "auc_lost_vs_visibility": [
        "results/tables/visibility.csv",
        *([shifted_table_files()["visibility"]] if SHIFTED.samples else []),
    ],
    "scale_factors_per_bin": ["results/tables/scale_factors.csv", "results/tables/worst_case.csv"],
}
if SHIFTED.samples:  # robustness vs mismodelling
    FIGURE_INPUTS["shifted_scale_factors"] = [shifted_table_files()["working_points"]]
    FIGURE_INPUTS["premise"] = ["results/tables/premise_points.csv", "results/tables/premise.csv"]
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


for figure, figure_inputs in FIGURE_INPUTS.items():

    rule:
        name:
            figure
        input:
            figure_inputs,
        output:
            png=report(
                f"results/figures/{figure}.png",
                caption=f"../report/{figure}.rst",
                category=FIGURE_CATEGORY[figure],
                labels={"figure": figure},
            ),
            pdf=f"results/figures/{figure}.pdf",
        log:
            f"results/logs/figures/{figure}.log",
        conda:
            "../../envs/robusttag.yaml"
        threads: 1
        params:
            figure=figure,
            settings=rt.figure_config(figure, EVALUATION),
        script:
            "../scripts/figure.py"
