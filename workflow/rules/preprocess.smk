# Track ordering, defaults and mask, split, scaling, flavour weights: one preprocessing per input layout the
# architectures read (results/preprocessed: the flat inputs; results/preprocessed_sequence: the tracks).


rule preprocess:
    input:
        "results/raw/jets.parquet",
    output:
        train="results/{inputs}/train.parquet",
        val="results/{inputs}/val.parquet",
        test="results/{inputs}/test.parquet",
        summary="results/{inputs}/preprocessing.json",
    log:
        "results/logs/{inputs}.log",
    wildcard_constraints:
        inputs="|".join(TRAINED_INPUTS),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        settings=lambda wildcards: rt.preprocess_config(config["preprocess"], inputs_layout(wildcards.inputs)),
        dataset=source_config(),
    script:
        "../scripts/preprocess.py"
