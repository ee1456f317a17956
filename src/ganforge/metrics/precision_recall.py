"""Improved precision and recall.

Kynkäänniemi, Karras, Laine, Lehtinen, Aila (2019), "Improved Precision and Recall Metric for
Assessing Generative Models", NeurIPS. Each sample's neighbourhood is the ball reaching its k-th
nearest neighbour in its own set. Precision = fraction of generated samples inside at least one real
ball; recall = fraction of real samples inside at least one generated ball. Distances are Euclidean in
feature space (float32, ``torch.cdist``), computed in row batches so memory stays at
batch_size x N.

The named metric ``pr{N}k{K}`` (registered at the end) compares N generated images with as many
reference images (or ``num_real``), with neighbourhood size K; its value is {"precision", "recall"}.
"""

from __future__ import annotations

import numpy as np
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Metric, MetricValue, Needs, register_metric


def _kth_radii(x: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Distance of each row of x to its k-th nearest other row (self, at distance 0, is excluded)."""
    out = []
    for i in range(0, x.shape[0], batch_size):
        d = torch.cdist(x[i : i + batch_size], x)
        out.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _coverage(queries: torch.Tensor, refs: torch.Tensor, radii: torch.Tensor, batch_size: int) -> float:
    """Fraction of query rows within radii[j] of some reference row j."""
    hits = 0
    for i in range(0, queries.shape[0], batch_size):
        d = torch.cdist(queries[i : i + batch_size], refs)
        hits += int((d <= radii[None, :]).any(dim=1).sum())
    return hits / queries.shape[0]


def precision_recall_from_features(real, gen, k: int = 3, batch_size: int = 2000, device: str = "cpu") -> dict:
    """real [Nr, D], gen [Ng, D] features -> {"precision": float, "recall": float, "k": k}."""
    r = torch.as_tensor(np.asarray(real), dtype=torch.float32, device=device)
    g = torch.as_tensor(np.asarray(gen), dtype=torch.float32, device=device)
    if r.dim() != 2 or g.dim() != 2 or r.shape[1] != g.shape[1]:
        raise GanforgeError(f"precision/recall need two [N, D] feature arrays of equal D, got {tuple(r.shape)} and {tuple(g.shape)}")
    if k < 1 or k >= min(r.shape[0], g.shape[0]):
        raise GanforgeError(f"precision/recall: k must be between 1 and N-1 of each set, got k={k} for {r.shape[0]} and {g.shape[0]} samples")
    real_radii = _kth_radii(r, k, batch_size)
    gen_radii = _kth_radii(g, k, batch_size)
    precision = _coverage(g, r, real_radii, batch_size)
    recall = _coverage(r, g, gen_radii, batch_size)
    return {"precision": precision, "recall": recall, "k": k}


class PrecisionRecall(Metric):
    kind, form, pattern, example = "pr", "pr{N}k{K}", r"pr(?P<n>\d+)k(?P<k>\d+)", "pr1k3"
    needs = Needs(generated="features", real="features")

    def reference_count(self, pm, inputs) -> int:
        return inputs.real_count(pm.n)

    def min_images(self, pm) -> tuple[int, str]:
        return pm.k + 1, f"precision/recall needs each image's k={pm.k} nearest neighbours among the others of its set"

    def compute(self, pm, inputs) -> MetricValue:
        nr = self.reference_count(pm, inputs)
        gf, _ = inputs.generated_features(pm.n)
        rf, _ = inputs.real_features(nr)
        pr = precision_recall_from_features(rf, gf, k=pm.k, device=inputs.device)
        return MetricValue({"precision": pr["precision"], "recall": pr["recall"]}, len(gf), len(rf), {"k": pm.k})


register_metric(PrecisionRecall())
