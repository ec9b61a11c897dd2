"""Snakemake adapter: AUC table, ROC curves, worst case, attack checks and summary from all score files."""

from robusttag.io import end_job, logging_to
from robusttag.config import TableSettings, from_params
from robusttag.history import selected_epochs
from robusttag.report.summary import write_study_tables

with logging_to(snakemake.log[0]):
    write_study_tables(
        list(snakemake.input.scores),
        list(snakemake.input.validation),
        snakemake.input.kinematics,
        list(snakemake.input.checks),
        list(snakemake.input.certified),
        list(snakemake.input.visibility),
        selected_epochs(snakemake.input.models),
        from_params(TableSettings, snakemake.params.tables),
        dict(snakemake.output.items()),
        threads=snakemake.threads,
        shifted={"auc": snakemake.input.shifted_auc, "working_points": snakemake.input.shifted_working_points}
        if snakemake.input.get("shifted_auc")
        else None,
        defences=snakemake.params.defences,
        distance_files=list(snakemake.input.distances),
        invisible_files=list(snakemake.input.invisible),
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
