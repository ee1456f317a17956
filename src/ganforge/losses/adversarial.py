"""Adversarial losses as functions of discriminator logits.

Each loss is a pair (d_loss(real_logits, gen_logits), g_loss(gen_logits)), both returning a scalar
mean over the batch. With sigmoid D(x) = sigmoid(logit), log D = -softplus(-logit) and
log(1 - D) = -softplus(logit), which is how the minimax forms are written (numerically stable).

- minimax: Goodfellow et al. 2014, "Generative Adversarial Nets"; G minimises log(1 - D(G(z))) (saturating).
- nonsat: the same paper's practical G loss, G maximises log D(G(z)).
- wasserstein: Arjovsky et al. 2017, "Wasserstein GAN" (critic outputs unbounded scores).
- lsgan: Mao et al. 2017, "Least Squares Generative Adversarial Networks", targets a=0, b=1, c=1, with
  the paper's factor 1/2.
- hinge: Lim & Ye 2017 / Miyato et al. 2018 (SNGAN): D uses max(0, 1 -+ logit), G uses -logit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ganforge.registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class AdversarialLoss:
    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]


ADVERSARIAL_LOSSES: Registry[AdversarialLoss] = Registry("loss.kind")


def _add(name: str, d_loss: Callable[[Tensor, Tensor], Tensor], g_loss: Callable[[Tensor], Tensor]) -> None:
    ADVERSARIAL_LOSSES.add(name, AdversarialLoss(name, d_loss, g_loss))


def _d_minimax(real: Tensor, gen: Tensor) -> Tensor:
    # -[log D(x) + log(1 - D(G(z)))]
    return F.softplus(-real).mean() + F.softplus(gen).mean()


_add("minimax", _d_minimax, lambda gen: -F.softplus(gen).mean())  # G minimises log(1 - D(G(z)))
_add("nonsat", _d_minimax, lambda gen: F.softplus(-gen).mean())  # G minimises -log D(G(z))
_add("wasserstein", lambda real, gen: gen.mean() - real.mean(), lambda gen: -gen.mean())
_add("lsgan",
     lambda real, gen: 0.5 * ((real - 1).square().mean() + gen.square().mean()),
     lambda gen: 0.5 * (gen - 1).square().mean())
_add("hinge",
     lambda real, gen: F.relu(1 - real).mean() + F.relu(1 + gen).mean(),
     lambda gen: -gen.mean())
