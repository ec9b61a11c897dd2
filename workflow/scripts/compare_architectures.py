"""Snakemake adapter: the architectures' studies side by side (architectures.csv) and the run's summary.md."""

from pathlib import Path

from robusttag.report.architectures import write_comparison
from robusttag.io import end_job, logging_to

with logging_to(snakemake.log[0]):
    roots = dict(zip(snakemake.params.architectures, map(Path, snakemake.params.roots)))
    # a training folder is {root}/models/{mode}/seed_{seed}
    trainings = {a: [d for d in snakemake.input.models if Path(d).parents[2] == root] for a, root in roots.items()}
    here = Path(snakemake.output.summary).parent
    write_comparison(
        dict(zip(roots, snakemake.input.seeds)),
        dict(zip(roots, zip(snakemake.input.shifted_auc, snakemake.input.shifted_working_points))),
        trainings,
        {a: str((root / "tables" / "summary.md").relative_to(here)) for a, root in roots.items()},
        snakemake.params.epsilon,
        snakemake.params.reference_seed,
        dict(snakemake.output.items()),
    )
end_job()  # outputs written and closed: skip the interpreter's teardown
