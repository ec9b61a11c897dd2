"""The ``robusttag`` command: the data stages outside Snakemake.

robusttag generate --n-jets N --seed S --output PATH   (.json.gz, .json or .root)
robusttag convert INPUT [INPUT ...] --output OUT.parquet [--tree jets]
robusttag preprocess RAW.parquet --output-dir DIR [--n-tracks 6] [--seed 42]
robusttag download [URL] --output PATH [--sha256 HEX]
robusttag defaults                                     (every key's default, as a config file)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from .errors import RobusttagError


def _generate(args: argparse.Namespace) -> None:
    from .sources.synthetic import generate_file

    start = time.perf_counter()
    generate_file(args.output, args.n_jets, args.seed)
    seconds = time.perf_counter() - start
    print(f"wrote {args.n_jets} jets to {args.output} in {seconds:.1f} s ({args.n_jets / seconds:.0f} jets/s)")


def _convert(args: argparse.Namespace) -> None:
    from .convert import convert

    summary = convert(args.inputs, args.output, tree=args.tree)
    print(
        f"wrote {summary.n_jets} jets ({summary.jets_per_flavor}) to {args.output} "
        f"in {summary.seconds:.1f} s ({summary.jets_per_second:.0f} jets/s)"
    )


def _preprocess(args: argparse.Namespace) -> None:
    from .config import PreprocessSettings
    from .preprocess import preprocess

    settings = PreprocessSettings(n_tracks=args.n_tracks, track_order=args.track_order, seed=args.seed)
    summary = preprocess(args.raw, args.output_dir, settings)
    print(f"wrote {summary['split_sizes']} jets to {args.output_dir}")


def _download(args: argparse.Namespace) -> None:
    from .sources.download import download

    digest = download(args.url, args.output, args.sha256)
    print(f"downloaded {args.url} to {args.output} (sha256 {digest})")


def _defaults(args: argparse.Namespace) -> None:
    import yaml

    from .config.schema import default_config

    print("# Every key's default (src/robusttag/config/schema.yaml): copy what you change into a config file.")
    print(yaml.safe_dump(default_config(), sort_keys=False), end="")


def build_parser() -> argparse.ArgumentParser:
    from .sources.download import DEFAULT_URL

    parser = argparse.ArgumentParser(prog="robusttag", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write synthetic jets in the real dataset's format")
    generate.add_argument("--n-jets", type=int, required=True)
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--output", type=Path, required=True, help=".json.gz, .json or .root")
    generate.set_defaults(run=_generate)

    convert = commands.add_parser("convert", help="convert dataset files to the raw Parquet table")
    convert.add_argument("inputs", nargs="+", type=Path, help=".json.gz, .json, .root or .h5 files")
    convert.add_argument("--output", type=Path, required=True)
    convert.add_argument("--tree", default="jets", help="TTree name for ROOT input")
    convert.set_defaults(run=_convert)

    pre = commands.add_parser("preprocess", help="order tracks, default, split, scale and weight")
    pre.add_argument("raw", type=Path)
    pre.add_argument("--output-dir", type=Path, required=True)
    pre.add_argument("--n-tracks", type=int, default=6)
    pre.add_argument("--track-order", default="signed_d0_significance")
    pre.add_argument("--seed", type=int, default=42)
    pre.set_defaults(run=_preprocess)

    down = commands.add_parser("download", help="resumable, verified download of the real dataset")
    down.add_argument("url", nargs="?", default=DEFAULT_URL)
    down.add_argument("--output", type=Path, required=True)
    down.add_argument("--sha256")
    down.set_defaults(run=_download)

    defaults = commands.add_parser("defaults", help="print every key's default as a config file to start from")
    defaults.set_defaults(run=_defaults)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(message)s")
    try:
        args.run(args)
    except RobusttagError as error:
        print(f"robusttag {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
