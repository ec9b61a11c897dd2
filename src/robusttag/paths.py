"""Where every artifact of a run lives under ``results/``: asked by the workflow's rules and by the library
alike, so that a path is spelled in one place. Torch-free: Snakemake imports it when it parses the workflow.

A study (one architecture's trainings, or one audited model) keeps everything under its root
(:func:`study_root`, :func:`audit_root`). The functions that name a study's files take their parts as
arguments whose defaults are Snakemake's wildcards (``{root}``, ``{model}``, ``{seed}``, ``{epoch}``): called
without them they give a rule's output pattern, called with values the file of one job.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import ARCHITECTURES, DNN, FIGURES
from .errors import ConfigError, ResultsError

RESULTS = "results"
#: The jets of ``dataset.source`` converted to one table, read by every preprocessing.
RAW_JETS = f"{RESULTS}/raw/jets.parquet"
#: The Pythia source's samples, each under its folder: events and jets chunk by chunk, then the whole sample
PYTHIA = f"{RESULTS}/pythia"
#: The generated or downloaded source files, by ``dataset.source`` (``root`` reads the user's files).
SOURCE_FILES = {
    "synthetic": f"{RESULTS}/source/synthetic.json.gz",
    "pythia": f"{PYTHIA}/dataset/jets.json.gz",
    "uci": f"{RESULTS}/source/dataset.json.gz",
}
#: A preprocessing's files, by name, in its folder (:func:`preprocessed_dir`).
SPLIT_FILES = {"train": "train.parquet", "val": "val.parquet", "test": "test.parquet", "summary": "preprocessing.json"}
#: The tables of a study's shifted samples, by name (``{root}/tables/shifted_{name}.csv``).
SHIFTED_TABLES = ("auc", "working_points", "scale_factors", "distances", "visibility")
#: The strong suite's files of one checkpoint, in the order :func:`strong_attack_files` gives them.
STRONG_KINDS = ("scores", "checks", "certified", "visibility", "invisible")


def _epoch(epoch: int | str) -> str:
    """A checkpoint's number as its files spell it (``007``); a wildcard is kept."""
    return epoch if isinstance(epoch, str) else f"{epoch:03d}"


def log(name: str, root: str = RESULTS) -> str:
    """The log of a job, ``{root}/logs/{name}.log`` (``name`` may hold a folder)."""
    return f"{root}/logs/{name}.log"


# ---------------------------------------------------------------------------
# Data: the jets before any model
# ---------------------------------------------------------------------------


def preprocessed_dir(layout: str) -> str:
    """Where the preprocessing of a layout writes its splits and ``preprocessing.json``."""
    return f"{RESULTS}/preprocessed" if layout == "flat" else f"{RESULTS}/preprocessed_{layout}"


def preprocessed_files(folder: str) -> dict[str, str]:
    """The files of the preprocessing in ``folder``, by name (:data:`SPLIT_FILES`)."""
    return {name: f"{folder}/{file}" for name, file in SPLIT_FILES.items()}


def shifted_sample(sample: str = "{sample}", kind: str = "jets") -> str:
    """A shifted sample's file: ``source`` (the generator's output), ``jets`` (converted) or, for the name of a
    preprocessing folder (``preprocessed``), its jets preprocessed with that folder's statistics.
    """
    if kind == "source":
        return f"{RESULTS}/shifted/{sample}/source.json.gz"
    return f"{RESULTS}/shifted/{sample}/{kind}.parquet"


def variation_sample(variation: str = "{variation}", kind: str = "jets") -> str:
    """A training variation's file: ``source`` (the embedded generator's output), ``jets`` (converted) or, for the
    name of a preprocessing folder (``preprocessed``), its training split preprocessed with that folder's statistics.
    """
    if kind == "source":
        return f"{RESULTS}/variations/{variation}/source.json.gz"
    if kind == "jets":
        return f"{RESULTS}/variations/{variation}/jets.parquet"
    return f"{RESULTS}/variations/{variation}/{kind}_train.parquet"


def pythia_events(sample: str = "{pythia_sample}", chunk: int | str = "{chunk}") -> str:
    """A Pythia sample's generated events of one chunk (truth jets, charged particles)."""
    return f"{PYTHIA}/{sample}/events/{chunk}.npz"


def pythia_jets(sample: str = "{pythia_sample}", chunk: int | str = "{chunk}") -> str:
    """A Pythia sample's jets of one chunk, in the dataset's format."""
    return f"{PYTHIA}/{sample}/jets/{chunk}.json.gz"


#: The Pythia run's inputs beside the embedded generator's: the figure (without suffix) and its table
INPUTS_BY_SOURCE = {"figure": f"{RESULTS}/figures/inputs_by_source", "table": f"{RESULTS}/tables/inputs_by_source.csv"}


def pythia_sample(sample: str = "{pythia_sample}") -> str:
    """A Pythia sample's jets, its chunks one after the other."""
    return f"{PYTHIA}/{sample}/jets.json.gz"


# ---------------------------------------------------------------------------
# Studies: an architecture's, or an audited model's
# ---------------------------------------------------------------------------


def study_root(architecture: str) -> str:
    """The folder of an architecture's study (trainings, scores, tables, figures): ``results`` for the
    paper's DNN, ``results/{architecture}`` for the others.
    """
    return RESULTS if architecture == DNN else f"{RESULTS}/{architecture}"


def study_architecture(root: str) -> str:
    """The architecture whose study lives in ``root`` (:func:`study_root`).

    Raises
    ------
    ConfigError
        When ``root`` is no architecture's.
    """
    for architecture in ARCHITECTURES:
        if study_root(architecture) == root:
            return architecture
    raise ConfigError(f"{root} is no architecture's results folder")


def audit_root(name: str) -> str:
    """The folder of the study of an audited model (``evaluation.external_models``)."""
    return f"{RESULTS}/external/{name}"


def model_dir(mode: str = "{model}", seed: int | str = "{seed}", root: str = "{root}") -> str:
    """Where the training of a mode with a seed writes its checkpoints and history (under a study's
    ``root``); an audit imports its model there too.
    """
    return f"{root}/models/{mode}/seed_{seed}"


def history_file(model_dir: str | os.PathLike) -> Path:
    """A training's history (one row per epoch; an audit's: one row), written last, in its folder."""
    return Path(model_dir) / "history.csv"


def model_identity(path: str | os.PathLike) -> tuple[str, int]:
    """(mode, seed) of a training's output folder, ``.../{mode}/seed_{seed}`` (:func:`model_dir`).

    Raises
    ------
    ResultsError
        When the folder is not named so.
    """
    path = Path(path)
    seed = path.name.removeprefix("seed_")
    if not seed.isdigit() or not path.parent.name:
        raise ResultsError(f"{path}: a training's folder is named .../{{mode}}/seed_{{seed}}")
    return path.parent.name, int(seed)


def scores(
    root: str = "{root}", model: str = "{model}", seed: int | str = "{seed}", epoch: int | str = "{epoch}", kind=""
) -> str:
    """The scores of one checkpoint on the test jets: FGSM and the noise at every eps (``kind`` empty), the
    baselines and transferred attacks (``extra_attacks``), the strong suite (``strong_attacks``, or at the
    summary's eps only, ``strong_attacks_per_checkpoint``), the raw validation jets (``validation``).
    """
    suffix = f"_{kind}" if kind else ""
    return f"{root}/scores/{model}/seed_{seed}/epoch_{_epoch(epoch)}{suffix}.parquet"


def shifted_scores(root: str = "{root}", model: str = "{model}", seed: int | str = "{seed}", validation=False) -> str:
    """A training's scores on every shifted sample (or, ``validation``, on its raw validation jets)."""
    return f"{root}/scores/{model}/seed_{seed}/shifted_samples{'_validation' if validation else ''}.parquet"


def strong_attack_files(
    root: str = "{root}",
    model: str = "{model}",
    seed: int | str = "{seed}",
    epoch: int | str = "{epoch}",
    per_checkpoint: bool = False,
) -> dict[str, str]:
    """The strong suite's files of one checkpoint by kind (:data:`STRONG_KINDS`): its scores, its attacks'
    checks, the certified bounds, the visibility and the invisible attack (``per_checkpoint``: the run at the
    summary's eps only).
    """
    where = f"{root}/checks/{model}/seed_{seed}/epoch_{_epoch(epoch)}{'_per_checkpoint' if per_checkpoint else ''}"
    kind = "strong_attacks_per_checkpoint" if per_checkpoint else "strong_attacks"
    return {
        "scores": scores(root, model, seed, epoch, kind),
        "checks": f"{where}.csv",
        "certified": f"{where}_certified.csv",
        "visibility": f"{where}_visibility.csv",
        "invisible": f"{where}_invisible.csv",
    }


def fgsm_samples(root: str = "{root}") -> str:
    """The input samples, raw and under FGSM, that Figs. 5 and 10 draw."""
    return f"{root}/samples/fgsm_inputs.parquet"


def table(name: str, root: str = "{root}") -> str:
    """A study's table, ``name`` with its suffix (``auc.csv``, ``roc.parquet``, ``summary.md``)."""
    return f"{root}/tables/{name}"


def shifted_tables(root: str = "{root}") -> dict[str, str]:
    """The tables of a study's shifted samples, by name."""
    return {name: table(f"shifted_{name}.csv", root) for name in SHIFTED_TABLES}


def corrections(root: str = "{root}") -> str:
    """A study's working points and scale factors as a correctionlib file (:mod:`robusttag.export.corrections`)."""
    return f"{root}/corrections/scale_factors.json.gz"


#: the suffix of each kind of exported tagger (:func:`exported_model`)
EXPORT_SUFFIXES = {"onnx": "onnx", "torchscript": "pt"}


def exported_model(kind: str, mode: str = "{model}", seed: int | str = "{seed}", root: str = "{root}") -> str:
    """A trained tagger's selected checkpoint, exported with its preprocessing (``onnx`` or ``torchscript``)."""
    return f"{root}/exports/{mode}/seed_{seed}/tagger.{EXPORT_SUFFIXES[kind]}"


def figure(name: str, root: str = "{root}", suffix: str = "png") -> str:
    """A study's figure (``results/figures/`` holds the run's comparison of architectures too)."""
    return f"{root}/figures/{name}.{suffix}"


def figure_inputs(name: str, root: str, shifted: bool, model_dirs: list[str]) -> list[str]:
    """The files the figure ``name`` (:data:`robusttag.config.FIGURES`) of the study in ``root`` reads, in a run
    with or without ``shifted`` samples; ``model_dirs``: the reference seed's trainings, for a figure of the
    training histories.
    """
    figure = FIGURES[name]
    files = [table(file, root) for file in figure.tables + (figure.shifted_tables if shifted else ())]
    files += [fgsm_samples(root)] if figure.fgsm_samples else []
    return files + (list(model_dirs) if figure.histories else [])


def audit_jets(root: str = "{root}") -> str:
    """The jets an audited model declares as its own (its ``files``), converted."""
    return f"{root}/jets.parquet"


def audit_preprocessed_dir(root: str = "{root}") -> str:
    """Where an audit's validation and test jets are preprocessed as its model declares."""
    return f"{root}/preprocessed"


#: The comparison of the architectures (with more than one): its table and the run's summary.
ARCHITECTURE_OUTPUTS = {"table": table("architectures.csv", RESULTS), "summary": f"{RESULTS}/summary.md"}
