"""Snakemake adapter: an audited model's validation and test jets, preprocessed as it declares."""

from robusttag.io import end_job, logging_to
from robusttag.preprocess import preprocess_for_audit
from robusttag.config import PreprocessSettings

with logging_to(snakemake.log[0]) as log:
    counts = preprocess_for_audit(
        snakemake.input.raw,
        snakemake.input.summary,
        PreprocessSettings.from_config(snakemake.params.split),
        dict(snakemake.output.items()),
        own_jets=snakemake.input.own_jets[0] if snakemake.input.own_jets else None,
    )
    log.info("jets per split: %s", counts)
end_job()  # outputs written and closed: skip the interpreter's teardown
