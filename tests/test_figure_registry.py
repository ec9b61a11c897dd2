"""The figure registry (robusttag.config.FIGURES): every figure's rule, inputs, settings, report category and
caption derive from its one registration."""

from __future__ import annotations

from pathlib import Path

import pytest
import snakemake_process
from workflow_copy import copy_workflow

from robusttag import config as rt
from robusttag import figures
from robusttag.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "workflow/report"
#: The report's captions that are not a figure's: the workflow's description and the summaries.
#: captions of no registered figure: the report's pages, and the Pythia run's inputs by source (drawn with its
#: table from the raw jets by the Pythia rules, not from a study's tables)
NOT_FIGURES = {"workflow", "summary", "architectures_summary", "inputs_by_source", "corrections"}


@pytest.mark.parametrize("name", list(rt.FIGURES))
def test_each_registered_figure_has_its_caption(name):
    """(Its drawing function and settings: tests/test_figures.py.)"""
    assert (REPORT / f"{name}.rst").read_text().strip(), f"workflow/report/{name}.rst: the figure's caption"


def test_every_caption_belongs_to_a_registered_figure_or_a_summary():
    captions = {path.stem for path in REPORT.glob("*.rst")}
    assert captions - NOT_FIGURES == set(rt.FIGURES)


def test_an_unregistered_figure_is_refused_by_name():
    with pytest.raises(ConfigError, match="unknown figure 'fig11'; choose from"):
        figures.drawing_function("fig11")


def test_which_figures_a_study_draws():
    study = rt.study_figures(audit=False, shifted=True)
    assert "architectures" not in study and {"premise", "training_history"} <= set(study)
    assert "premise" not in rt.study_figures(audit=False, shifted=False)
    audit = rt.study_figures(audit=True, shifted=True)
    assert {"training_history", "fig8_nominal_vs_adversarial"}.isdisjoint(audit) and "premise" in audit
    # the defences' figure: only where a defence against mismodelling is trained, beside shifted samples
    assert "defences" not in study and "defences" in rt.study_figures(audit=False, shifted=True, defences=True)
    assert "defences" not in rt.study_figures(audit=False, shifted=False, defences=True)


def test_the_rules_derive_from_the_registry(tmp_path):
    """A dry run's figure rules and their inputs are the registry's, for every figure of a study."""
    workdir = copy_workflow(tmp_path)
    result = snakemake_process.run(workdir, "-n", "--configfile", ".test/config/config.yaml", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    scheduled = set(result.stdout.split())
    assert set(rt.study_figures(audit=False, shifted=True)) <= scheduled
    assert "architectures" not in scheduled  # one architecture: no comparison
