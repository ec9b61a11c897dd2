# One training rule for every mode: a checkpoint (later stages discover its
# epochs) writing results/models/{model}/epoch_NNN.pt and history.csv. A killed
# job resumes from results/models/.{model}.in_progress/ when rerun. Each mode
# receives only the training keys it reads.


checkpoint train:
    input:
        **preprocessed(),
    output:
        directory("results/models/{model}"),
    log:
        "results/logs/train_{model}.log",
    conda:
        "../../envs/robusttag.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        mode=lambda wildcards: wildcards.model,
        training=lambda wildcards: rt.training_config(config["training"], wildcards.model),
    script:
        "../scripts/train.py"
