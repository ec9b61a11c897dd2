"""How much the selected checkpoint, and its test AUCs, depend on the training seed, rule by rule.

The preprocessed splits of the embedded default (made by the DAG in
``--workdir`` unless there) are trained on for every seed and mode, with the
default training settings but no early stopping, and every checkpoint's raw
test AUCs are computed. Each selection rule (``training.selection``: metric
and smoothing) is then applied to those histories exactly as the training
applies it, early stopping with ``training.patience`` included: a rule only
decides where training stops and which checkpoint is kept, so it needs no
training of its own. Printed per rule and mode, over the seeds: the selected
epoch (mean, standard deviation, range) and the test AUCs of BvsL and CvsL at
the selected checkpoint (mean and standard deviation). Not part of CI: about
one minute per seed on 2 cores.

    python benchmarks/checkpoint_selection.py [--seeds 1 2 3 4 5] [--workdir /tmp/selection]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch
import yaml

from robusttag.checkpoints import checkpoint_name, load_tagger
from robusttag.config import TrainingSettings, training_modes
from robusttag.data import load_split
from robusttag.evaluate import predict
from robusttag.history import selection_score
from robusttag.metrics import curve_metrics, discriminator_curves
from robusttag.preprocess import read_summary
from robusttag.training import train

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ("Snakefile", "config.yaml", "config", "workflow", "envs")
#: (metric, smoothing): the paper's rule first
RULES = (("val_loss", 1), ("val_loss", 3), ("val_auc", 1), ("val_auc", 3))


def preprocessed(workdir: Path) -> Path:
    """The preprocessed splits of the embedded default, made by the DAG where missing."""
    data = workdir / "results/preprocessed"
    if not (data / "preprocessing.json").exists():
        workdir.mkdir(parents=True, exist_ok=True)
        for item in WORKFLOW:
            source, target = ROOT / item, workdir / item
            if not target.exists():
                (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
        command = [sys.executable, "-m", "snakemake", str(data / "preprocessing.json"), "--cores", "all"]
        subprocess.run(command, cwd=workdir, check=True, capture_output=True)
    return data


def test_aucs(model_dir: Path, epochs: int, data: Path) -> list[dict[str, float]]:
    """The raw test AUCs (BvsL, CvsL) of every checkpoint."""
    device = torch.device("cpu")
    test = load_split(data / "test.parquet", read_summary(data / "preprocessing.json"), device, with_movable=False)
    labels = test.labels.numpy()
    out = []
    for epoch in range(1, epochs + 1):
        p = predict(load_tagger(model_dir / checkpoint_name(epoch), device), test.x, 65536).numpy()
        curves = discriminator_curves(p, labels, names=("BvsL", "CvsL"))
        out.append({name: curve_metrics(*curve, mistags=())["auc"] for name, curve in curves.items()})
    return out


def apply_rule(history: list[dict], metric: str, smoothing: int, patience: int) -> int:
    """The epoch a rule selects, stopping early as the training would."""
    best, best_epoch, waited = float("inf"), 0, 0
    for i in range(len(history)):
        score = selection_score(history[: i + 1], metric, smoothing)
        if score < best:
            best, best_epoch, waited = score, i + 1, 0
        else:
            waited += 1
            if waited >= patience:
                break
    return best_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/selection"))
    args = parser.parse_args()
    data = preprocessed(args.workdir)
    section = yaml.safe_load((ROOT / "config.yaml").read_text())["training"]
    runs, modes = {}, training_modes(section)
    for mode in modes:
        base = TrainingSettings.from_config(section, mode)
        for seed in args.seeds:
            settings = replace(base, seed=seed, patience=base.max_epochs)  # the whole history; rules stop below
            output = args.workdir / "models" / mode / f"seed_{seed}"
            shutil.rmtree(output, ignore_errors=True)
            history = train(
                data / "train.parquet", data / "val.parquet", data / "preprocessing.json", output, settings, threads=2
            )
            runs[mode, seed] = (history, test_aucs(output, len(history), data))
            print(f"{mode} seed {seed}: trained and scored", flush=True)
    patience = TrainingSettings.from_config(section, "nominal").patience
    print(f"\nover seeds {args.seeds}; patience {patience}; max_epochs {base.max_epochs}")
    print(f"{'rule':22s} {'mode':12s} {'selected epoch':28s} {'test AUC BvsL':22s} {'test AUC CvsL':22s}")
    for metric, smoothing in RULES:
        for mode in modes:
            epochs, aucs = [], {"BvsL": [], "CvsL": []}
            for seed in args.seeds:
                history, test = runs[mode, seed]
                epoch = apply_rule(history, metric, smoothing, patience)
                epochs.append(epoch)
                for name in aucs:
                    aucs[name].append(test[epoch - 1][name])
            sd = statistics.stdev
            print(
                f"{metric + ' / ' + str(smoothing):22s} {mode:12s} "
                f"{statistics.mean(epochs):5.1f} +- {sd(epochs):4.1f} ({min(epochs)}-{max(epochs)}) {epochs!s:9s} "
                + " ".join(f"{statistics.mean(v):.4f} +- {sd(v):.4f}   " for v in aucs.values())
            )


if __name__ == "__main__":
    main()
