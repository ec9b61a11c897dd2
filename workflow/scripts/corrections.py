"""Snakemake adapter: a study's working points and scale factors as a correctionlib file."""

from robusttag.export.corrections import write_corrections
from robusttag.io import end_job, logging_to

with logging_to(snakemake.log[0]):
    write_corrections(
        snakemake.input.working_points,
        snakemake.input.scale_factors,
        snakemake.output[0],
        snakemake.input.get("shifted_working_points") or None,
        snakemake.input.get("shifted_scale_factors") or None,
    )
end_job()
