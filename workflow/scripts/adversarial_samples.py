"""Snakemake adapter: raw and FGSM inputs of the figures' features, every model."""

from robusttag.checkpoints import selected_checkpoints
from robusttag.evaluate import adversarial_samples
from robusttag.io import end_job, logging_to
from robusttag.config import LossSettings, SampleSettings, from_params

with logging_to(snakemake.log[0]):
    adversarial_samples(
        selected_checkpoints(snakemake.input.models),
        snakemake.input.test,
        snakemake.input.summary,
        snakemake.output[0],
        from_params(SampleSettings, snakemake.params.samples),
        from_params(LossSettings, snakemake.params.loss),
        train_path=snakemake.input.scale[0] if snakemake.input.scale else None,
        threads=snakemake.threads,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
