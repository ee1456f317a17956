"""Inception Score.

Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen (2016), "Improved Techniques for Training GANs".
IS = exp(E_x KL(p(y|x) || p(y))), computed on ``splits`` consecutive chunks of the samples; the result
is the mean and standard deviation over chunks. Barratt & Sharma (2018), "A Note on the Inception
Score", discuss why it is only meaningful with the original classifier and ImageNet-like data.

The named metric ``is{N}k`` (registered at the end) scores N generated images over 10 splits; it needs
an extractor with classifier logits, which the protocol checks before any metric runs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Metric, MetricValue, Needs, register_metric


class ISResult(NamedTuple):
    mean: float
    std: float


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def inception_score_from_logits(logits, splits: int = 10) -> ISResult:
    """logits [N, K] -> ISResult(mean, std) over ``splits`` chunks (chunk i = rows i*N//splits ...).

    Computed in float64 from log-softmax; 1 <= IS <= K. GanforgeError if splits < 1 or splits > N.
    """
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise GanforgeError(f"Inception Score needs logits [N, K] with K >= 2, got shape {x.shape}")
    n = x.shape[0]
    if splits < 1 or splits > n:
        raise GanforgeError(f"Inception Score: splits must be between 1 and the number of samples {n}, got {splits}")
    log_p = _log_softmax(x)
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        pc, lpc = p[lo:hi], log_p[lo:hi]
        log_q = np.log(pc.mean(axis=0, keepdims=True))
        kl = (pc * (lpc - log_q)).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return ISResult(float(np.mean(scores)), float(np.std(scores)))


class InceptionScore(Metric):
    kind, form, pattern, example = "is", "is{N}k", r"is(?P<n>\d+)k", "is1k"
    needs = Needs(generated="features", logits=True)

    def compute(self, pm, inputs) -> MetricValue:
        _, lg = inputs.generated_features(pm.n)
        res = inception_score_from_logits(lg, splits=10)
        details = {"std": res.std, "splits": 10}
        if hasattr(inputs.extractor, "classifier_hash"):
            details["classifier_weights_hash"] = inputs.extractor.classifier_hash()
        return MetricValue(res.mean, len(lg), 0, details)


register_metric(InceptionScore())
