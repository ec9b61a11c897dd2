# Helpers shared by the rules: the settings each rule receives, where the data come from, which files a job
# reads, what `all` builds. Every path under results/ is robusttag.paths's; robusttag.config, paths and
# history import no torch.
from robusttag import config as rt, paths
from robusttag.features import LAYOUTS as INPUT_LAYOUTS
from robusttag.history import scanned_epochs, selected_epoch

MODELS = rt.training_modes(config["training"])
SEEDS = rt.training_seeds(config["training"])
REFERENCE_SEED = SEEDS[0]
# One study per architecture: its trainings, scores, tables and figures under its root
# (results/ for the paper's DNN, results/{architecture}/ for the others).
ARCHITECTURES = rt.training_architectures(config["training"])
ARCHITECTURE_ROOTS = [paths.study_root(a) for a in ARCHITECTURES]
EVALUATION = config["evaluation"]
SHIFTED = rt.ShiftedSamples.from_config(EVALUATION.get("shifted_samples", {}))
SHIFTED_KNOBS = rt.shifted_difficulties(config["dataset"], EVALUATION.get("shifted_samples", {}))
# The variations the defences against mismodelling train on (training.variations, when a mode reads them)
VARIATIONS = rt.trained_variations(config["training"])
VARIATION_KNOBS = rt.variation_difficulties(config["dataset"], VARIATIONS)
# The sample domain training adapts to (its even-numbered jets; the others measure it), when it is trained
DOMAIN_TARGET = (
    rt.domain_target(config["training"], EVALUATION.get("shifted_samples", {}))["name"] if "domain" in MODELS else None
)
# The Pythia source's samples (dataset.source pythia): the dataset's, the twin's, each shifted sample's and each
# training variation's
PYTHIA = rt.pythia_samples(config["dataset"], EVALUATION.get("shifted_samples", {}), VARIATIONS)
# And one study per audited model (evaluation.external_models) under results/external/{name}/: its one
# checkpoint imported, not trained, its inputs preprocessed as it declares, then the same rules.
EXTERNAL = {m.name: m for m in rt.EvaluationSettings.from_config(EVALUATION).external_models}
AUDIT_ROOTS = [paths.audit_root(name) for name in EXTERNAL]
ROOTS = ARCHITECTURE_ROOTS + AUDIT_ROOTS
LAYOUTS = list(
    dict.fromkeys([rt.ARCHITECTURE_LAYOUTS[a] for a in ARCHITECTURES] + [m.layout for m in EXTERNAL.values()])
)
TRAINED_INPUTS = [paths.preprocessed_dir(layout).removeprefix(f"{paths.RESULTS}/") for layout in LAYOUTS]


wildcard_constraints:
    root="|".join(ROOTS),
    inputs="|".join(
        TRAINED_INPUTS + [paths.audit_preprocessed_dir(r).removeprefix(f"{paths.RESULTS}/") for r in AUDIT_ROOTS]
    ),
    model="|".join(MODELS + list(EXTERNAL)),
    seed=r"\d+",
    epoch=r"\d{3}",
    sample="|".join(SHIFTED.names()) or "(?!)",
    variation="|".join(v.name for v in VARIATIONS) or "(?!)",
    pythia_sample="|".join(PYTHIA) or "(?!)",
    chunk=r"\d+",


def check_settings():
    """What the schema cannot say (a split summing to 1, the figures' features
    among the inputs, ...), checked by the library before any job runs."""
    rt.check_config(config)


def source_files():
    """The input files of the conversion, by `dataset.source`."""
    source = config["dataset"]["source"]
    return [paths.SOURCE_FILES[source]] if source in paths.SOURCE_FILES else config["dataset"][source]["files"]


def source_config():
    """The `dataset` keys of the source in use (the provenance in preprocessing.json)."""
    source = config["dataset"]["source"]
    return {"source": source, source: config["dataset"][source]}


def preprocessed(layout="flat"):
    """The preprocessing artifacts of a layout of the inputs, by name."""
    return paths.preprocessed_files(paths.preprocessed_dir(layout))


def inputs_layout(inputs):
    """The layout whose preprocessing writes results/{inputs}/."""
    return next(layout for layout in INPUT_LAYOUTS if paths.preprocessed_dir(layout) == f"{paths.RESULTS}/{inputs}")


def audited(root):
    """The declaration of the model a study audits (None: the study of an architecture, trained here)."""
    return next((m for name, m in EXTERNAL.items() if paths.audit_root(name) == root), None)


def study_inputs(root):
    """The folder of a study's preprocessed splits: its architecture's layout, or the audit's own."""
    if audited(root):
        return paths.audit_preprocessed_dir(root)
    return paths.preprocessed_dir(rt.ARCHITECTURE_LAYOUTS[paths.study_architecture(root)])


def study_data(name):
    """An input function: the preprocessing artifact ``name`` (train, val, test, summary) of the study."""
    return lambda wildcards: paths.preprocessed_files(study_inputs(wildcards.root))[name]


def study_models(root):
    """A study's models: the training modes, or the audited model's name."""
    model = audited(root)
    return [model.name] if model else MODELS


def study_seeds(root):
    """A study's seeds: training.seeds, or one for an audited model (its single checkpoint)."""
    return [REFERENCE_SEED] if audited(root) else SEEDS


def model_dirs(root, models=None, seeds=None):
    """The training folders of a study's ``models`` (default: all) for ``seeds`` (default: the reference seed)."""
    models = study_models(root) if models is None else models
    return [paths.model_dir(model, seed, root) for seed in (seeds or [REFERENCE_SEED]) for model in models]


def study_figures(root):
    """The figures of a study (an audit has no training history and no second model to compare with)."""
    defences = bool(set(MODELS) & set(rt.MISMODELLING_MODES))
    return rt.study_figures(audit=audited(root) is not None, shifted=bool(SHIFTED.samples), defences=defences)


def figure_rules():
    """Every study's figures, and with several architectures their comparison, each as (the name of its
    job's rule, the figure, the study's root, the report's subcategory)."""
    several = len(ROOTS) > 1
    rules = [
        ((name if root == paths.RESULTS else f"{name}_{study}"), name, root, study if several else None)
        for study, root in zip([*ARCHITECTURES, *EXTERNAL], ROOTS)  # an architecture's, or an audited model's
        for name in study_figures(root)
    ]
    return rules + ([("architectures", "architectures", paths.RESULTS, None)] if len(ARCHITECTURES) > 1 else [])


def all_outputs():
    """Everything: data, every training and audit, each study's tables and figures, and with several
    architectures their comparison."""
    files = [file for layout in LAYOUTS for file in preprocessed(layout).values()]
    for root in ROOTS:
        files += [*model_dirs(root, seeds=study_seeds(root)), paths.table("auc.csv", root)]
        files += [paths.table("summary.md", root), paths.corrections(root)]
        if not audited(root):
            files += (
                paths.exported_model(kind, model, seed, root)
                for model in study_models(root)
                for seed in study_seeds(root)
                for kind in paths.EXPORT_SUFFIXES
            )
        files += paths.shifted_tables(root).values() if SHIFTED.samples else ()
        files += (paths.figure(name, root, suffix) for name in study_figures(root) for suffix in ("png", "pdf"))
    if config["dataset"]["source"] == "pythia":
        files += [f"{paths.INPUTS_BY_SOURCE['figure']}.png", paths.INPUTS_BY_SOURCE["table"]]
    if len(ARCHITECTURES) > 1:
        files += paths.ARCHITECTURE_OUTPUTS.values()
        files += (paths.figure("architectures", paths.RESULTS, suffix) for suffix in ("png", "pdf"))
    return files


def history(root, model, seed=None):
    """A training's history, once the training (a checkpoint rule; an audit's import) has run."""
    seed = REFERENCE_SEED if seed is None else seed
    job = checkpoints.import_external if audited(root) else checkpoints.train
    return f"{job.get(root=root, model=model, seed=seed).output[0]}/history.csv"


def selected(root, model, seed):
    return selected_epoch(history(root, model, seed))


def other_models(wildcards):
    """The models whose FGSM is transferred to this one (Fig. 4): the other modes, same seed."""
    others = [m for m in study_models(wildcards.root) if m != wildcards.model]
    return model_dirs(wildcards.root, others, [int(wildcards.seed)])


def budget_scale_inputs(wildcards):
    """The training split, which `evaluation.epsilon_scale: quantile` reads for the per-input budgets (an
    audit's: its validation split, the jets of its own statistics it has)."""
    if EVALUATION.get("epsilon_scale", "unit") != "quantile":
        return []
    return [study_data("val" if audited(wildcards.root) else "train")(wildcards)]


def strong_outputs(root, model, seed):
    """(score, checks, certified-bound and visibility files) of the strong suite. Reference seed: at the selected
    checkpoint every epsilon, at the other checkpoints of `strong_attacks.epochs` (those trained) the summary's.
    Other seeds: the summary's epsilon at the selected checkpoint (the spread of the worst case over seeds)."""
    best = selected(root, model, seed)
    if seed == REFERENCE_SEED:
        wanted = rt.EvaluationSettings.from_config(EVALUATION).strong_attacks.epochs
        others = [e for e in scanned_epochs(history(root, model, seed), wanted) if e != best]
        files = [tuple(paths.strong_attack_files(root, model, seed, best).values())]
    else:
        others = [best]
        files = []
    files += (tuple(paths.strong_attack_files(root, model, seed, e, per_checkpoint=True).values()) for e in others)
    return files


def score_files(wildcards):
    """Every score file a study's tables need. Reference seed: each scanned checkpoint, the extra attacks
    (baselines, transferred attacks) at the selected checkpoint, the strong suite at its checkpoints.
    Other seeds: FGSM and the strong suite at the selected checkpoint."""
    root, epochs = wildcards.root, rt.EvaluationSettings.from_config(EVALUATION).epochs
    files = []
    for seed in study_seeds(root):
        for model in study_models(root):
            best = selected(root, model, seed)
            if seed == REFERENCE_SEED:
                scanned = scanned_epochs(history(root, model, seed), epochs)
                files += [paths.scores(root, model, seed, epoch) for epoch in scanned]
                files.append(paths.scores(root, model, seed, best, "extra_attacks"))
            else:
                files.append(paths.scores(root, model, seed, best))
            files += [outputs[0] for outputs in strong_outputs(root, model, seed)]
    return files


def validation_files(wildcards):
    """The raw validation scores at each training's selected checkpoint (the working points' cuts)."""
    root = wildcards.root
    return [
        paths.scores(root, m, s, selected(root, m, s), "validation")
        for s in study_seeds(root)
        for m in study_models(root)
    ]


def distance_files(wildcards):
    """Each training's per-jet distances to its working points at its selected checkpoint (none without jets)."""
    if not rt.EvaluationSettings.from_config(EVALUATION).distance_jets:
        return []
    root = wildcards.root
    return [
        paths.scores(root, m, s, selected(root, m, s), "distances")
        for s in study_seeds(root)
        for m in study_models(root)
    ]


def strong_files(index):
    """An input function: one kind of the strong suite's files (0 scores, 1 checks, 2 certified bounds,
    3 visibility: KS and Wasserstein-1 per feature; 4 the invisible attack; paths.STRONG_KINDS), every training
    of the study."""
    return lambda wildcards: [
        outputs[index]
        for seed in study_seeds(wildcards.root)
        for model in study_models(wildcards.root)
        for outputs in strong_outputs(wildcards.root, model, seed)
    ]


def shifted_source(wildcards):
    """A shifted sample's input files: the generator's output (Pythia's or the embedded one's), or the user's files."""
    sample = SHIFTED.sample(wildcards.sample)
    if wildcards.sample in PYTHIA:
        return [paths.pythia_sample(wildcards.sample)]
    return [paths.shifted_sample(wildcards.sample, "source")] if sample is None or sample.synthetic else sample.files


def variation_source(wildcards):
    """A training variation's generated jets: the embedded generator's output, or the Pythia source's sample."""
    name = rt.training_sample(wildcards.variation)
    return paths.pythia_sample(name) if name in PYTHIA else paths.variation_sample(wildcards.variation, "source")


def training_inputs(kind):
    """An input function of the training rule: the files a defence against mismodelling trains with, preprocessed
    as the study's inputs: ``variations`` (augmented, paired: each training variation's training split) or
    ``target`` (domain: its target sample); none for the other modes."""

    def files(wildcards):
        inputs = study_inputs(wildcards.root).removeprefix(f"{paths.RESULTS}/")
        if kind == "variations" and wildcards.model in rt.VARIED_MODES:
            return [paths.variation_sample(v.name, inputs) for v in VARIATIONS]
        if kind == "target" and wildcards.model == "domain":
            return [paths.shifted_sample(DOMAIN_TARGET, inputs)]
        return []

    return files


def shifted_tree(wildcards):
    sample = SHIFTED.sample(wildcards.sample)
    return "jets" if sample is None else sample.tree


def shifted_preprocessed(inputs):
    """{sample: its jets preprocessed with the statistics of results/{inputs}/}, the twin first; with a user's
    sample, the nominal test split of those inputs (its reference) last."""
    files = {name: paths.shifted_sample(name, inputs) for name in SHIFTED.names()}
    if any(not s.generated for s in SHIFTED.samples):
        files[rt.NOMINAL_TEST] = paths.preprocessed_files(f"{paths.RESULTS}/{inputs}")["test"]
    return files


def study_shifted_samples(wildcards):
    """The shifted samples preprocessed as the study's own inputs."""
    return list(shifted_preprocessed(study_inputs(wildcards.root).removeprefix(f"{paths.RESULTS}/")).values())


def shifted_score_files(index):
    """An input function: one kind of the shifted-sample score files (0 the samples', 1 the validation
    split's), every training of the study."""
    return lambda wildcards: [
        paths.shifted_scores(wildcards.root, m, s, validation=index == 1)
        for s in study_seeds(wildcards.root)
        for m in study_models(wildcards.root)
    ]
