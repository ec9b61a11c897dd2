# Attacks on every scanned checkpoint, the input samples and the tables.
# Scores per (model, checkpoint): one input-gradient pass serves every epsilon.
# The many small scoring jobs form one group, so a cluster gets few jobs.
# Each rule receives only the settings its output depends on.


rule score_checkpoint:
    input:
        model="{root}/models/{model}/seed_{seed}",
        test=study_data("test"),
        summary=study_data("summary"),
        transfer_from=[],
        scale=budget_scale_inputs,
    output:
        "{root}/scores/{model}/seed_{seed}/epoch_{epoch}.parquet",
    log:
        "{root}/logs/scores/{model}_seed_{seed}_epoch_{epoch}.log",
    group:
        "scores"
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        epoch=lambda wildcards: int(wildcards.epoch),
        scoring=rt.scoring_config(EVALUATION, baselines=False),
        loss=rt.loss_config(config["training"]),
        white_box=True,
        baselines=False,
    script:
        "../scripts/score_checkpoint.py"


# At the selected checkpoint: the baselines and FGSM transferred from the other models.
use rule score_checkpoint as score_extra_attacks with:
    input:
        model="{root}/models/{model}/seed_{seed}",
        test=study_data("test"),
        summary=study_data("summary"),
        transfer_from=other_models,
        scale=budget_scale_inputs,
    output:
        "{root}/scores/{model}/seed_{seed}/epoch_{epoch}_extra_attacks.parquet",
    log:
        "{root}/logs/scores/{model}_seed_{seed}_epoch_{epoch}_extra_attacks.log",
    params:
        epoch=lambda wildcards: int(wildcards.epoch),
        scoring=rt.scoring_config(EVALUATION, baselines=True),
        loss=rt.loss_config(config["training"]),
        white_box=False,
        baselines=True,


# The strong suite (PGD, NGM, targeted) at the selected checkpoint, every epsilon.
rule score_strong_attacks:
    input:
        model="{root}/models/{model}/seed_{seed}",
        test=study_data("test"),
        summary=study_data("summary"),
        scale=budget_scale_inputs,
    output:
        scores="{root}/scores/{model}/seed_{seed}/epoch_{epoch}_strong_attacks.parquet",
        checks="{root}/checks/{model}/seed_{seed}/epoch_{epoch}.csv",
        certified="{root}/checks/{model}/seed_{seed}/epoch_{epoch}_certified.csv",
        visibility="{root}/checks/{model}/seed_{seed}/epoch_{epoch}_visibility.csv",
    log:
        "{root}/logs/scores/{model}_seed_{seed}_epoch_{epoch}_strong_attacks.log",
    group:
        "scores"
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        epoch=lambda wildcards: int(wildcards.epoch),
        strong=rt.strong_attack_config(EVALUATION),
        loss=rt.loss_config(config["training"]),
    script:
        "../scripts/score_strong_attacks.py"


# At `strong_attacks.epochs`: the suite at the summary's epsilon only, for the worst case per checkpoint.
use rule score_strong_attacks as score_strong_attacks_per_checkpoint with:
    output:
        scores="{root}/scores/{model}/seed_{seed}/epoch_{epoch}_strong_attacks_per_checkpoint.parquet",
        checks="{root}/checks/{model}/seed_{seed}/epoch_{epoch}_per_checkpoint.csv",
        certified="{root}/checks/{model}/seed_{seed}/epoch_{epoch}_per_checkpoint_certified.csv",
        visibility="{root}/checks/{model}/seed_{seed}/epoch_{epoch}_per_checkpoint_visibility.csv",
    log:
        "{root}/logs/scores/{model}_seed_{seed}_epoch_{epoch}_strong_attacks_per_checkpoint.log",
    params:
        epoch=lambda wildcards: int(wildcards.epoch),
        strong=rt.strong_attack_config(EVALUATION, per_checkpoint=True),
        loss=rt.loss_config(config["training"]),


# At the selected checkpoint: the raw validation jets, on which the working points' cuts are fixed.
rule score_validation:
    input:
        model="{root}/models/{model}/seed_{seed}",
        validation=study_data("val"),
        summary=study_data("summary"),
    output:
        "{root}/scores/{model}/seed_{seed}/epoch_{epoch}_validation.parquet",
    log:
        "{root}/logs/scores/{model}_seed_{seed}_epoch_{epoch}_validation.log",
    group:
        "scores"
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        epoch=lambda wildcards: int(wildcards.epoch),
        scoring=rt.validation_config(EVALUATION),
    script:
        "../scripts/score_validation.py"


rule adversarial_samples:
    input:
        models=lambda wildcards: model_dirs(wildcards.root),
        test=study_data("test"),
        summary=study_data("summary"),
        scale=budget_scale_inputs,
    output:
        "{root}/samples/fgsm_inputs.parquet",
    log:
        "{root}/logs/adversarial_samples.log",
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        samples=rt.sample_config(EVALUATION),
        loss=rt.loss_config(config["training"]),
    script:
        "../scripts/adversarial_samples.py"


rule tables:
    input:
        scores=score_files,
        validation=validation_files,
        kinematics=study_data("test"),
        checks=strong_files(1),
        certified=strong_files(2),
        visibility=strong_files(3),
        models=lambda wildcards: model_dirs(wildcards.root, seeds=study_seeds(wildcards.root)),
        shifted_auc="{root}/tables/shifted_auc.csv" if SHIFTED.samples else [],
        shifted_working_points="{root}/tables/shifted_working_points.csv" if SHIFTED.samples else [],
    output:
        auc="{root}/tables/auc.csv",
        roc="{root}/tables/roc.parquet",
        worst_case="{root}/tables/worst_case.csv",
        checks="{root}/tables/attack_checks.csv",
        certified="{root}/tables/certified.csv",
        visibility="{root}/tables/visibility.csv",
        working_points="{root}/tables/working_points.csv",
        scale_factors="{root}/tables/scale_factors.csv",
        seeds="{root}/tables/seeds.csv",
        premise="{root}/tables/premise.csv",
        premise_points="{root}/tables/premise_points.csv",
        summary=report(
            "{root}/tables/summary.md",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "{root}/logs/tables.log",
    conda:
        "../envs/robusttag.yaml"
    threads: 2  # the curves two at a time: the tables job runs alone at the end of the DAG
    params:
        tables=rt.table_config(EVALUATION),
    script:
        "../scripts/tables.py"
