# One training rule for every architecture, mode and seed: a checkpoint (later stages discover its epochs)
# writing {root}/models/{model}/seed_{seed}/epoch_NNN.pt and history.csv ({root}: the architecture's study,
# results/ for the DNN). A killed job resumes from {root}/models/{model}/.seed_{seed}.in_progress/ when rerun.
# Each training receives only the training keys it reads, and a defence against mismodelling its own files:
# the training variations' training splits (augmented, paired) or the target sample (domain).


checkpoint train:
    input:
        train=study_data("train"),
        val=study_data("val"),
        test=study_data("test"),
        summary=study_data("summary"),
        variations=training_inputs("variations"),
        target=training_inputs("target"),
    output:
        directory(paths.model_dir()),
    log:
        paths.log("train_{model}_seed_{seed}", "{root}"),
    wildcard_constraints:
        root="|".join(ARCHITECTURE_ROOTS),
        model="|".join(MODELS),
    conda:
        "../envs/robusttag.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        mode=lambda wildcards: wildcards.model,
        training=lambda wildcards: rt.training_config(
            config["training"],
            wildcards.model,
            int(wildcards.seed),
            paths.study_architecture(wildcards.root),
            EVALUATION.get("shifted_samples", {}),
        ),
    script:
        "../scripts/train.py"
