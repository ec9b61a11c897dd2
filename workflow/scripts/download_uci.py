"""Snakemake adapter: resumable, verified download of the real dataset."""

from robusttag.io import end_job, logging_to
from robusttag.sources.download import download

with logging_to(snakemake.log[0]) as log:
    digest = download(snakemake.params.url, snakemake.output[0], snakemake.params.sha256)
    log.info("sha256 of %s: %s", snakemake.output[0], digest)
end_job()  # outputs written and closed: skip the interpreter's teardown
