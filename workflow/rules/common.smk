# Helpers shared by the rules: the settings each rule receives, where the data
# come from, what `all` builds. robusttag.settings imports no torch.
from robusttag import settings as rt

MODELS = list(rt.MODES)
EVALUATION = config["evaluation"]


wildcard_constraints:
    model="|".join(MODELS),
    epoch=r"\d{3}",


def check_settings():
    """What the schema cannot say (a split summing to 1, the figures' features
    among the inputs, ...), checked by the library before any job runs."""
    rt.check_config(config)


def source_files():
    """The input files of the conversion, by `dataset.source`."""
    source = config["dataset"]["source"]
    if source == "synthetic":
        return ["results/source/synthetic.json.gz"]
    if source == "uci":
        return ["results/source/dataset.json.gz"]
    return config["dataset"]["root"]["files"]


def source_config():
    """The `dataset` keys of the source in use (the provenance in preprocessing.json)."""
    source = config["dataset"]["source"]
    return {"source": source, source: config["dataset"][source]}


def preprocessed():
    """The preprocessing artifacts, by name."""
    return {
        "train": "results/preprocessed/train.parquet",
        "val": "results/preprocessed/val.parquet",
        "test": "results/preprocessed/test.parquet",
        "summary": "results/preprocessed/preprocessing.json",
    }


def model_dirs(models=MODELS):
    return [f"results/models/{model}" for model in models]


def all_outputs():
    """Everything: data, every training, the tables and every figure (FIGURE_INPUTS: figures.smk)."""
    return [
        *preprocessed().values(),
        *model_dirs(),
        "results/tables/auc.csv",
        "results/tables/summary.md",
        *(f"results/figures/{name}.{ext}" for name in FIGURE_INPUTS for ext in ("png", "pdf")),
    ]


def history(model):
    """The model's training history, once its training (a checkpoint rule) has run."""
    return f"{checkpoints.train.get(model=model).output[0]}/history.csv"


def other_models(wildcards):
    """The models whose FGSM is transferred to this one (Fig. 4)."""
    return model_dirs(m for m in MODELS if m != wildcards.model)


def budget_scale_inputs(wildcards=None):
    """The training split, which `evaluation.epsilon_scale: quantile` reads for the per-input budgets."""
    return [preprocessed()["train"]] if EVALUATION.get("epsilon_scale", "unit") == "quantile" else []


def strong_outputs(model):
    """(score, checks, certified-bound and visibility files) of the strong suite: at the selected checkpoint every
    epsilon, at the other checkpoints of `strong_attacks.epochs` (those trained) the summary's."""
    selected = rt.selected_epoch(history(model))
    wanted = rt.EvaluationSettings.from_config(EVALUATION).strong_attacks.epochs
    others = [e for e in rt.scanned_epochs(history(model), wanted) if e != selected]
    files = [
        (
            f"results/scores/{model}/epoch_{selected:03d}_strong_attacks.parquet",
            f"results/checks/{model}/epoch_{selected:03d}.csv",
            f"results/checks/{model}/epoch_{selected:03d}_certified.csv",
            f"results/checks/{model}/epoch_{selected:03d}_visibility.csv",
        )
    ]
    for e in others:
        files.append(
            (
                f"results/scores/{model}/epoch_{e:03d}_strong_attacks_per_checkpoint.parquet",
                f"results/checks/{model}/epoch_{e:03d}_per_checkpoint.csv",
                f"results/checks/{model}/epoch_{e:03d}_per_checkpoint_certified.csv",
                f"results/checks/{model}/epoch_{e:03d}_per_checkpoint_visibility.csv",
            )
        )
    return files


def score_files(wildcards=None):
    """Every score file the tables need: each scanned checkpoint, the extra
    attacks (baselines, transferred attacks) at each model's selected checkpoint,
    and the strong suite at its checkpoints."""
    epochs = rt.EvaluationSettings.from_config(EVALUATION).epochs
    files = []
    for model in MODELS:
        scanned = rt.scanned_epochs(history(model), epochs)
        files += [f"results/scores/{model}/epoch_{epoch:03d}.parquet" for epoch in scanned]
        files.append(f"results/scores/{model}/epoch_{rt.selected_epoch(history(model)):03d}_extra_attacks.parquet")
        files += [outputs[0] for outputs in strong_outputs(model)]
    return files


def validation_files(wildcards=None):
    """The raw validation scores at each model's selected checkpoint (the working points' cuts)."""
    return [f"results/scores/{m}/epoch_{rt.selected_epoch(history(m)):03d}_validation.parquet" for m in MODELS]


def check_files(wildcards=None):
    """The strong suite's sanity checks, one file per (model, checkpoint)."""
    return [outputs[1] for model in MODELS for outputs in strong_outputs(model)]


def certified_files(wildcards=None):
    """The certified AUC bounds, one file per strong-suite job (empty but at the selected checkpoint)."""
    return [outputs[2] for model in MODELS for outputs in strong_outputs(model)]


def visibility_files(wildcards=None):
    """How visible each attack is (KS, Wasserstein-1 per feature), one file per strong-suite job."""
    return [outputs[3] for model in MODELS for outputs in strong_outputs(model)]
