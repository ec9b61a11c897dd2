# Taggers trained elsewhere (evaluation.external_models), audited: the validation and test jets preprocessed
# as the model declares (robusttag's statistics of its layout, or a preprocessing.json of its own; the test
# jets robusttag's or the user's files), the model checked against its declaration and imported as a
# training folder of one checkpoint; the same scoring, tables and figures as every study then follow.


rule convert_audit_jets:
    input:
        lambda wildcards: audited(wildcards.root).files,
    output:
        paths.audit_jets(),
    log:
        paths.log("convert_audit_jets", "{root}"),
    wildcard_constraints:
        root="|".join(AUDIT_ROOTS) or "(?!)",
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        tree=lambda wildcards: audited(wildcards.root).tree,
        h5=config["dataset"]["h5"],
    script:
        "../scripts/convert_to_parquet.py"


rule preprocess_audit:
    input:
        raw=paths.RAW_JETS,
        summary=lambda wildcards: audited(wildcards.root).preprocessing
        or preprocessed(audited(wildcards.root).layout)["summary"],
        own_jets=lambda wildcards: [paths.audit_jets(wildcards.root)] if audited(wildcards.root).files else [],
    output:
        **{
            name: file
            for name, file in paths.preprocessed_files(paths.audit_preprocessed_dir()).items()
            if name != "train"
        },
    log:
        paths.log("preprocess_audit", "{root}"),
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
        val=paths.preprocessed_files(paths.audit_preprocessed_dir())["val"],
        summary=paths.preprocessed_files(paths.audit_preprocessed_dir())["summary"],
    output:
        directory(paths.model_dir()),
    log:
        paths.log("import_{model}_seed_{seed}", "{root}"),
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
