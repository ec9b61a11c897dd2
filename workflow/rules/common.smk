# Helpers shared by the rules: where the data come from, what `all` builds.


def check_settings():
    """What the schema cannot say (a split summing to 1, ...): checked by the
    library's own settings classes, before any job runs."""
    try:
        from robusttag.evaluate import EvaluationSettings
        from robusttag.preprocess import PreprocessSettings
        from robusttag.training import TrainingSettings
    except ImportError:  # Snakemake without robusttag (--use-conda): the jobs will check
        return
    settings = dict(config["preprocess"], split=tuple(config["preprocess"]["split"]))
    PreprocessSettings(**settings)
    for mode in ("nominal", "adversarial"):
        TrainingSettings.from_config(config["training"], mode)
    EvaluationSettings.from_config(config["evaluation"])


def source_files():
    """The input files of the conversion, by `dataset.source`."""
    source = config["dataset"]["source"]
    if source == "synthetic":
        return ["results/source/synthetic.json.gz"]
    if source == "uci":
        return ["results/source/dataset.json.gz"]
    return config["dataset"]["root"]["files"]


def preprocessed():
    """The preprocessing artifacts, by name."""
    return {
        "train": "results/preprocessed/train.parquet",
        "val": "results/preprocessed/val.parquet",
        "test": "results/preprocessed/test.parquet",
        "summary": "results/preprocessed/preprocessing.json",
    }


FIGURES = [
    "fig4_cross_attacks",
    "fig5_input_shifts",
    "fig6_roc_vs_epsilon",
    "fig7_roc_per_checkpoint",
    "fig8_nominal_vs_adversarial",
    "fig9_auc_drop",
    "fig10_first_track_d0",
    "training_history",
]


def all_outputs():
    """Everything: data, both trainings, the tables and every figure."""
    return [
        *preprocessed().values(),
        "results/models/nominal",
        "results/models/adversarial",
        "results/tables/auc.csv",
        "results/tables/summary.md",
        *(f"results/figures/{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")),
    ]
