# What leaves robusttag for the analyst's tools: a study's scale factors as a correctionlib file, each trained
# tagger as ONNX and TorchScript with its preprocessing folded in.


rule corrections:
    input:
        working_points=paths.table("working_points.csv"),
        scale_factors=paths.table("scale_factors.csv"),
        shifted_working_points=paths.shifted_tables()["working_points"] if SHIFTED.samples else [],
        shifted_scale_factors=paths.shifted_tables()["scale_factors"] if SHIFTED.samples else [],
    output:
        report(
            paths.corrections(),
            caption="../report/corrections.rst",
            category="Calibration",
        ),
    log:
        paths.log("corrections", "{root}"),
    conda:
        "../envs/robusttag.yaml"
    script:
        "../scripts/corrections.py"


rule export_model:
    input:
        model=paths.model_dir(),
        summary=study_data("summary"),
        raw=paths.RAW_JETS,
    output:
        onnx=paths.exported_model("onnx"),
        torchscript=paths.exported_model("torchscript"),
    log:
        paths.log("export/{model}_seed_{seed}", "{root}"),
    conda:
        "../envs/robusttag.yaml"
    script:
        "../scripts/export_model.py"
