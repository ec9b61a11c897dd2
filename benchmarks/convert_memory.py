"""Peak memory of the converter does not grow with the file size.

Generates two .json.gz files (N and 4N jets), converts each in a fresh
process and prints the peak resident memory of the converting process and
of its largest parsing worker, and their sum (an upper bound of the total).

    python benchmarks/convert_memory.py [--n-jets 250000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from robusttag.sources.synthetic import generate_file

_CHILD = """
import resource, sys, time
from robusttag.convert import convert
summary = convert(sys.argv[1], sys.argv[2])
main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(summary.n_jets, summary.jets_per_second, main, worker)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-jets", type=int, default=250_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (args.n_jets, 4 * args.n_jets):
            source = Path(tmp) / f"jets_{n}.json.gz"
            generate_file(source, n, seed=2)
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(source), str(Path(tmp) / f"jets_{n}.parquet")],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            jets, rate, main_mb, worker_mb = int(out[0]), float(out[1]), float(out[2]), float(out[3])
            print(
                f"{jets:9d} jets ({source.stat().st_size / 1e6:6.0f} MB gz): {rate:7.0f} jets/s, peak RSS "
                f"main {main_mb:5.0f} MB + largest worker {worker_mb:5.0f} MB = {main_mb + worker_mb:5.0f} MB"
            )


if __name__ == "__main__":
    main()
