# Pseudo-data: mismodelled simulation (the generator with some knobs scaled) and a user's other samples,
# each converted and preprocessed with the NOMINAL statistics (never refitted), then scored by every model.
# The scoring stays out of the "scores" group: one job per training, every checkpoint (with it in the group,
# Snakemake 9.27 printed and packed the scores group's jobs more than once on SLURM).


rule generate_shifted_sample:
    output:
        paths.shifted_sample(kind="source"),
    log:
        paths.log("shifted/generate_{sample}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        n_jets=SHIFTED.n_jets,
        seed=SHIFTED.seed,
        difficulty=lambda wildcards: SHIFTED_KNOBS[wildcards.sample],
    script:
        "../scripts/generate_synthetic.py"


rule convert_shifted_sample:
    input:
        shifted_source,
    output:
        paths.shifted_sample(),
    log:
        paths.log("shifted/convert_{sample}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        tree=shifted_tree,
        h5=config["dataset"]["h5"],
    script:
        "../scripts/convert_to_parquet.py"


rule preprocess_shifted_sample:
    input:
        raw=paths.shifted_sample(),
        summary=paths.preprocessed_files(f"{paths.RESULTS}/{{inputs}}")["summary"],
    output:
        paths.shifted_sample(kind="{inputs}"),
    log:
        paths.log("shifted/{inputs}_{sample}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    script:
        "../scripts/preprocess_like.py"


rule score_shifted_samples:
    input:
        model=paths.model_dir(),
        samples=study_shifted_samples,
        validation=study_data("val"),
        summary=study_data("summary"),
    output:
        scores=paths.shifted_scores(),
        validation=paths.shifted_scores(validation=True),
    log:
        paths.log("scores/{model}_seed_{seed}_shifted_samples", "{root}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        samples=list(shifted_preprocessed("preprocessed")),
        # the reference seed: the scanned checkpoints; the others: "selected". Read from the history by the
        # job itself (a params function that asks the checkpoint leaves stale reruns behind)
        epochs=lambda wildcards: (
            EVALUATION.get("epochs", "all") if int(wildcards.seed) == REFERENCE_SEED else "selected"
        ),
        scoring=rt.validation_config(EVALUATION),
    script:
        "../scripts/score_shifted_samples.py"


rule shifted_tables:
    input:
        scores=shifted_score_files(0),
        validation=shifted_score_files(1),
        samples=study_shifted_samples,
        summary=study_data("summary"),
        models=lambda wildcards: model_dirs(wildcards.root, seeds=study_seeds(wildcards.root)),
    output:
        **paths.shifted_tables(),
    log:
        paths.log("shifted_tables", "{root}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 2
    params:
        samples=list(shifted_preprocessed("preprocessed")),
        generated=[s.name for s in SHIFTED.samples if s.generated],
        paired=[s.name for s in SHIFTED.samples if s.paired],
        target=DOMAIN_TARGET,
        tables=rt.shifted_table_config(EVALUATION),
    script:
        "../scripts/shifted_tables.py"
