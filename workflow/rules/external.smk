# Taggers trained elsewhere (evaluation.external_models), audited: the validation and test jets preprocessed
# as the model declares (robusttag's statistics of its layout, or a preprocessing.json of its own; the test
# jets robusttag's or the user's files), the model checked against its declaration and imported as a
# training folder of one checkpoint; the same scoring, tables and figures as every study then follow.


rule convert_audit_jets:
    input:
        lambda wildcards: audited(wildcards.root).files,
    output:
        "{root}/jets.parquet",
    log:
        "{root}/logs/convert_audit_jets.log",
    wildcard_constraints:
        root="|".join(AUDIT_ROOTS) or "(?!)",
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        tree=lambda wildcards: audited(wildcards.root).tree,
    script:
        "../scripts/convert_to_parquet.py"


rule preprocess_audit:
    input:
        raw="results/raw/jets.parquet",
        summary=lambda wildcards: audited(wildcards.root).preprocessing
        or preprocessed(audited(wildcards.root).layout)["summary"],
        own_jets=lambda wildcards: ["{root}/jets.parquet"] if audited(wildcards.root).files else [],
    output:
        val="{root}/preprocessed/val.parquet",
        test="{root}/preprocessed/test.parquet",
        summary="{root}/preprocessed/preprocessing.json",
    log:
        "{root}/logs/preprocess_audit.log",
    wildcard_constraints:
        root="|".join(AUDIT_ROOTS) or "(?!)",
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        split=config["preprocess"],
    script:
        "../scripts/preprocess_audit.py"


checkpoint import_external:
    input:
        program=lambda wildcards: audited(wildcards.root).file,
        val="{root}/preprocessed/val.parquet",
        summary="{root}/preprocessed/preprocessing.json",
    output:
        directory("{root}/models/{model}/seed_{seed}"),
    log:
        "{root}/logs/import_{model}_seed_{seed}.log",
    wildcard_constraints:
        root="|".join(AUDIT_ROOTS) or "(?!)",
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        declaration=lambda wildcards: rt.external_config(audited(wildcards.root)),
        training=rt.training_config(config["training"], "nominal", REFERENCE_SEED),
        device=EVALUATION.get("device", "auto"),
    script:
        "../scripts/import_external.py"
