"""Snakemake adapter: raw jets -> train/val/test Parquet and preprocessing.json."""

from pathlib import Path

from robusttag.io import end_job, logging_to
from robusttag.preprocess import preprocess
from robusttag.config import PreprocessSettings

with logging_to(snakemake.log[0]):
    preprocess(
        snakemake.input[0],
        Path(snakemake.output.summary).parent,
        PreprocessSettings.from_config(snakemake.params.settings),
        provenance={"dataset": snakemake.params.dataset, "preprocess": snakemake.params.settings},
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
