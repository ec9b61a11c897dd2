"""The taggers, one module each, built from :class:`robusttag.config.ModelSettings`.

- ``dnn``: the paper's fully connected network on the flat inputs (:mod:`robusttag.model`);
- ``deepsets``: a per-track network, masked sum and mean pooling, a jet-level head (:mod:`.deepsets`);
- ``transformer``: attention blocks over a class token and the tracks (:mod:`.transformer`).

Every one maps a batch of input rows (jets, inputs) to logits (jets, classes), so the
training modes, the attacks and the evaluation treat them alike; the set-based ones read
their rows in the sequence layout (:class:`robusttag.features.InputLayout`).
"""

from __future__ import annotations

from torch import nn

from ..config import ModelSettings
from ..model import Tagger
from .deepsets import DeepSets
from .transformer import Transformer

_BUILDERS = {"dnn": Tagger, "deepsets": DeepSets, "transformer": Transformer}


def build_model(settings: ModelSettings) -> nn.Module:
    """A freshly initialised tagger of ``settings.architecture`` (torch's default generator draws its weights)."""
    return _BUILDERS[settings.architecture](settings)


__all__ = ["DeepSets", "Transformer", "build_model"]
