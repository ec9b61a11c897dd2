"""Adversarial inputs in standardised input space, all inside one constraint set
(:mod:`.constraints`: integers and defaults fixed, the eps budget, the raw-value
cap of paper Eq. 3, and no genuine value pushed below its default threshold).

- :mod:`.fgsm`: FGSM (Goodfellow et al., paper Eq. 2) from the sign of the
  focal loss's input gradient, as the paper scans it and as adversarial training uses it;
- :mod:`.iterative`: PGD, the targeted (discriminator) PGD and NGM, with the integer-feature step;
- :mod:`.suite`: the strong suite of ``evaluation.attacks`` on a batch of jets, every eps at once;
- :mod:`.baselines`: Gaussian noise and coherent shifts of the same sizes;
- :mod:`.bounds`: certified bounds of the discriminators over the constraint box.
"""

from .baselines import noise_step
from .constraints import Constraints, genuine_floor, project
from .fgsm import fgsm, input_gradient_sign

__all__ = ["Constraints", "fgsm", "genuine_floor", "input_gradient_sign", "noise_step", "project"]
