"""Snakemake adapter: draw one figure from the tables or the cached samples."""

from pathlib import Path

from robusttag.figures import make_figure
from robusttag.io import end_job, logging_to

with logging_to(snakemake.log[0]):
    make_figure(
        snakemake.params.figure,
        list(snakemake.input),
        Path(snakemake.output.png).with_suffix(""),
        **snakemake.params.settings,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
