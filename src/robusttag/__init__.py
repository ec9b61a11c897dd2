"""robusttag: adversarial robustness of a jet-flavour tagger (Stein et al. 2022)."""

__version__ = "0.1.0"
