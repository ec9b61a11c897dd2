"""How much adversarial training reduces the AUC drop under FGSM, over several seeds.

For each training seed, the whole DAG runs on the embedded default (or the
given config) in its own directory up to the AUC table; printed per seed and
as mean +- standard deviation: the raw AUCs of both models and the ratio

    relative AUC drop of the adversarial model under its own FGSM
    / relative AUC drop of the nominal model under its own FGSM

at eps = evaluation.summary_epsilon with the cap, for BvsL and CvsL (the paper
saw about 0.4 for CvsL). Not part of CI: about 5 minutes per seed on 2 cores.

    python benchmarks/robustness_study.py [--seeds 1 2 3] [--workdir /tmp/robustness] [--configfile extra.yaml]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ("Snakefile", "config.yaml", "config", "workflow", "envs")


def run_seed(seed: int, workdir: Path, extra: list[str]) -> pd.DataFrame:
    workdir.mkdir(parents=True, exist_ok=True)
    for item in WORKFLOW:
        source, target = ROOT / item, workdir / item
        if not target.exists():
            (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    (workdir / "seed.yaml").write_text(f"training:\n  seed: {seed}\nevaluation:\n  epochs: [1]\n")
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "results/tables/auc.csv",
        "--cores",
        "all",
        "--configfile",
        *extra,
        "seed.yaml",
    ]
    subprocess.run(command, cwd=workdir, check=True, capture_output=True)
    return pd.read_csv(workdir / "results/tables/auc.csv")


def numbers(auc: pd.DataFrame, epsilon: float) -> dict[str, float]:
    chosen = auc[auc["selected"]]
    out = {}
    for disc in ("BvsL", "CvsL"):
        drops = {}
        for model in ("nominal", "adversarial"):
            rows = chosen[(chosen["model"] == model) & (chosen["discriminator"] == disc)]
            raw = rows.loc[rows["attack"] == "raw", "auc"].item()
            fgsm = rows.loc[
                (rows["attack"] == "fgsm")
                & (rows["attack_source"] == model)
                & ((rows["epsilon"] - epsilon).abs() < 1e-9),
                "auc",
            ].item()
            out[f"{model} {disc} raw AUC"] = raw
            drops[model] = (raw - fgsm) / raw
        out[f"{disc} drop ratio"] = drops["adversarial"] / drops["nominal"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/robustness"))
    parser.add_argument("--configfile", nargs="*", default=[], help="extra config files (absolute paths)")
    parser.add_argument("--epsilon", type=float, default=0.05)
    args = parser.parse_args()
    rows = {}
    for seed in args.seeds:
        rows[seed] = numbers(run_seed(seed, args.workdir / f"seed_{seed}", args.configfile), args.epsilon)
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in rows[seed].items()), flush=True)
    for key in rows[args.seeds[0]]:
        values = [r[key] for r in rows.values()]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(
            f"{key:26s} mean {statistics.mean(values):.4f} +- {spread:.4f} "
            f"(min {min(values):.4f}, max {max(values):.4f})"
        )


if __name__ == "__main__":
    main()
