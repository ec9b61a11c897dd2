"""The full-size dataset on one machine: time and peak memory of every stage.

Generates a synthetic file with as many jets as the real one (11,491,971) in
the real format, then converts it to Parquet, preprocesses it, and trains one
epoch of each mode at the paper's batch size (65536) on the CPU, and scores
the nominal checkpoint on the whole test set (raw and FGSM at the four
default epsilons, with the cap), as every scanned checkpoint is. Each stage
runs in its own process under ``/usr/bin/time -v``; printed per stage: wall
time, peak resident memory, and the rate. Optionally (``--naive N``) the naive
reader of ``convert_throughput.py`` converts the first N jets of the same file,
for the ratio (it holds every jet in memory: the whole file does not fit in
24 GB).

    python benchmarks/full_size.py [--workdir /tmp/full_size] [--n-jets 11491971] [--naive N] [--keep]

Peak memory is GNU time's "Maximum resident set size": that of the largest
single process of the stage (the converter's parsing workers are separate
processes; ``convert_memory.py`` adds them up). Needs about 25 GB of disk.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

REAL_JETS = 11_491_971
HERE = Path(__file__).resolve().parent

_TRAIN = """
import sys
from robusttag.config import TrainingSettings
from robusttag.training import train
pre, out, mode = sys.argv[1:4]
settings = TrainingSettings(mode=mode, device="cpu", batch_size=65536, max_epochs=1)
history = train(f"{pre}/train.parquet", f"{pre}/val.parquet", f"{pre}/preprocessing.json", out,
                settings, state_dir=out + ".state", threads=2)
print("jets/s", history[0]["jets_per_s"], "epoch seconds", history[0]["seconds"])
"""

_SCORE = """
import sys
from pathlib import Path
from robusttag.evaluate import score_checkpoint
from robusttag.config import LossSettings, ScoringSettings
pre, checkpoint, out = sys.argv[1:4]
score_checkpoint(Path(checkpoint).parent, 1, f"{pre}/test.parquet", f"{pre}/preprocessing.json", out,
                 ScoringSettings(device="cpu"), LossSettings(), threads=2)
"""

_NAIVE = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from convert_throughput import naive_convert
seconds = naive_convert(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
print("naive seconds", seconds)
"""


def timed(name: str, command: list[str], log: Path) -> dict:
    """Run ``command`` under GNU time; its wall time, peak RSS and output."""
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    wall = time.perf_counter() - start
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        sys.exit(f"{name} failed (exit {result.returncode}), see {log}:\n{result.stderr[-2000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return {"stage": name, "wall_s": wall, "peak_gb": peak_kb / 2**20, "stdout": result.stdout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/full_size"))
    parser.add_argument("--n-jets", type=int, default=REAL_JETS)
    parser.add_argument("--naive", type=int, metavar="N", help="also time the naive reader on the first N jets")
    parser.add_argument("--keep", action="store_true", help="reuse stage outputs already in the workdir")
    args = parser.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    source, raw, pre = work / "jets.json.gz", work / "jets.parquet", work / "preprocessed"
    cli = [sys.executable, "-m", "robusttag.cli"]
    stages = [
        ("generate", source, [*cli, "generate", "--n-jets", str(args.n_jets), "--seed", "1", "--output", str(source)]),
        ("convert", raw, [*cli, "convert", str(source), "--output", str(raw)]),
        ("preprocess", pre / "preprocessing.json", [*cli, "preprocess", str(raw), "--output-dir", str(pre)]),
    ]
    for mode in ("nominal", "adversarial"):
        out = work / "models" / mode / "seed_1"  # a training's folder names its mode and seed
        stages.append(
            (f"train 1 epoch {mode}", out / "history.csv", [sys.executable, "-c", _TRAIN, str(pre), str(out), mode])
        )
    scores = work / "scores_epoch_001.parquet"
    checkpoint = work / "models" / "nominal" / "seed_1" / "epoch_001.pt"
    stages.append(
        ("score 1 checkpoint", scores, [sys.executable, "-c", _SCORE, str(pre), str(checkpoint), str(scores)])
    )
    if args.naive:
        naive = [sys.executable, "-c", _NAIVE, str(HERE), str(source), str(work / "naive.parquet"), str(args.naive)]
        stages.append(("naive reader", None, naive))

    results = []
    for name, product, command in stages:
        if args.keep and product is not None and product.exists():
            continue
        results.append(timed(name, command, work / f"{name.replace(' ', '_')}.log"))
        row = results[-1]
        print(f"{name:28s} {row['wall_s']:8.0f} s   peak {row['peak_gb']:6.2f} GB   {row['stdout'].strip()[-80:]}")
        sys.stdout.flush()
    sizes = {p.name: p.stat().st_size / 2**30 for p in (source, raw, *pre.glob("*.parquet")) if p.exists()}
    print("file sizes (GB):", json.dumps({k: round(v, 2) for k, v in sizes.items()}))
    jets = {"generate": args.n_jets, "convert": args.n_jets, "naive reader": args.naive}
    rates = {r["stage"]: jets[r["stage"]] / r["wall_s"] for r in results if r["stage"] in jets}
    print("jets/s (whole stage, start-up included):", json.dumps({k: round(v) for k, v in rates.items()}))
    if "convert" in rates and "naive reader" in rates:
        print(f"converter / naive reader: {rates['convert'] / rates['naive reader']:.1f}x")


if __name__ == "__main__":
    main()
