"""Snakemake adapter: train one mode, checkpoint every epoch, resume if interrupted."""

from robusttag.io import end_job, logging_to
from robusttag.config import TrainingSettings
from robusttag.training import train

with logging_to(snakemake.log[0]):
    train(
        snakemake.input.train,
        snakemake.input.val,
        snakemake.input.summary,
        snakemake.output[0],
        TrainingSettings.from_config(snakemake.params.training, snakemake.params.mode),
        variations=list(snakemake.input.variations),
        target=snakemake.input.target[0] if snakemake.input.target else None,
        threads=snakemake.threads,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
