"""Snakemake adapter: scores of one checkpoint under the strong attack suite, and its sanity checks."""

from robusttag.strong_attacks import score_strong_attacks
from robusttag.io import end_job, logging_to
from robusttag.config import LossSettings, StrongAttackSettings, from_params

with logging_to(snakemake.log[0]):
    score_strong_attacks(
        snakemake.input.model,
        snakemake.params.epoch,
        snakemake.input.test,
        snakemake.input.summary,
        snakemake.output.scores,
        snakemake.output.checks,
        snakemake.output.certified,
        snakemake.output.visibility,
        snakemake.output.invisible,
        from_params(StrongAttackSettings, snakemake.params.strong),
        from_params(LossSettings, snakemake.params.loss),
        train_path=snakemake.input.scale[0] if snakemake.input.scale else None,
        threads=snakemake.threads,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
