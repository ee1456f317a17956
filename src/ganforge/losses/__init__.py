"""Adversarial losses (on logits) and penalties (on discriminators)."""

from ganforge.losses.adversarial import ADVERSARIAL_LOSSES, AdversarialLoss
from ganforge.losses.penalties import gradient_penalty, r1_penalty, r2_penalty, zero_centred_penalty

__all__ = ["ADVERSARIAL_LOSSES", "AdversarialLoss", "gradient_penalty", "r1_penalty", "r2_penalty",
           "zero_centred_penalty"]
