# The Pythia source: each sample in chunks of jets, one job per chunk and step (its events, then its jets
# through the detector), the chunks then joined. A detector variation reads the nominal twin's events.


rule pythia_events:
    output:
        paths.pythia_events(),
    log:
        paths.log("pythia/{pythia_sample}_events_{chunk}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        generator=lambda wildcards: PYTHIA[wildcards.pythia_sample].generator,
        seed=lambda wildcards: PYTHIA[wildcards.pythia_sample].seed,
        n_jets=lambda wildcards: PYTHIA[wildcards.pythia_sample].chunk_sizes[int(wildcards.chunk)],
    script:
        "../scripts/pythia_events.py"


rule pythia_jets:
    input:
        lambda wildcards: paths.pythia_events(PYTHIA[wildcards.pythia_sample].events, wildcards.chunk),
    output:
        paths.pythia_jets(),
    log:
        paths.log("pythia/{pythia_sample}_jets_{chunk}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        tracker=lambda wildcards: PYTHIA[wildcards.pythia_sample].tracker,
        seed=lambda wildcards: PYTHIA[PYTHIA[wildcards.pythia_sample].events].seed,
    script:
        "../scripts/pythia_jets.py"


rule pythia_sample:
    input:
        lambda wildcards: [
            paths.pythia_jets(wildcards.pythia_sample, chunk)
            for chunk in range(len(PYTHIA[wildcards.pythia_sample].chunk_sizes))
        ],
    output:
        paths.pythia_sample(),
    log:
        paths.log("pythia/{pythia_sample}"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    script:
        "../scripts/pythia_sample.py"


rule inputs_by_source:
    input:
        paths.RAW_JETS,
    output:
        png=report(
            f"{paths.INPUTS_BY_SOURCE['figure']}.png",
            caption="../report/inputs_by_source.rst",
            category="Inputs",
            labels={"figure": "inputs_by_source"},
        ),
        pdf=f"{paths.INPUTS_BY_SOURCE['figure']}.pdf",
        table=paths.INPUTS_BY_SOURCE["table"],
    log:
        paths.log("figures/inputs_by_source"),
    conda:
        "../envs/robusttag.yaml"
    threads: 1
    params:
        seed=config["dataset"]["synthetic"]["seed"],
        knobs=config["dataset"]["synthetic"]["difficulty"],
    script:
        "../scripts/inputs_by_source.py"
