"""Snakemake adapter: any source files -> results/raw/jets.parquet."""

import logging

from robusttag.convert import convert
from robusttag.io import log_to

log_to(snakemake.log[0])
summary = convert(snakemake.input, snakemake.output[0], tree=snakemake.params.tree, workers=snakemake.threads)
logging.getLogger("convert").info("done: %s", summary)
