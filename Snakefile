# robusttag: adversarial robustness of a jet-flavour tagger (Stein et al. 2022).
# Only wiring lives here and in workflow/; the science is in src/robusttag/.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"


check_settings()


include: "workflow/rules/data.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/shifted.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/architectures.smk"
include: "workflow/rules/external.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
