"""Snakemake adapter: raw jets -> train/val/test Parquet and preprocessing.json."""

from pathlib import Path

from robusttag.io import logging_to
from robusttag.preprocess import PreprocessSettings, preprocess

with logging_to(snakemake.log[0]):
    settings = dict(snakemake.params.settings)
    settings["split"] = tuple(settings["split"])
    preprocess(
        snakemake.input[0],
        Path(snakemake.output.summary).parent,
        PreprocessSettings(**settings),
        provenance={"dataset": snakemake.params.dataset, "preprocess": snakemake.params.settings},
    )
