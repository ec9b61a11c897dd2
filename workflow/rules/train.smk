# One training rule for every mode and seed: a checkpoint (later stages discover
# its epochs) writing results/models/{model}/seed_{seed}/epoch_NNN.pt and
# history.csv. A killed job resumes from results/models/{model}/.seed_{seed}.in_progress/
# when rerun. Each training receives only the training keys it reads.


checkpoint train:
    input:
        **preprocessed(),
    output:
        directory("results/models/{model}/seed_{seed}"),
    log:
        "results/logs/train_{model}_seed_{seed}.log",
    conda:
        "../../envs/robusttag.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        mode=lambda wildcards: wildcards.model,
        training=lambda wildcards: rt.training_config(config["training"], wildcards.model, int(wildcards.seed)),
    script:
        "../scripts/train.py"
