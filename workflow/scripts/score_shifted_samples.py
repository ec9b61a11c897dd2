"""Snakemake adapter: a model's raw scores on every shifted sample and on the validation split."""

from pathlib import Path

from robusttag.evaluate import score_shifted_samples
from robusttag.io import end_job, logging_to
from robusttag.config import ScoringSettings, from_params
from robusttag.history import scanned_epochs, selected_epoch

with logging_to(snakemake.log[0]):
    history, epochs = Path(snakemake.input.model) / "history.csv", snakemake.params.epochs
    score_shifted_samples(
        snakemake.input.model,
        [selected_epoch(history)] if epochs == "selected" else scanned_epochs(history, epochs),
        dict(zip(snakemake.params.samples, snakemake.input.samples)),
        snakemake.input.validation,
        snakemake.input.summary,
        (snakemake.output.scores, snakemake.output.validation),
        from_params(ScoringSettings, snakemake.params.scoring),
        threads=snakemake.threads,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
