"""Snakemake adapter: a raw jet file preprocessed with the nominal preprocessing's statistics (no refit)."""

from robusttag.preprocess import read_summary
from robusttag.io import end_job, logging_to
from robusttag.preprocess import preprocess_like

with logging_to(snakemake.log[0]) as log:
    n_jets = preprocess_like(snakemake.input.raw, snakemake.output[0], read_summary(snakemake.input.summary))
    log.info("%s: %d jets", snakemake.output[0], n_jets)
end_job()  # outputs written and closed: skip the interpreter's teardown
