"""Snakemake adapter: check an audited model against its declaration and import it as one checkpoint."""

from robusttag.evaluate import job_device
from robusttag.external import import_external
from robusttag.io import end_job, logging_to
from robusttag.config import ExternalModel, TrainingSettings

with logging_to(snakemake.log[0]):
    import_external(
        ExternalModel(**snakemake.params.declaration),
        snakemake.input.summary,
        snakemake.input.val,
        snakemake.output[0],
        TrainingSettings.from_config(snakemake.params.training, "nominal"),
        job_device(snakemake.params.device, snakemake.threads),
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
