"""Snakemake adapter: the embedded synthetic dataset in the real format."""

from robusttag.io import end_job, logging_to
from robusttag.sources.synthetic import Difficulty, generate_file

with logging_to(snakemake.log[0]):
    generate_file(
        snakemake.output[0],
        n_jets=snakemake.params.n_jets,
        seed=snakemake.params.seed,
        difficulty=Difficulty.from_config(snakemake.params.difficulty),
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
