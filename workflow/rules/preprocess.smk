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
    conda:
        "../../envs/robusttag.yaml"
    threads: 1
    params:
        settings=config["preprocess"],
        dataset=source_config(),
    script:
        "../scripts/preprocess.py"
