# Track ordering, defaults and mask, split, scaling, flavour weights: one preprocessing per input layout the
# architectures read (results/preprocessed: the flat inputs; results/preprocessed_sequence: the tracks).


rule preprocess:
    input:
        paths.RAW_JETS,
    output:
        **paths.preprocessed_files(f"{paths.RESULTS}/{{inputs}}"),
    log:
        paths.log("{inputs}"),
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
