"""Converter throughput: robusttag's reader against the naive approach, same file.

The naive approach re-implements what the paper's authors did: ``json.loads``
per line, a recursive fix-up of the quoted non-finite strings, and an
``awkward.ArrayBuilder`` filled value by value, then written to Parquet.

    python benchmarks/convert_throughput.py [--n-jets 20000] [--naive-jets 5000] [--file F]

Prints jets/s of both and their ratio; the naive reader runs on the first
``--naive-jets`` lines only (it is slow), robusttag on the whole file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import tempfile
import time
from itertools import islice
from pathlib import Path

import awkward as ak

from robusttag.convert import convert
from robusttag.sources.synthetic import generate_file


def _fix(value):
    """Recursive fix-up of the quoted non-finite values, as the authors' reader did."""
    if isinstance(value, list):
        return [_fix(v) for v in value]
    if isinstance(value, str):
        return float(value)
    return value


def naive_convert(path: Path, output: Path, n_jets: int) -> float:
    """Seconds the naive approach needs for the first ``n_jets`` lines."""
    start = time.perf_counter()
    builder = ak.ArrayBuilder()
    with gzip.open(path, "rt") as lines:
        for line in islice(lines, n_jets):
            jet = _fix(json.loads(line))
            with builder.record():
                for name, value in zip(("jet_pt", "jet_eta", "flavor"), jet[:3]):
                    builder.field(name).real(value)
                for name, values in (("tracking", jet[3]), ("vertex", jet[4])):
                    with builder.field(name).list():
                        for v in values:
                            builder.real(v)
                with builder.field("tracks").list():
                    for track in jet[5]:
                        with builder.list():
                            for group in track:
                                with builder.list():
                                    for v in group:
                                        builder.real(v)
    ak.to_parquet(builder.snapshot(), output)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-jets", type=int, default=200_000, help="jets in the generated file")
    parser.add_argument("--naive-jets", type=int, default=20_000, help="jets the naive reader converts")
    parser.add_argument("--file", type=Path, help="use this .json.gz instead of generating one")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = args.file
        if path is None:
            path = tmp / "jets.json.gz"
            start = time.perf_counter()
            generate_file(path, n_jets=args.n_jets, seed=1)
            print(f"generated {args.n_jets} jets in {time.perf_counter() - start:.1f} s")
        summary = convert(path, tmp / "fast.parquet")
        fast_rate = summary.jets_per_second
        naive_jets = min(args.naive_jets, summary.n_jets)
        naive_rate = naive_jets / naive_convert(path, tmp / "naive.parquet", naive_jets)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"file: {path} ({summary.n_jets} jets, {summary.n_tracks / summary.n_jets:.1f} tracks/jet)")
    print(f"robusttag converter: {fast_rate:10.0f} jets/s ({summary.n_jets} jets)")
    print(f"naive reader:        {naive_rate:10.0f} jets/s ({naive_jets} jets)")
    print(f"ratio:               {fast_rate / naive_rate:10.1f}x")
    print(f"peak RSS of this process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
