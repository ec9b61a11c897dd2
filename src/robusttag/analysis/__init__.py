"""The numbers of a study, torch-free: they read score files and tables, never models.

uncertainties (bootstrap, binomial), working_points (fixed cuts, scale factors per bin), seeds (the spread
over training seeds), tables (the study's tables from its score files), mismodelling (the shifted samples
and the premise), comparison (the architectures side by side). What they measure is defined below them,
in :mod:`robusttag.metrics` (discriminators, ROC, AUC) and :mod:`robusttag.visibility` (distances between
input distributions), which the scoring jobs use too.
"""
