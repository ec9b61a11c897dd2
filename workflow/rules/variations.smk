# The training variations (training.variations) the defences against mismodelling train on: each the dataset
# remade with other knobs (the embedded generator's, or Pythia's and the tracker's: results/pythia/training_*),
# at the dataset's seed and size, converted, and its training split preprocessed with the NOMINAL statistics.


rule generate_variation:
    output:
        paths.variation_sample(kind="source"),
    log:
        paths.log("variations/generate_{variation}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        n_jets=config["dataset"]["synthetic"]["n_jets"],
        seed=config["dataset"]["synthetic"]["seed"],
        difficulty=lambda wildcards: VARIATION_KNOBS[wildcards.variation],
    script:
        "../scripts/generate_synthetic.py"


rule convert_variation:
    input:
        variation_source,
    output:
        paths.variation_sample(),
    log:
        paths.log("variations/convert_{variation}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        tree=None,
        h5=config["dataset"]["h5"],
    script:
        "../scripts/convert_to_parquet.py"


rule preprocess_variation:
    input:
        raw=paths.variation_sample(),
        summary=paths.preprocessed_files(f"{paths.RESULTS}/{{inputs}}")["summary"],
    output:
        paths.variation_sample(kind="{inputs}"),
    log:
        paths.log("variations/{inputs}_{variation}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        split=config["preprocess"],
    script:
        "../scripts/preprocess_variation.py"
