"""Snakemake adapter: one chunk of a Pythia sample's events through its detector, in the dataset's format."""

from robusttag.io import end_job, logging_to
from robusttag.sources.reconstruction import simulate_chunk
from robusttag.sources.tracker import TrackerSettings

with logging_to(snakemake.log[0]):
    sample = snakemake.wildcards.pythia_sample
    simulate_chunk(
        snakemake.input[0],
        snakemake.output[0],
        snakemake.params.seed,
        int(snakemake.wildcards.chunk),
        TrackerSettings.from_config(snakemake.params.tracker, f"sample {sample!r}"),
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
