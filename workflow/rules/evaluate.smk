# Attacks on every scanned checkpoint, the tables and the figures.
# Scores per (model, checkpoint): one input-gradient pass serves every epsilon.
# The many small scoring jobs form one group, so a cluster gets few jobs.

wildcard_constraints:
    model="|".join(MODELS),
    epoch=r"\d{3}",


rule score_checkpoint:
    input:
        models="results/models/{model}",
        test=preprocessed()["test"],
        summary=preprocessed()["summary"],
    output:
        "results/scores/{model}/epoch_{epoch}.parquet",
    log:
        "results/logs/scores/{model}_epoch_{epoch}.log",
    params:
        evaluation=config["evaluation"],
        training=config["training"],
        checkpoint="results/models/{model}/epoch_{epoch}.pt",
    group:
        "scores"
    resources:
        gpu=1,
    threads: 1
    conda:
        "../../envs/robusttag.yaml"
    script:
        "../scripts/score_checkpoint.py"


rule score_extra_attacks:
    input:
        models=expand("results/models/{model}", model=MODELS),
        test=preprocessed()["test"],
        summary=preprocessed()["summary"],
    output:
        "results/scores/{model}/epoch_{epoch}_extra_attacks.parquet",
    log:
        "results/logs/scores/{model}_epoch_{epoch}_extra_attacks.log",
    params:
        evaluation=config["evaluation"],
        training=config["training"],
        checkpoint="results/models/{model}/epoch_{epoch}.pt",
    group:
        "scores"
    resources:
        gpu=1,
    threads: 1
    conda:
        "../../envs/robusttag.yaml"
    script:
        "../scripts/score_checkpoint.py"


rule adversarial_samples:
    input:
        models=expand("results/models/{model}", model=MODELS),
        test=preprocessed()["test"],
        summary=preprocessed()["summary"],
    output:
        "results/samples/fgsm_inputs.parquet",
    log:
        "results/logs/adversarial_samples.log",
    params:
        evaluation=config["evaluation"],
        training=config["training"],
    resources:
        gpu=1,
    threads: 1
    conda:
        "../../envs/robusttag.yaml"
    script:
        "../scripts/adversarial_samples.py"


rule tables:
    input:
        scores=score_files,
        models=expand("results/models/{model}", model=MODELS),
    output:
        auc="results/tables/auc.csv",
        roc="results/tables/roc.parquet",
        summary=report(
            "results/tables/summary.md",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "results/logs/tables.log",
    params:
        evaluation=config["evaluation"],
    threads: 1
    conda:
        "../../envs/robusttag.yaml"
    script:
        "../scripts/tables.py"
