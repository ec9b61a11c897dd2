"""Snakemake adapter: a training variation's training split, preprocessed with the nominal statistics."""

from robusttag.config import PreprocessSettings
from robusttag.io import end_job, logging_to
from robusttag.preprocess import preprocess_splits_like, read_summary

with logging_to(snakemake.log[0]) as log:
    counts = preprocess_splits_like(
        snakemake.input.raw,
        {"train": snakemake.output[0]},
        read_summary(snakemake.input.summary),
        PreprocessSettings.from_config(snakemake.params.split),
    )
    log.info("%s: %d jets", snakemake.output[0], counts["train"])
end_job()  # outputs written and closed: skip the interpreter's teardown
