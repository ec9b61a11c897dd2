"""Snakemake adapter: AUCs, working points, scale factors and input distances of the shifted samples."""

from robusttag.io import end_job, logging_to
from robusttag.analysis.mismodelling import write_shifted_tables
from robusttag.config import TableSettings, from_params
from robusttag.history import selected_epochs

with logging_to(snakemake.log[0]):
    write_shifted_tables(
        list(snakemake.input.scores),
        list(snakemake.input.validation),
        dict(zip(snakemake.params.samples, snakemake.input.samples)),
        snakemake.input.summary,
        set(snakemake.params.generated),
        set(snakemake.params.paired),
        selected_epochs(snakemake.input.models),
        from_params(TableSettings, snakemake.params.tables),
        dict(snakemake.output.items()),
        threads=snakemake.threads,
        target=snakemake.params.target,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
