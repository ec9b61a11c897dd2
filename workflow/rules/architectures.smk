# With several architectures (training.model.architecture a list): their studies side by side, the
# architecture column, each against the first, the run's summary.md and the comparison figure.


rule compare_architectures:
    input:
        seeds=[f"{root}/tables/seeds.csv" for root in ARCHITECTURE_ROOTS],
        shifted_auc=[f"{root}/tables/shifted_auc.csv" for root in ARCHITECTURE_ROOTS] if SHIFTED.samples else [],
        shifted_working_points=(
            [f"{root}/tables/shifted_working_points.csv" for root in ARCHITECTURE_ROOTS] if SHIFTED.samples else []
        ),
        models=[folder for root in ARCHITECTURE_ROOTS for folder in model_dirs(root, seeds=SEEDS)],
    output:
        table=ARCHITECTURE_OUTPUTS["table"],
        summary=report(
            ARCHITECTURE_OUTPUTS["summary"],
            caption="../report/architectures_summary.rst",
            category="Summary",
        ),
    log:
        "results/logs/compare_architectures.log",
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


rule architectures:
    input:
        ARCHITECTURE_OUTPUTS["table"],
    output:
        png=report(
            "results/figures/architectures.png",
            caption="../report/architectures.rst",
            category="Architectures",
            labels={"figure": "architectures"},
        ),
        pdf="results/figures/architectures.pdf",
    log:
        "results/logs/figures/architectures.log",
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        figure="architectures",
        settings=rt.figure_config("architectures", EVALUATION),
    script:
        "../scripts/figure.py"
