"""Snakemake adapter: scores of one checkpoint under the attacks its rule asks for."""

from robusttag.checkpoints import selected_checkpoints
from robusttag.evaluate import score_checkpoint
from robusttag.io import end_job, logging_to
from robusttag.config import LossSettings, ScoringSettings, from_params

with logging_to(snakemake.log[0]):
    score_checkpoint(
        snakemake.input.model,
        snakemake.params.epoch,
        snakemake.input.test,
        snakemake.input.summary,
        snakemake.output[0],
        from_params(ScoringSettings, snakemake.params.scoring),
        from_params(LossSettings, snakemake.params.loss),
        white_box=snakemake.params.white_box,
        transfer_from=selected_checkpoints(snakemake.input.transfer_from),
        baselines=snakemake.params.baselines,
        train_path=snakemake.input.scale[0] if snakemake.input.scale else None,
        threads=snakemake.threads,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
