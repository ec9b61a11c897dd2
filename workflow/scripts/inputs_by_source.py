"""Snakemake adapter: the Pythia sample's inputs beside the embedded generator's and the real dataset's facts."""

from pathlib import Path

from robusttag.figures.sources import write_inputs_by_source
from robusttag.io import end_job, logging_to

with logging_to(snakemake.log[0]):
    write_inputs_by_source(
        snakemake.input[0],
        snakemake.params.seed,
        snakemake.params.knobs,
        Path(snakemake.output.png).with_suffix(""),
        snakemake.output.table,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
