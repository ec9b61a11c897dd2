"""Snakemake adapter: one chunk of a Pythia sample's events."""

from robusttag.io import end_job, logging_to
from robusttag.sources.pythia import Sample, generate_events_file

with logging_to(snakemake.log[0]):
    generator = snakemake.params.generator
    generate_events_file(
        snakemake.output[0],
        Sample(
            shares=generator["flavour_shares"],
            pt_hat_min=generator["pt_hat_min"],
            pt_hat_bias=generator["pt_hat_bias"],
            labels=generator["labels"],
            settings=generator["settings"],
        ),
        snakemake.params.seed,
        int(snakemake.wildcards.chunk),
        snakemake.params.n_jets,
        snakemake.wildcards.pythia_sample,
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
