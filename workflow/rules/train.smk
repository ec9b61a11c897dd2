# One training rule per mode. Checkpoints (rules whose epochs later stages
# discover), each writing results/models/{mode}/epoch_NNN.pt and history.csv.
# A killed job resumes from results/models/.{mode}.in_progress/ when rerun.


checkpoint train_nominal:
    input:
        **preprocessed(),
    output:
        directory("results/models/nominal"),
    log:
        "results/logs/train_nominal.log",
    params:
        training=config["training"],
        mode="nominal",
    resources:
        gpu=1,
    threads: 2
    conda:
        "../../envs/robusttag.yaml"
    script:
        "../scripts/train.py"


checkpoint train_adversarial:
    input:
        **preprocessed(),
    output:
        directory("results/models/adversarial"),
    log:
        "results/logs/train_adversarial.log",
    params:
        training=config["training"],
        mode="adversarial",
    resources:
        gpu=1,
    threads: 2
    conda:
        "../../envs/robusttag.yaml"
    script:
        "../scripts/train.py"
