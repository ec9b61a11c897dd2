"""Snakemake adapter: each test jet's distance to its working points at a selected checkpoint."""

from robusttag.config import DistanceSettings, from_params
from robusttag.distances import score_distances
from robusttag.io import end_job, logging_to

with logging_to(snakemake.log[0]):
    score_distances(
        snakemake.input.model,
        snakemake.params.epoch,
        snakemake.input.test,
        snakemake.input.summary,
        snakemake.input.validation,
        snakemake.output[0],
        from_params(DistanceSettings, snakemake.params.distances),
        train_path=snakemake.input.scale[0] if snakemake.input.scale else None,
        threads=snakemake.threads,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
