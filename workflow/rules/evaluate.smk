# Attacks on every scanned checkpoint, the input samples and the tables.
# Scores per (model, checkpoint): one input-gradient pass serves every epsilon.
# The many small scoring jobs form one group, so a cluster gets few jobs.
# Each rule receives only the settings its output depends on.


rule score_checkpoint:
    input:
        model=paths.model_dir(),
        test=study_data("test"),
        summary=study_data("summary"),
        transfer_from=[],
        scale=budget_scale_inputs,
    output:
        paths.scores(),
    log:
        paths.log("scores/{model}_seed_{seed}_epoch_{epoch}", "{root}"),
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
        model=paths.model_dir(),
        test=study_data("test"),
        summary=study_data("summary"),
        transfer_from=other_models,
        scale=budget_scale_inputs,
    output:
        paths.scores(kind="extra_attacks"),
    log:
        paths.log("scores/{model}_seed_{seed}_epoch_{epoch}_extra_attacks", "{root}"),
    params:
        epoch=lambda wildcards: int(wildcards.epoch),
        scoring=rt.scoring_config(EVALUATION, baselines=True),
        loss=rt.loss_config(config["training"]),
        white_box=False,
        baselines=True,


# The strong suite (PGD, NGM, targeted) at the selected checkpoint, every epsilon.
rule score_strong_attacks:
    input:
        model=paths.model_dir(),
        test=study_data("test"),
        summary=study_data("summary"),
        scale=budget_scale_inputs,
    output:
        **paths.strong_attack_files(),
    log:
        paths.log("scores/{model}_seed_{seed}_epoch_{epoch}_strong_attacks", "{root}"),
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
        **paths.strong_attack_files(per_checkpoint=True),
    log:
        paths.log("scores/{model}_seed_{seed}_epoch_{epoch}_strong_attacks_per_checkpoint", "{root}"),
    params:
        epoch=lambda wildcards: int(wildcards.epoch),
        strong=rt.strong_attack_config(EVALUATION, per_checkpoint=True),
        loss=rt.loss_config(config["training"]),


# At the selected checkpoint: the raw validation jets, on which the working points' cuts are fixed.
rule score_validation:
    input:
        model=paths.model_dir(),
        validation=study_data("val"),
        summary=study_data("summary"),
    output:
        paths.scores(kind="validation"),
    log:
        paths.log("scores/{model}_seed_{seed}_epoch_{epoch}_validation", "{root}"),
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


# At the selected checkpoint: each test jet's distance to its working points (the smallest eps that moves it
# across the cut fixed on the validation jets).
rule jet_distances:
    input:
        model=paths.model_dir(),
        test=study_data("test"),
        summary=study_data("summary"),
        validation=paths.scores(kind="validation"),
        scale=budget_scale_inputs,
    output:
        paths.scores(kind="distances"),
    log:
        paths.log("scores/{model}_seed_{seed}_epoch_{epoch}_distances", "{root}"),
    group:
        "scores"
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        epoch=lambda wildcards: int(wildcards.epoch),
        distances=rt.distance_config(EVALUATION),
    script:
        "../scripts/jet_distances.py"


rule adversarial_samples:
    input:
        models=lambda wildcards: model_dirs(wildcards.root),
        test=study_data("test"),
        summary=study_data("summary"),
        scale=budget_scale_inputs,
    output:
        paths.fgsm_samples(),
    log:
        paths.log("adversarial_samples", "{root}"),
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
        distances=distance_files,
        kinematics=study_data("test"),
        checks=strong_files(1),
        certified=strong_files(2),
        visibility=strong_files(3),
        invisible=strong_files(4),
        models=lambda wildcards: model_dirs(wildcards.root, seeds=study_seeds(wildcards.root)),
        shifted_auc=paths.shifted_tables()["auc"] if SHIFTED.samples else [],
        shifted_working_points=paths.shifted_tables()["working_points"] if SHIFTED.samples else [],
    output:
        auc=paths.table("auc.csv"),
        roc=paths.table("roc.parquet"),
        worst_case=paths.table("worst_case.csv"),
        checks=paths.table("attack_checks.csv"),
        certified=paths.table("certified.csv"),
        distances=paths.table("distances.csv"),
        distance_bins=paths.table("distance_bins.csv"),
        distance_curves=paths.table("distance_curves.csv"),
        visibility=paths.table("visibility.csv"),
        invisible=paths.table("invisible.csv"),
        working_points=paths.table("working_points.csv"),
        scale_factors=paths.table("scale_factors.csv"),
        seeds=paths.table("seeds.csv"),
        premise=paths.table("premise.csv"),
        premise_points=paths.table("premise_points.csv"),
        defences=paths.table("defences.csv"),
        summary=report(
            paths.table("summary.md"),
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        paths.log("tables", "{root}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 2  # the curves two at a time: the tables job runs alone at the end of the DAG
    params:
        tables=rt.table_config(EVALUATION),
        defences={
            "kinds": rt.held_out_kinds(config["training"], EVALUATION.get("shifted_samples", {})),
            "target": DOMAIN_TARGET,
        },
    script:
        "../scripts/tables.py"
