# Track ordering, defaults and mask, split, scaling, flavour weights.


rule preprocess:
    input:
        "results/raw/jets.parquet",
    output:
        train="results/preprocessed/train.parquet",
        val="results/preprocessed/val.parquet",
        test="results/preprocessed/test.parquet",
        summary="results/preprocessed/preprocessing.json",
    log:
        "results/logs/preprocess.log",
    params:
        settings=config["preprocess"],
        dataset=source_config(),
    threads: 1
    conda:
        "../../envs/robusttag.yaml"
    script:
        "../scripts/preprocess.py"
