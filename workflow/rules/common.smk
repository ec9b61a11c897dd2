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


def all_outputs():
    """Everything: data, both trainings, the tables and every figure (FIGURE_INPUTS: figures.smk)."""
    return [
        *preprocessed().values(),
        "results/models/nominal",
        "results/models/adversarial",
        "results/tables/auc.csv",
        "results/tables/summary.md",
        *(f"results/figures/{name}.{ext}" for name in FIGURE_INPUTS for ext in ("png", "pdf")),
    ]


MODELS = ["nominal", "adversarial"]


def trained(model):
    """The model's directory, once its training checkpoint rule has run."""
    return getattr(checkpoints, f"train_{model}").get().output[0]


def selected(model):
    from robusttag.evaluate import selected_epoch

    return selected_epoch(f"{trained(model)}/history.csv")


def score_files(wildcards=None):
    """Every score file the tables need: each scanned checkpoint, and the extra
    attacks (baselines, cross attacks) at each model's selected checkpoint."""
    from robusttag.evaluate import EvaluationSettings, scanned_epochs

    settings = EvaluationSettings.from_config(config["evaluation"])
    files = []
    for model in MODELS:
        epochs = scanned_epochs(f"{trained(model)}/history.csv", settings)
        files += [f"results/scores/{model}/epoch_{epoch:03d}.parquet" for epoch in epochs]
        files.append(f"results/scores/{model}/epoch_{selected(model):03d}_extra_attacks.parquet")
    return files
