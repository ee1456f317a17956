"""Evaluation metrics for generators: FID, KID, precision/recall, IS, PPL, SWD, MS-SSIM.

Pure functions work on features or images (``fid_from_features``, ``kid_from_features``, ...);
``compute(names, G, dataset)`` runs named metrics with a fixed protocol and returns ``MetricRecord``s
stamped with the extractor, its weights hash, sample counts and the dataset hash. Named metrics are
``Metric`` objects in ``METRICS``; ``register_metric`` adds one (docs/metrics.md, "Adding a metric").

Importing this package loads no network weights; extractors load theirs on first use.
"""

from ganforge.metrics.base import (
    METRICS,
    Inputs,
    Metric,
    MetricValue,
    Needs,
    register_metric,
    registered_metric,
    unregister_metric,
)
from ganforge.metrics.extractors import EXTRACTORS, get_extractor
from ganforge.metrics.fid import fid_from_features, fid_from_stats
from ganforge.metrics.inception_score import inception_score_from_logits
from ganforge.metrics.kid import kid_from_features
from ganforge.metrics.msssim import msssim, msssim_diversity
from ganforge.metrics.precision_recall import precision_recall_from_features
from ganforge.metrics.protocol import MetricRecord, compute, compute_between, parse_metric
from ganforge.metrics.swd import swd_from_images

__all__ = [
    "EXTRACTORS",
    "METRICS",
    "Inputs",
    "Metric",
    "MetricRecord",
    "MetricValue",
    "Needs",
    "compute",
    "compute_between",
    "fid_from_features",
    "fid_from_stats",
    "get_extractor",
    "inception_score_from_logits",
    "kid_from_features",
    "msssim",
    "msssim_diversity",
    "parse_metric",
    "precision_recall_from_features",
    "register_metric",
    "registered_metric",
    "swd_from_images",
    "unregister_metric",
]
