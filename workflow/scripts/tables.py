"""Snakemake adapter: AUC table, ROC curves and summary from all score files."""

import re
from pathlib import Path

from robusttag.evaluate import EvaluationSettings, selected_epoch
from robusttag.io import logging_to
from robusttag.tables import write_tables

with logging_to(snakemake.log[0]):
    files = []
    for path in snakemake.input.scores:
        model, epoch = re.search(r"scores/(\w+?)/epoch_(\d+)", path).groups()
        files.append((model, int(epoch), path))
    write_tables(
        files,
        {Path(d).name: selected_epoch(Path(d) / "history.csv") for d in snakemake.input.models},
        EvaluationSettings.from_config(snakemake.params.evaluation),
        snakemake.output.auc,
        snakemake.output.roc,
        snakemake.output.summary,
    )
