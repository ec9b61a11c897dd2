# Where jets come from, and their conversion to one raw Parquet table.


# On a cluster the download runs where Snakemake runs (the login node):
# compute nodes often have no internet.
localrules:
    download_uci,


rule generate_synthetic:
    output:
        paths.SOURCE_FILES["synthetic"],
    log:
        paths.log("generate_synthetic"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        n_jets=config["dataset"]["synthetic"]["n_jets"],
        seed=config["dataset"]["synthetic"]["seed"],
        difficulty=config["dataset"]["synthetic"]["difficulty"],
    script:
        "../scripts/generate_synthetic.py"


rule download_uci:
    output:
        paths.SOURCE_FILES["uci"],
    log:
        paths.log("download_uci"),
    retries: 2
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        url=config["dataset"]["uci"]["url"],
        sha256=config["dataset"]["uci"]["sha256"],
    script:
        "../scripts/download_uci.py"


rule convert_to_parquet:
    input:
        source_files(),
    output:
        paths.RAW_JETS,
    log:
        paths.log("convert_to_parquet"),
    conda:
        "../envs/robusttag.yaml"
    threads: 8  # Snakemake lowers it to --cores
    params:
        tree=config["dataset"]["root"]["tree"] if config["dataset"]["source"] == "root" else None,
        h5=config["dataset"]["h5"],
    script:
        "../scripts/convert_to_parquet.py"
