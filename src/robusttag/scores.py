"""The vocabulary of the score files, shared by the jobs that write them (:mod:`robusttag.evaluate`) and
the analysis that reads them: each row is one jet's probabilities under one attack, crafted on one model.
"""

from __future__ import annotations

#: The attacks of the FGSM scan and its baselines (the ``attack`` column).
ATTACKS = ("raw", "fgsm", "noise", "shift_up", "shift_down")
NO_SOURCE = "none"  #: attack_source of raw inputs' and baselines' rows: crafted on no model
SHIFTED_SAMPLE = "shifted_sample"  #: attack_source of a shifted sample's rows (their attack is the sample's name)
