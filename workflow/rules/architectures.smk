# With several architectures (training.model.architecture a list): their studies side by side, the
# architecture column, each against the first, and the run's summary.md (the comparison figure: figures.smk).


rule compare_architectures:
    input:
        seeds=[paths.table("seeds.csv", root) for root in ARCHITECTURE_ROOTS],
        shifted_auc=[paths.shifted_tables(root)["auc"] for root in ARCHITECTURE_ROOTS] if SHIFTED.samples else [],
        shifted_working_points=(
            [paths.shifted_tables(root)["working_points"] for root in ARCHITECTURE_ROOTS] if SHIFTED.samples else []
        ),
        models=[folder for root in ARCHITECTURE_ROOTS for folder in model_dirs(root, seeds=SEEDS)],
    output:
        table=paths.ARCHITECTURE_OUTPUTS["table"],
        summary=report(
            paths.ARCHITECTURE_OUTPUTS["summary"],
            caption="../report/architectures_summary.rst",
            category="Summary",
        ),
    log:
        paths.log("compare_architectures"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        architectures=ARCHITECTURES,
        roots=ARCHITECTURE_ROOTS,
        epsilon=rt.EvaluationSettings.from_config(EVALUATION).summary_epsilon,
        reference_seed=REFERENCE_SEED,
    script:
        "../scripts/compare_architectures.py"
