# Every figure of every study, one rule each, from the registry robusttag.config.FIGURES (what draws it, what
# it reads, its settings, its report category); its caption is workflow/report/{name}.rst.


report: "../report/workflow.rst"


for rule_name, figure, root, subcategory in figure_rules():

    rule:
        name:
            rule_name
        input:
            paths.figure_inputs(figure, root, bool(SHIFTED.samples), model_dirs(root)),
        output:
            png=report(
                paths.figure(figure, root),
                caption=f"../report/{figure}.rst",
                category=rt.FIGURES[figure].category,
                subcategory=subcategory,
                labels={"figure": figure},
            ),
            pdf=paths.figure(figure, root, "pdf"),
        log:
            paths.log(f"figures/{figure}", root),
        conda:
            "../envs/robusttag.yaml"
        threads: 1
        params:
            figure=figure,
            settings=rt.figure_config(figure, EVALUATION),
        script:
            "../scripts/figure.py"
