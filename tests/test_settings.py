"""One place for every setting: the schema declares each key's default once, the settings classes read
theirs from it, and Snakemake's parse needs no torch."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from workflow_copy import copy_workflow

from robusttag import config as rt
from robusttag.config.schema import schema
from robusttag.errors import ConfigError

SCHEMA = schema()
#: The embedded default run's config, as the workflow's validation fills it from the schema.
CONFIG = rt.default_config()


#: Maps of overrides: the generator's knobs, Pythia's flavour shares and its tracker's knobs
OVERRIDES = ("difficulty", "flavour_shares", "tracker")


def _leaves(schema: dict, prefix: tuple[str, ...] = ()):
    """(path, property schema) of every configurable leaf (a section with properties is walked into; a map of
    overrides is one leaf with one default)."""
    for name, spec in schema.get("properties", {}).items():
        path = (*prefix, name)
        if spec.get("type") == "object" and "properties" in spec and name not in OVERRIDES:
            yield from _leaves(spec, path)
        else:
            yield path, spec


#: evaluation sections with their own settings class
SECTIONS = ("figures", "strong_attacks", "shifted_samples")
#: training sections whose keys the training settings hold as section_key
PREFIXED = ("selection", "pgd", "ngm", "augmented", "domain", "paired")
SCHEMA_ATTACK_KEYS = SCHEMA["properties"]["evaluation"]["properties"]["attacks"]["items"]["properties"]
LEAVES = [path for path, _ in _leaves(SCHEMA)]


@pytest.mark.parametrize("path", LEAVES, ids=".".join)
def test_every_key_has_a_default(path):
    spec = dict(_leaves(SCHEMA))[path]
    assert "default" in spec, f"{'.'.join(path)}: the schema gives no default"


def test_the_settings_of_the_default_config_are_the_classes_defaults():
    """from_config reads the nested sections into the flat classes as their defaults (read from the schema)."""
    assert rt.DatasetSettings.from_config(CONFIG["dataset"]) == rt.DatasetSettings()
    assert rt.PreprocessSettings.from_config(CONFIG["preprocess"]) == rt.PreprocessSettings()
    assert rt.TrainingSettings.from_config(CONFIG["training"], "nominal") == rt.TrainingSettings()
    assert rt.EvaluationSettings.from_config(CONFIG["evaluation"]) == rt.EvaluationSettings()
    assert rt.TrainingSettings().lr == SCHEMA["properties"]["training"]["properties"]["lr"]["default"]


def test_every_settings_field_is_a_config_key_or_fixed_by_the_method():
    keys = {path[-1] for path in LEAVES} | {
        f"{path[1]}_{path[-1]}" for path in LEAVES if path[0] == "training" and path[1] in PREFIXED
    }
    fixed = {"mode", "n_inputs", "n_classes", "weight_bins", "eta_range", "pt_range_gev", "figures", "model"}
    fixed |= {"layout"}  # the inputs' layout: chosen by the architecture, read from the data
    keys |= {path[2] for path in LEAVES if path[:2] == ("training", "model") and len(path) == 4}  # their sections
    fixed |= {"seed"}  # a training's own, one of training.seeds
    fixed |= set(SECTIONS)
    classes = (rt.PreprocessSettings, rt.TrainingSettings, rt.ModelSettings, rt.EvaluationSettings, rt.FigureSettings)
    extra = (rt.StrongAttackCheckpoints, rt.ShiftedSamples, rt.DeepSetsSettings, rt.TransformerSettings)
    for cls in (*classes, *extra):
        assert {f.name for f in dataclasses.fields(cls)} - keys <= fixed, cls.__name__


def test_the_job_classes_defaults_are_the_sections():
    section = rt.EvaluationSettings()
    assert rt.StrongAttackSettings() == section.strong
    assert {f.name for f in dataclasses.fields(rt.AttackSettings)} == set(SCHEMA_ATTACK_KEYS)
    assert rt.ScoringSettings() == section.scoring
    assert rt.SampleSettings() == section.samples
    assert rt.TableSettings() == section.tables


def test_each_job_takes_only_its_keys():
    evaluation = CONFIG["evaluation"]
    assert set(rt.scoring_config(evaluation, baselines=False)) == {
        "epsilons",
        "restrict_impact",
        "max_jets",
        "batch_size",
        "device",
        "epsilon_scale",
    }
    assert set(rt.scoring_config(evaluation, baselines=True)) - set(rt.scoring_config(evaluation, baselines=False)) == {
        "baselines",
        "noise_seed",
    }
    assert set(rt.table_config(evaluation)) == {
        "weighted",
        "summary_epsilon",
        "restrict_impact",
        "bootstrap",
        "bootstrap_seed",
        "scale_factor_pt_bins",
        "scale_factor_abs_eta_bins",
    }
    assert rt.figure_config("fig7_roc_per_checkpoint", evaluation) == {"summary_epsilon": 0.05, "checkpoints": 4}
    assert rt.figure_config("fig9_auc_drop", evaluation) == {}
    assert rt.validation_config(evaluation) == {"batch_size": 65536, "device": "auto"}
    sections = ("seeds", "modes", "adversarial", "pgd", "ngm", "augmented", "domain", "paired", "variations")
    common = {k: v for k, v in CONFIG["training"].items() if k not in sections}
    model = CONFIG["training"]["model"]
    common["model"] = {"architecture": "dnn", "width": model["width"], "depth": model["depth"], "dropout": 0.1}
    assert rt.training_config(CONFIG["training"], "nominal", 1) == common | {"seed": 1}
    adversarial = common | {"adversarial": CONFIG["training"]["adversarial"], "seed": 2}
    assert rt.training_config(CONFIG["training"], "adversarial", 2) == adversarial
    assert rt.training_config(CONFIG["training"], "pgd", 2) == adversarial | {"pgd": CONFIG["training"]["pgd"]}
    assert rt.training_config(CONFIG["training"], "ngm", 3) == adversarial | {"ngm": CONFIG["training"]["ngm"]} | {
        "seed": 3
    }
    # a defence reads its own section (and the variations it trains on); domain training its target's declaration
    variations = CONFIG["training"]["variations"]
    augmented = common | {"augmented": CONFIG["training"]["augmented"], "variations": variations, "seed": 1}
    assert rt.training_config(CONFIG["training"], "augmented", 1) == augmented
    paired = common | {"paired": CONFIG["training"]["paired"], "variations": variations, "seed": 1}
    assert rt.training_config(CONFIG["training"], "paired", 1) == paired
    shifted = CONFIG["evaluation"]["shifted_samples"]
    target = {"name": "d0_resolution_up_20pct", "scale": {"resolution_scale": 1.2}, "seed": 1001, "n_jets": 40000}
    domain = common | {"domain": CONFIG["training"]["domain"] | {"target": target}, "seed": 1}
    assert rt.training_config(CONFIG["training"], "domain", 1, shifted=shifted) == domain
    # an architecture reads its own keys of training.model: the others' change retrains none of its trainings
    transformer = rt.training_config(CONFIG["training"], "nominal", 1, "transformer")["model"]
    assert transformer == {"architecture": "transformer", "dropout": 0.1, "transformer": model["transformer"]}
    deepsets = rt.training_config(CONFIG["training"] | {"model": model | {"width": 7}}, "nominal", 1, "deepsets")
    assert deepsets["model"] == {"architecture": "deepsets", "dropout": 0.1, "deepsets": model["deepsets"]}
    params = rt.scoring_config(evaluation, baselines=True)
    assert rt.from_params(rt.ScoringSettings, params) == rt.EvaluationSettings.from_config(evaluation).scoring
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['weighted'\]"):
        rt.from_params(rt.ScoringSettings, {**params, "weighted": True})


def test_the_default_config_passes_every_check():
    rt.check_config(CONFIG)
    with pytest.raises(ConfigError, match="split"):
        rt.check_config({**CONFIG, "preprocess": {**CONFIG["preprocess"], "split": [0.5, 0.5, 0.5]}})
    with pytest.raises(ConfigError, match="names no file"):
        rt.check_config({**CONFIG, "dataset": {"source": "root"}})
    knobs = {"synthetic": {"difficulty": {"resolution_scale": 0.0}}}  # the schema bounds only the fractions
    with pytest.raises(ConfigError, match="dataset.synthetic.difficulty.*resolution_scale"):
        rt.check_config({**CONFIG, "dataset": {**CONFIG["dataset"], **knobs}})


def test_settings_and_the_workflow_parse_import_no_torch(tmp_path):
    code = "import sys, robusttag.config, robusttag.paths, robusttag.history; "
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] in HEAVY))"
    run = subprocess.run(
        [sys.executable, "-c", f"HEAVY = ('torch', 'matplotlib'); {code}"], capture_output=True, text=True, check=True
    )
    assert run.stdout == "[]\n"
    # the workflow's parse (a dry run of the whole DAG), every import it makes listed by -X importtime
    workdir = copy_workflow(tmp_path / "parse")
    run = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "snakemake",
            "--dry-run",
            "--cores",
            "1",
            "--configfile",
            ".test/config/config.yaml",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "robusttag.config" in imported
    assert not {name for name in imported if name.split(".")[0] in ("torch", "matplotlib")}


def test_training_seeds_are_distinct_and_the_lowest_is_the_reference():
    assert rt.training_seeds({"seeds": [3, 1, 2]}) == [1, 2, 3]
    assert rt.training_seeds({}) == list(rt.DEFAULT_SEEDS)
    for wrong in ([], [1, 1]):
        with pytest.raises(ConfigError, match="training.seeds"):
            rt.training_seeds({"seeds": wrong})
    assert rt.TrainingSettings.from_config({"seeds": [4, 2]}, "nominal").seed == 2  # the config's: the reference
    assert rt.TrainingSettings.from_config(rt.training_config({"seeds": [4, 2]}, "nominal", 4), "nominal").seed == 4


def test_shifted_samples_scale_the_datasets_knobs_and_name_the_culprit():
    dataset = {"synthetic": {"difficulty": {"resolution_scale": 2.0}}}
    section = {
        "samples": [{"name": "worse_d0", "scale": {"resolution_scale": 1.2}}, {"name": "data", "files": ["a.root"]}]
    }
    knobs = rt.shifted_difficulties(dataset, section)
    assert list(knobs) == [rt.NOMINAL_TWIN, "worse_d0"]  # the file sample needs no generator
    assert knobs[rt.NOMINAL_TWIN]["resolution_scale"] == 2.0 and knobs["worse_d0"]["resolution_scale"] == 2.4
    assert {k: v for k, v in knobs["worse_d0"].items() if k != "resolution_scale"} == {
        k: v for k, v in knobs[rt.NOMINAL_TWIN].items() if k != "resolution_scale"
    }
    shifted = rt.ShiftedSamples.from_config(section)
    assert shifted.names() == [rt.NOMINAL_TWIN, "worse_d0", "data"] and shifted.sample("data").files == ("a.root",)
    for bad, named in [
        ({"samples": [{"name": "x", "scale": {"lifetime_scale": 0.9}, "files": ["a.root"]}]}, "give one of"),
        ({"samples": [{"name": "x", "scale": {"lifetime_scale": -1}}]}, "positive"),
        ({"samples": [{"name": "x", "files": ["a"]}, {"name": "x", "files": ["b"]}]}, "unique"),
        ({"samples": [{"name": rt.NOMINAL_TWIN, "files": ["a"]}]}, rt.NOMINAL_TWIN),
        ({"samples": [{"name": "x", "files": ["a"], "seed": 3}]}, "unknown key"),
        ({"samples": [{"name": "worse", "scale": {"resolutoin_scale": 1.2}}]}, "sample 'worse': unknown .*resolutoin"),
        ({"samples": [{"name": "fakes", "scale": {"light_fake_sv_rate": 20}}]}, "sample 'fakes'.*light_fake_sv_rate"),
    ]:
        with pytest.raises(ConfigError, match=named):
            rt.shifted_difficulties(dataset, bad)
    with pytest.raises(ConfigError, match="dataset.source is uci"):  # the default shifts need the generator
        rt.check_config({"dataset": {"source": "uci"}})


def test_the_pythia_samples_a_config_makes():
    """The dataset's sample, the twin (the shifted samples' seed and size), a generator variation as an
    independent sample (its own seed, its settings on top of the dataset's) and a detector variation that
    re-simulates the twin's events with its tracker on top of the nominal one."""
    dataset = {
        "source": "pythia",
        "pythia": {"n_jets": 1200, "chunk_jets": 500, "settings": {"Tune:pp": 14}, "tracker": {"fake_rate": 0.02}},
    }
    section = {
        "seed": 9,
        "n_jets": 600,
        "samples": [
            {"name": "fsr_up", "pythia": {"TimeShower:renormMultFac": 4.0}},
            {"name": "d0_worse", "tracker": {"resolution_scale": 1.2}},
        ],
    }
    samples = rt.pythia_samples(dataset, section)
    assert list(samples) == [rt.PYTHIA_DATASET, rt.NOMINAL_TWIN, "fsr_up", "d0_worse"]
    assert samples[rt.PYTHIA_DATASET].chunk_sizes == [500, 500, 200]
    twin, fsr, d0 = samples[rt.NOMINAL_TWIN], samples["fsr_up"], samples["d0_worse"]
    assert (twin.seed, twin.n_jets, twin.events, twin.chunk_sizes) == (9, 600, rt.NOMINAL_TWIN, [500, 100])
    assert (
        fsr.events == "fsr_up"
        and fsr.seed not in (9, 1)
        and fsr.seed == rt.pythia_samples(dataset, section)["fsr_up"].seed
    )
    assert fsr.generator["settings"] == {"Tune:pp": 14, "TimeShower:renormMultFac": 4.0}
    assert (d0.events, d0.seed, d0.generator) == (rt.NOMINAL_TWIN, 9, twin.generator)
    assert d0.tracker == {"fake_rate": 0.02, "resolution_scale": 1.2}
    shifted = rt.ShiftedSamples.from_config(section)
    assert [s.paired for s in shifted.samples] == [False, True] and shifted.names()[0] == rt.NOMINAL_TWIN
    assert rt.pythia_samples({"source": "synthetic"}, {"samples": []}) == {}


@pytest.mark.parametrize(
    "dataset, samples, named",
    [
        (
            {"source": "pythia"},
            [{"name": "fsr_up", "pythia": {"TimeShower:renormMultFacc": 4.0}}],
            "fsr_up.*does not know.*renormMultFacc",
        ),
        (
            {"source": "pythia"},
            [{"name": "b_frag", "pythia": {"StringZ:rFactB": 50.0}}],
            "b_frag.*StringZ:rFactB = 50.0 is outside",
        ),
        ({"source": "pythia", "pythia": {"settings": {"Tune:ppp": 14}}}, [], "dataset.*Tune:ppp"),
        (
            {"source": "pythia"},
            [{"name": "trk_eff", "tracker": {"efficiency_scale": 0.0}}],
            "trk_eff.*efficiency_scale",
        ),
        (
            {"source": "pythia"},
            [{"name": "trk", "tracker": {"d0_bais": 0.01}}],
            "trk.*unknown tracker setting.*d0_bais",
        ),
        (
            {"source": "synthetic"},
            [{"name": "fsr_up", "pythia": {"TimeShower:renormMultFac": 4.0}}],
            "fsr_up.*dataset.source is synthetic",
        ),
        (
            {"source": "pythia"},
            [{"name": "worse", "scale": {"resolution_scale": 1.2}}],
            "worse.*dataset.source is pythia",
        ),
        (
            {"source": "pythia"},
            [{"name": "both", "scale": {"resolution_scale": 1.2}, "tracker": {"fake_rate": 0.1}}],
            "give one of",
        ),
    ],
)
def test_a_wrong_pythia_sample_is_refused_before_any_job(dataset, samples, named):
    with pytest.raises(ConfigError, match=named):
        rt.check_config({"dataset": dataset, "evaluation": {"shifted_samples": {"samples": samples}}})
