"""Training of the tagger: the loop (:mod:`.loop`), nominal and against attacks (:mod:`.adversarial`) or against
mismodelling (:mod:`.mismodelling`).
"""

from ..validation import validation_metrics
from .adversarial import adversarial_batch, attack_box, backpropagate
from .loop import batch_order, learning_rate, model_settings, train, train_epoch

__all__ = [
    "adversarial_batch",
    "attack_box",
    "backpropagate",
    "batch_order",
    "learning_rate",
    "model_settings",
    "train",
    "train_epoch",
    "validation_metrics",
]
