"""The prose of a run, torch-free: every ``summary.md`` section, one writer per section, from the tables of
:mod:`robusttag.analysis` (summary: a study's; mismodelling: its shifted samples' and the premise's
sections; architectures: the run's comparison of the architectures).
"""
