"""Snakemake adapter: raw scores of the validation split at a selected checkpoint (the working points' cuts)."""

from robusttag.evaluate import score_validation
from robusttag.io import end_job, logging_to
from robusttag.config import ScoringSettings, from_params

with logging_to(snakemake.log[0]):
    score_validation(
        snakemake.input.model,
        snakemake.params.epoch,
        snakemake.input.validation,
        snakemake.input.summary,
        snakemake.output[0],
        from_params(ScoringSettings, snakemake.params.scoring),
        threads=snakemake.threads,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
