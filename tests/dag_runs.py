"""The suite's whole-DAG runs that depend on nothing but the workflow: started in the background when the
session starts (tests/conftest.py), each in its own copy of the workflow, and collected by the fixture of
the same name when its first test runs; the tests that read them run after the others, so that the runs
use the core that the rest of the suite leaves free.

The session's run of the test configuration starts at normal priority on two cores (most DAG tests read it,
and the SLURM run, on two cores, is compared with it); the larger runs read by one module each start niced
(the findings' on one core: its two trainings, most of its time, one after the other), so that they take the
CPU the others leave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import snakemake_process
from workflow_copy import copy_workflow

TEST_CONFIG = ".test/config/config.yaml"
#: --resources of the local runs: there is no GPU, the resource only caps the GPU jobs at once (one per core)
GPUS = "gpu=2"
TIMEOUT = 1800  # s, from the first test that reads the run: it shares the CPU with the rest of the suite

FOUR_TRACKS = """
dataset: {synthetic: {n_jets: 3000}}
preprocess: {n_tracks: 4, max_tracks: 8}
training: {max_epochs: 1, seeds: [1], modes: [ngm, nominal, pgd], pgd: {steps: 2},
           model: {architecture: [transformer, dnn, deepsets], transformer: {dim: 16, blocks: 1}}}
evaluation: {epsilons: [0.05], summary_epsilon: 0.05, figures: {input_features: [trk3_d0, vertex_mass],
             input_epsilons: [0.05]}, certified_jets: 50, exact_domains: 1000, visibility_jets: 300, distance_jets: 200,
             shifted_samples: {n_jets: 500}, attacks: [{method: pgd, steps: 1}]}
"""
FOUR_STUDIES = ("results", "results/deepsets", "results/transformer")
#: What the four-slot run builds: every study's tables (with its strong suite, bounds and shifted samples) and
#: input samples, the comparison and its figure, and Fig. 4 of three models; the other figures' rules are the
#: same for every study and drawn on the session's run (their jobs here: a dry run).
FOUR_TARGETS = [
    *(f"{root}/{file}" for root in FOUR_STUDIES for file in ("tables/summary.md", "samples/fgsm_inputs.parquet")),
    "results/summary.md",
    "results/figures/architectures.png",
    "results/figures/fig4_cross_attacks.png",
]

FINDINGS = """\
dataset:
  synthetic: {n_jets: 60000, seed: 1}
training:
  seeds: [1]
  batch_size: 2048
  max_epochs: 12
  patience: 12
evaluation:
  epsilons: [0.01, 0.05]
  epochs: [1, 2, 3, 6, 12]
  # the findings read FGSM, the noise baseline and the raw AUCs only: the least of everything else the AUC
  # table's job waits for (the strong suite at the selected checkpoints, no bound, no shifted sample)
  attacks: [{method: pgd, steps: 1}]
  strong_attacks: {epochs: []}
  certified_jets: 0
  visibility_jets: 0
  distance_jets: 0  # none: no finding reads them (and the path without distances runs)
  bootstrap: 0
  shifted_samples: {samples: []}
"""


#: The whole study on a few Pythia jets: three chunks, the twin, a generator and a detector variation; augmented
#: training on a detector and a generator variation of the dataset
PYTHIA = """\
dataset:
  source: pythia
  pythia: {n_jets: 1200, chunk_jets: 400, seed: 3}
training:
  seeds: [1]
  batch_size: 256
  max_epochs: 2
  modes: [nominal, augmented]
  variations:  # a detector variation of the dataset's own events, a generator variation of its own events
    - {name: d0_resolution_down, tracker: {resolution_scale: 0.8}}
    - {name: isr_up, pythia: {"SpaceShower:renormMultFac": 4.0}}
evaluation:
  attacks: [{method: pgd, steps: 1}]
  strong_attacks: {epochs: []}
  certified_jets: 0
  visibility_jets: 0
  distance_jets: 200
  bootstrap: 20
  shifted_samples:
    n_jets: 400
    samples:
      - {name: fsr_up, pythia: {"TimeShower:renormMultFac": 4.0}}
      - {name: d0_resolution_up, tracker: {resolution_scale: 1.3}}
"""
#: What the Pythia run builds: the tables, the inputs by source and the premise (the other figures are the same
#: rules as the session's run)
PYTHIA_TARGETS = (
    "results/tables/summary.md",
    "results/tables/inputs_by_source.csv",
    "results/figures/inputs_by_source.png",
    "results/figures/premise.png",
)


#: The defences against mismodelling beside nominal and FGSM training, two seeds, on two held-out samples (one a
#: new value of a trained knob, one a knob never trained), the first also domain training's target
DEFENCES = """\
dataset: {synthetic: {n_jets: 2500, seed: 5}}
training:
  modes: [nominal, adversarial, augmented, domain, paired]
  seeds: [1, 2]
  batch_size: 256
  max_epochs: 2
evaluation:
  epsilons: [0.05]
  summary_epsilon: 0.05
  attacks: [{method: pgd, steps: 1}]
  strong_attacks: {epochs: []}
  certified_jets: 0
  visibility_jets: 0
  distance_jets: 200
  bootstrap: 20
  shifted_samples:
    n_jets: 800
    samples:
      - {name: d0_resolution_up_20pct, scale: {resolution_scale: 1.2}}
      - {name: light_fake_vertices_up_50pct, scale: {light_fake_sv_rate: 1.5}}
"""
DEFENCES_TARGETS = ("results/tables/summary.md", "results/figures/defences.png")


@dataclass(frozen=True)
class DagRun:
    """Snakemake on ``targets`` (rule all when empty) with ``configs``, the files of ``files`` written first."""

    configs: tuple[str, ...]
    targets: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    nice: int = 0
    cores: int = 2

    def start(self, folder: Path) -> Started:
        workdir = copy_workflow(folder)
        for name, text in self.files.items():
            (workdir / name).write_text(text)
        args = (*self.targets, "--resources", GPUS, "--cores", str(self.cores), "--configfile", *self.configs)
        return Started(workdir, snakemake_process.start(workdir, *args, nice=self.nice))


@dataclass
class Started:
    workdir: Path
    running: snakemake_process.Running

    def finish(self) -> Path:
        """The run's folder once it has succeeded (a failure fails the test that asks for it)."""
        self.running.finish(TIMEOUT)
        return self.workdir


#: fixture name -> its run, in the order they start
RUNS = {
    "workflow": DagRun(configs=(TEST_CONFIG,)),
    "four_tracks": DagRun(
        configs=(TEST_CONFIG, "four.yaml"),
        targets=tuple(FOUR_TARGETS),
        files={"four.yaml": FOUR_TRACKS},
        nice=5,
    ),
    "findings": DagRun(
        configs=("findings.yaml",),
        targets=("results/tables/auc.csv",),
        files={"findings.yaml": FINDINGS},
        nice=5,
        cores=1,
    ),
    "defences_run": DagRun(
        configs=("defences.yaml",), targets=DEFENCES_TARGETS, files={"defences.yaml": DEFENCES}, nice=5
    ),
    "pythia_run": DagRun(configs=("pythia.yaml",), targets=PYTHIA_TARGETS, files={"pythia.yaml": PYTHIA}, nice=5),
}
