"""Each test jet's distance to its working points at a selected checkpoint (rule ``jet_distances``).

The cuts are the working points' (:func:`.metrics.working_point_cuts`, as
:mod:`.analysis.working_points` fixes them): on the checkpoint's raw validation
scores at the light (BvsL, CvsL) or c (BvsC) mistag rates of
``metrics.WORKING_POINT_MISTAGS``. For the first
``evaluation.distance_jets`` test jets and every discriminator of their
flavour, :func:`.attacks.distance.distances_to_cuts` finds the smallest eps at
which the targeted attack moves the jet across each cut.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from .attacks.distance import DistanceSearch, distances_to_cuts
from .checkpoints import checkpoint_name, load_tagger
from .config import DistanceSettings
from .errors import ResultsError
from .evaluate import constrained_test_set, job_device
from .io import atomic_output
from .metrics import DISCRIMINATORS, WORKING_POINT_MISTAGS, working_point_cuts
from .paths import model_identity
from .preprocess import read_summary

log = logging.getLogger(__name__)

COLUMNS = (
    "model",
    "seed",
    "epoch",
    "jet",
    "label",
    "weight",
    "raw_jet_pt",
    "raw_jet_eta",
    "discriminator",
    "mistag_target",
    "cut",
    "distance",
)


def score_distances(
    model_dir: str | os.PathLike,
    epoch: int,
    test_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    validation_path: str | os.PathLike,
    output: str | os.PathLike,
    settings: DistanceSettings,
    *,
    train_path: str | os.PathLike | None = None,
    threads: int | None = None,
) -> None:
    """Write every jet's distance to every working point of its discriminators (the columns of ``COLUMNS``).

    ``jet`` is the jet's row in the test split; ``distance`` 0 where the jet is already on the wrong
    side of the cut (a signal jet below it, a background jet at or above it), inf where the attack
    does not move it across within ``evaluation.distance_max_epsilon``.

    Raises
    ------
    ResultsError
        When the validation scores are not this checkpoint's.
    """
    device = job_device(settings.device, threads)
    summary = read_summary(summary_path)
    test = constrained_test_set(test_path, summary, device, settings, train_path)
    name, seed = model_identity(model_dir)
    model = load_tagger(Path(model_dir) / checkpoint_name(epoch), device)
    model.eval()
    validation = pd.read_parquet(validation_path)
    if not len(validation) or set(zip(validation["model"], validation["seed"], validation["epoch"])) != {
        (name, seed, epoch)
    }:
        raise ResultsError(f"{validation_path}: not the raw validation scores of {name} seed {seed} epoch {epoch}")
    weights = validation["weight"].to_numpy() if settings.weighted else None
    probabilities = validation[["p_b", "p_c", "p_light"]].to_numpy()
    cuts = working_point_cuts(probabilities, validation["label"].to_numpy(), WORKING_POINT_MISTAGS, weights)
    n = min(settings.distance_jets, len(test.data))
    kinematics = pq.read_table(test_path, columns=["raw_jet_pt", "raw_jet_eta"]).slice(0, n).to_pandas()
    search = DistanceSearch(settings.distance_max_epsilon, settings.distance_bisections)
    x, labels, movable = test.data.x[:n], test.data.labels[:n], test.data.movable[:n]
    frames = []
    for disc in DISCRIMINATORS:
        keys = [(disc, target) for target in WORKING_POINT_MISTAGS]
        if any(key not in cuts for key in keys):
            log.info("%s: no %s working point (validation jets of one flavour only)", validation_path, disc)
            continue
        jets, found = distances_to_cuts(
            model, x, labels, movable, test.constraints, disc, [cuts[k] for k in keys], search, settings.batch_size
        )
        for column, target in enumerate(WORKING_POINT_MISTAGS):
            frames.append(
                pd.DataFrame(
                    {
                        "model": name,
                        "seed": seed,
                        "epoch": epoch,
                        "jet": jets,
                        "label": labels.cpu().numpy()[jets],
                        "weight": test.data.weights[:n].cpu().numpy()[jets],
                        "raw_jet_pt": kinematics["raw_jet_pt"].to_numpy()[jets],
                        "raw_jet_eta": kinematics["raw_jet_eta"].to_numpy()[jets],
                        "discriminator": disc,
                        "mistag_target": target,
                        "cut": cuts[keys[column]],
                        "distance": found[:, column],
                    }
                )
            )
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    with atomic_output(output) as tmp:
        table.to_parquet(tmp, index=False, compression="zstd")
    log.info("%s: %d distances of %d jets, %s seed %d epoch %d", output, len(table), n, name, seed, epoch)
