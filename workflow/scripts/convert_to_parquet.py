"""Snakemake adapter: any source files -> results/raw/jets.parquet."""

from robusttag.config import DatasetSettings
from robusttag.convert import convert
from robusttag.io import end_job, logging_to

with logging_to(snakemake.log[0]) as log:
    h5 = DatasetSettings.from_config({"h5": snakemake.params.h5}).h5  # how HDF5 files' fields map on robusttag's
    summary = convert(snakemake.input, snakemake.output[0], tree=snakemake.params.tree, h5=h5, workers=snakemake.threads)
    log.info("done: %s", summary)
end_job()  # outputs written and closed: skip the interpreter's teardown
