"""Snakemake adapter: raw and FGSM inputs of the figures' features, both models."""

from robusttag.evaluate import EvaluationSettings, adversarial_samples, selected_checkpoints
from robusttag.io import logging_to
from robusttag.training import TrainingSettings

with logging_to(snakemake.log[0]):
    adversarial_samples(
        selected_checkpoints(snakemake.input.models),
        snakemake.input.test,
        snakemake.input.summary,
        snakemake.output[0],
        EvaluationSettings.from_config(snakemake.params.evaluation),
        TrainingSettings.from_config(snakemake.params.training, "nominal"),
        threads=snakemake.threads,
    )
