"""Snakemake adapter: resumable, verified download of the real dataset."""

from robusttag.io import log_to
from robusttag.sources.download import download

log_to(snakemake.log[0])
download(snakemake.params.url, snakemake.output[0], snakemake.params.sha256)
