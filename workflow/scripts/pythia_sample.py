"""Snakemake adapter: a Pythia sample's chunks of jets, one after the other, in one file."""

from robusttag.io import end_job, logging_to
from robusttag.sources.uci import concatenate_files

with logging_to(snakemake.log[0]):
    concatenate_files(snakemake.input, snakemake.output[0])
end_job()  # outputs written and closed: skip the interpreter's teardown
