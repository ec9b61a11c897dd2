# Helpers shared by the rules: the settings each rule receives, where the data
# come from, what `all` builds. robusttag.settings imports no torch.
from robusttag import settings as rt

MODELS = rt.training_modes(config["training"])
SEEDS = rt.training_seeds(config["training"])
REFERENCE_SEED = SEEDS[0]
EVALUATION = config["evaluation"]
SHIFTED = rt.ShiftedSamples.from_config(EVALUATION.get("shifted_samples", {}))
SHIFTED_KNOBS = rt.shifted_difficulties(config["dataset"], EVALUATION.get("shifted_samples", {}))


wildcard_constraints:
    model="|".join(MODELS),
    seed=r"\d+",
    epoch=r"\d{3}",
    sample="|".join(SHIFTED.names()) or "(?!)",


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


def model_dirs(models=MODELS, seeds=None):
    """The training folders of ``models`` for ``seeds`` (default: the reference seed only)."""
    return [rt.model_dir(model, seed) for seed in (seeds or [REFERENCE_SEED]) for model in models]


def all_outputs():
    """Everything: data, every training, the tables and every figure (FIGURE_INPUTS: figures.smk)."""
    return [
        *preprocessed().values(),
        *model_dirs(seeds=SEEDS),
        "results/tables/auc.csv",
        "results/tables/summary.md",
        *(shifted_table_files().values() if SHIFTED.samples else ()),
        *(f"results/figures/{name}.{ext}" for name in FIGURE_INPUTS for ext in ("png", "pdf")),
    ]


def history(model, seed=None):
    """A training's history, once the training (a checkpoint rule) has run."""
    seed = REFERENCE_SEED if seed is None else seed
    return f"{checkpoints.train.get(model=model, seed=seed).output[0]}/history.csv"


def selected(model, seed):
    return rt.selected_epoch(history(model, seed))


def other_models(wildcards):
    """The models whose FGSM is transferred to this one (Fig. 4): the other modes, same seed."""
    return model_dirs((m for m in MODELS if m != wildcards.model), [int(wildcards.seed)])


def budget_scale_inputs(wildcards=None):
    """The training split, which `evaluation.epsilon_scale: quantile` reads for the per-input budgets."""
    return [preprocessed()["train"]] if EVALUATION.get("epsilon_scale", "unit") == "quantile" else []


def strong_outputs(model, seed):
    """(score, checks, certified-bound and visibility files) of the strong suite. Reference seed: at the selected
    checkpoint every epsilon, at the other checkpoints of `strong_attacks.epochs` (those trained) the summary's.
    Other seeds: the summary's epsilon at the selected checkpoint (the spread of the worst case over seeds)."""
    where = f"{model}/seed_{seed}"
    best = selected(model, seed)
    if seed == REFERENCE_SEED:
        wanted = rt.EvaluationSettings.from_config(EVALUATION).strong_attacks.epochs
        others = [e for e in rt.scanned_epochs(history(model, seed), wanted) if e != best]
        files = [
            (
                f"results/scores/{where}/epoch_{best:03d}_strong_attacks.parquet",
                f"results/checks/{where}/epoch_{best:03d}.csv",
                f"results/checks/{where}/epoch_{best:03d}_certified.csv",
                f"results/checks/{where}/epoch_{best:03d}_visibility.csv",
            )
        ]
    else:
        others = [best]
        files = []
    for e in others:
        files.append(
            (
                f"results/scores/{where}/epoch_{e:03d}_strong_attacks_per_checkpoint.parquet",
                f"results/checks/{where}/epoch_{e:03d}_per_checkpoint.csv",
                f"results/checks/{where}/epoch_{e:03d}_per_checkpoint_certified.csv",
                f"results/checks/{where}/epoch_{e:03d}_per_checkpoint_visibility.csv",
            )
        )
    return files


def score_files(wildcards=None):
    """Every score file the tables need. Reference seed: each scanned checkpoint, the extra attacks
    (baselines, transferred attacks) at the selected checkpoint, the strong suite at its checkpoints.
    Other seeds: FGSM and the strong suite at the selected checkpoint."""
    epochs = rt.EvaluationSettings.from_config(EVALUATION).epochs
    files = []
    for seed in SEEDS:
        for model in MODELS:
            where, best = f"{model}/seed_{seed}", selected(model, seed)
            if seed == REFERENCE_SEED:
                scanned = rt.scanned_epochs(history(model, seed), epochs)
                files += [f"results/scores/{where}/epoch_{epoch:03d}.parquet" for epoch in scanned]
                files.append(f"results/scores/{where}/epoch_{best:03d}_extra_attacks.parquet")
            else:
                files.append(f"results/scores/{where}/epoch_{best:03d}.parquet")
            files += [outputs[0] for outputs in strong_outputs(model, seed)]
    return files


def validation_files(wildcards=None):
    """The raw validation scores at each training's selected checkpoint (the working points' cuts)."""
    return [f"results/scores/{m}/seed_{s}/epoch_{selected(m, s):03d}_validation.parquet" for s in SEEDS for m in MODELS]


def strong_files(index):
    """One kind of the strong suite's files (0 scores, 1 checks, 2 certified bounds, 3 visibility), every training."""
    return [outputs[index] for seed in SEEDS for model in MODELS for outputs in strong_outputs(model, seed)]


def check_files(wildcards=None):
    """The strong suite's sanity checks, one file per (model, seed, checkpoint)."""
    return strong_files(1)


def certified_files(wildcards=None):
    """The certified AUC bounds, one file per strong-suite job (empty but at the selected checkpoint)."""
    return strong_files(2)


def visibility_files(wildcards=None):
    """How visible each attack is (KS, Wasserstein-1 per feature), one file per strong-suite job."""
    return strong_files(3)


def shifted_source(wildcards):
    """A shifted sample's input files: the generator's output, or the user's files."""
    sample = SHIFTED.sample(wildcards.sample)
    return (
        [f"results/shifted/{wildcards.sample}/source.json.gz"] if sample is None or sample.synthetic else sample.files
    )


def shifted_tree(wildcards):
    sample = SHIFTED.sample(wildcards.sample)
    return "jets" if sample is None else sample.tree


def shifted_preprocessed():
    """{sample: its jets preprocessed with the nominal statistics}, the twin first; with a user's sample,
    the nominal test split (its reference) last."""
    files = {name: f"results/shifted/{name}/preprocessed.parquet" for name in SHIFTED.names()}
    if any(not s.synthetic for s in SHIFTED.samples):
        files[rt.NOMINAL_TEST] = preprocessed()["test"]
    return files


def shifted_score_files(index):
    """One kind of the shifted-sample score files (0 the samples', 1 the validation split's), every training."""
    kinds = ("shifted_samples", "shifted_samples_validation")
    return [f"results/scores/{m}/seed_{s}/{kinds[index]}.parquet" for s in SEEDS for m in MODELS]


def shifted_table_files():
    """The tables of the shifted samples, by name."""
    names = ("auc", "working_points", "scale_factors", "distances", "visibility")
    return {name: f"results/tables/shifted_{name}.csv" for name in names}
