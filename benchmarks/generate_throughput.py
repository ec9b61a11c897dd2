"""Synthetic generator throughput: jets/s generated in memory and written to
the real .json.gz format (and to ROOT).

    python benchmarks/generate_throughput.py [--n-jets 1000000] [--root]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from robusttag.sources.synthetic import generate, generate_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-jets", type=int, default=1_000_000)
    parser.add_argument("--root", action="store_true", help="also time writing a .root file")
    args = parser.parse_args()
    n = args.n_jets

    start = time.perf_counter()
    batch = generate(n, seed=1)
    seconds = time.perf_counter() - start
    print(
        f"generate in memory: {n} jets in {seconds:6.1f} s = {n / seconds:9.0f} jets/s "
        f"({batch.n_tracks.mean():.1f} tracks/jet)"
    )
    del batch
    formats = [".json.gz", ".root"] if args.root else [".json.gz"]
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in formats:
            path = Path(tmp) / f"jets{suffix}"
            start = time.perf_counter()
            generate_file(path, n, seed=1)
            seconds = time.perf_counter() - start
            size = os.path.getsize(path)
            print(
                f"write {suffix:8s}: {n} jets in {seconds:6.1f} s = {n / seconds:9.0f} jets/s "
                f"({size / 1e6:.0f} MB, {size / n:.0f} bytes/jet)"
            )


if __name__ == "__main__":
    main()
