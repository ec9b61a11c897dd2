"""Snakemake adapter: any source files -> results/raw/jets.parquet."""

from robusttag.convert import convert
from robusttag.io import end_job, logging_to

with logging_to(snakemake.log[0]) as log:
    summary = convert(snakemake.input, snakemake.output[0], tree=snakemake.params.tree, workers=snakemake.threads)
    log.info("done: %s", summary)
end_job()  # outputs written and closed: skip the interpreter's teardown
