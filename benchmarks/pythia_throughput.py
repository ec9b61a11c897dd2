"""Pythia source throughput, end to end: jets per second per core from Pythia's events (multiple interactions
on, as in every sample) to the written chunk in the dataset's format, stage by stage.

    python benchmarks/pythia_throughput.py [--jets 5000] [--processes 1]

One chunk of ``--jets`` jets in the default flavour shares is generated (events, truth jets, labels, charged
particles), written to its events file, read back, simulated through the detector (tracks, primary and
secondary vertices, features) and written as JSON lines, timed stage by stage. With ``--processes N`` the
same is run as N chunks at once (one per process, as N Snakemake jobs would): the jets per second of all
of them together over the cores used. The goal: at least 100 jets/s per core.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from robusttag.config import PythiaSettings
from robusttag.sources import pythia, reconstruction

GOAL_JETS_PER_SECOND = 100.0


def one_chunk(jets: int, chunk: int, folder: str) -> dict[str, float]:
    """Seconds of each stage of one chunk (seed 1, the given index)."""
    defaults = PythiaSettings()
    sample = pythia.Sample(defaults.flavour_shares, defaults.pt_hat_min, defaults.pt_hat_bias)
    times = {}
    start = time.perf_counter()
    truth = pythia.generate_chunk(sample, 1, chunk, jets, "benchmark")
    times["generation (events, jets, labels)"] = time.perf_counter() - start
    events = Path(folder) / f"events_{chunk}.npz"
    start = time.perf_counter()
    pythia.write_chunk(events, truth)
    times["events file written"] = time.perf_counter() - start
    start = time.perf_counter()
    reconstruction.simulate_chunk(events, Path(folder) / f"jets_{chunk}.json.gz", 1, chunk)
    times["detector, vertices, features, file"] = time.perf_counter() - start
    times["particles per event"] = len(truth.particles.event) / (truth.jets.event.max() + 1)
    times["events per jet"] = (truth.jets.event.max() + 1) / jets
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jets", type=int, default=5000, help="jets per chunk")
    parser.add_argument("--processes", type=int, default=1, help="chunks at once, one per process")
    args = parser.parse_args()
    print(f"CPU: {os.cpu_count()} cores seen; {args.processes} chunk(s) of {args.jets} jets at once")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        if args.processes == 1:
            results = [one_chunk(args.jets, 0, folder)]
        else:
            with ProcessPoolExecutor(args.processes) as pool:
                chunks = range(args.processes)
                results = list(pool.map(one_chunk, [args.jets] * args.processes, chunks, [folder] * args.processes))
        wall = time.perf_counter() - start
    for stage in results[0]:
        values = [r[stage] for r in results]
        unit = "" if "per" in stage else " s"
        print(f"  {stage:38s} {sum(values) / len(values):8.2f}{unit}")
    total_jets = args.jets * args.processes
    per_core = total_jets / wall / args.processes
    print(f"end to end: {total_jets} jets in {wall:.1f} s wall = {per_core:.1f} jets/s per core")
    print(f"ratio to the goal of {GOAL_JETS_PER_SECOND:.0f} jets/s per core: {per_core / GOAL_JETS_PER_SECOND:.2f}")
    print(f"so 200,000 jets take {200_000 / (per_core * args.processes) / 60:.1f} min on {args.processes} core(s)")


if __name__ == "__main__":
    main()
