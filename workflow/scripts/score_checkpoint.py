"""Snakemake adapter: scores of one checkpoint under every configured attack."""

from robusttag.evaluate import EvaluationSettings, score_checkpoint, selected_checkpoints
from robusttag.io import logging_to
from robusttag.training import TrainingSettings

with logging_to(snakemake.log[0]):
    model = snakemake.wildcards.model
    score_checkpoint(
        model,
        snakemake.params.checkpoint,
        snakemake.input.test,
        snakemake.input.summary,
        snakemake.output[0],
        EvaluationSettings.from_config(snakemake.params.evaluation),
        TrainingSettings.from_config(snakemake.params.training, model),
        cross=selected_checkpoints(snakemake.input.models) if snakemake.rule == "score_extra_attacks" else None,
        threads=snakemake.threads,
    )
