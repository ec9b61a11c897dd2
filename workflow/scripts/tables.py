"""Snakemake adapter: AUC table, ROC curves and summary from all score files."""

import re

from robusttag.evaluate import EvaluationSettings
from robusttag.io import logging_to
from robusttag.tables import write_tables

with logging_to(snakemake.log[0]):
    files = []
    for path in snakemake.input.scores:
        model, epoch = re.search(r"scores/(\w+?)/epoch_(\d+)", path).groups()
        files.append((model, int(epoch), path))
    write_tables(
        files,
        snakemake.params.selected,
        EvaluationSettings.from_config(snakemake.params.evaluation),
        snakemake.output.auc,
        snakemake.output.roc,
        snakemake.output.summary,
    )
