"""Snakemake adapter: a training's selected checkpoint as ONNX and TorchScript, checked on raw test jets."""

import logging

from robusttag.checkpoints import checkpoint_name
from robusttag.export.models import export_checkpoint
from robusttag.history import selected_epoch
from robusttag.paths import history_file
from robusttag.io import end_job, logging_to
from robusttag.preprocess import read_summary

with logging_to(snakemake.log[0]):
    folder = snakemake.input.model
    checkpoint = f"{folder}/{checkpoint_name(selected_epoch(history_file(folder)))}"
    largest = export_checkpoint(
        checkpoint,
        read_summary(snakemake.input.summary),
        snakemake.input.raw,
        snakemake.output.onnx,
        snakemake.output.torchscript,
    )
    logging.getLogger("robusttag").info("%s: exports agree with the pipeline to %.2e", checkpoint, largest)
end_job()
