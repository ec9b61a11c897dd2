"""Snakemake adapter: an audited model's validation and test jets, preprocessed as it declares."""

import shutil

from robusttag.data import read_summary
from robusttag.io import atomic_output, end_job, logging_to
from robusttag.preprocess import preprocess_like, preprocess_splits_like
from robusttag.settings import PreprocessSettings

with logging_to(snakemake.log[0]) as log:
    summary = read_summary(snakemake.input.summary)
    split = PreprocessSettings.from_config(snakemake.params.split)
    own = list(snakemake.input.own_jets)
    outputs = {"val": snakemake.output.val} | ({} if own else {"test": snakemake.output.test})
    counts = preprocess_splits_like(snakemake.input.raw, outputs, summary, split)
    if own:  # the user's own jets, every one of them, are the test set
        counts["test"] = preprocess_like(own[0], snakemake.output.test, summary)
    with atomic_output(snakemake.output.summary) as tmp:
        shutil.copyfile(snakemake.input.summary, tmp)
    log.info("jets per split: %s", counts)
end_job()  # outputs written and closed: skip the interpreter's teardown
