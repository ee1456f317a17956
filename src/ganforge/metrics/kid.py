"""Kernel Inception Distance.

Bińkowski, Sutherland, Arbel, Gretton (2018), "Demystifying MMD GANs", ICLR. KID is the unbiased
estimate of the squared MMD with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over
random subsets (100 subsets of 1000 samples by default, as in the paper's code and torch-fidelity).
Unlike FID it is unbiased, so small sample counts give noisier but not shifted estimates.

The named metric ``kid{N}k`` (registered at the end) compares N generated images with every reference
image (or ``num_real``), over 100 subsets of min(1000, both counts) samples.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Metric, MetricValue, Needs, register_metric


class KIDResult(NamedTuple):
    mean: float
    std: float


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> np.ndarray:
    """[n, D] x [m, D] -> [n, m] kernel matrix (x.y * gamma + coef0) ** degree, gamma defaults to 1/D."""
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    return (x @ y.T * gamma + coef0) ** degree


def mmd2_unbiased(kxx: np.ndarray, kxy: np.ndarray, kyy: np.ndarray) -> float:
    """Unbiased MMD^2 from kernel matrices of two equal-size samples ([m, m] each)."""
    m = kxx.shape[0]
    sum_xx = kxx.sum() - np.trace(kxx)
    sum_yy = kyy.sum() - np.trace(kyy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m))


def kid_from_features(a, b, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> KIDResult:
    """KID between features a [N1, D] and b [N2, D] -> KIDResult(mean, std) over subsets.

    Each subset draws ``subset_size`` rows of ``a`` then of ``b`` without replacement from
    ``numpy.random.RandomState(seed)`` (the same draw order as torch-fidelity). GanforgeError when
    ``subset_size`` exceeds either sample count.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise GanforgeError(f"KID needs two [N, D] feature arrays of equal D, got {a.shape} and {b.shape}")
    if num_subsets < 1:
        raise GanforgeError(f"KID num_subsets must be >= 1, got {num_subsets}")
    if subset_size < 2:
        raise GanforgeError(f"KID subset_size must be >= 2, got {subset_size}")
    if subset_size > a.shape[0] or subset_size > b.shape[0]:
        raise GanforgeError(
            f"KID subset_size {subset_size} is larger than the number of samples ({a.shape[0]} and {b.shape[0]}); "
            "use more samples or a smaller subset_size"
        )
    rng = np.random.RandomState(seed)
    mmds = np.empty(num_subsets)
    for i in range(num_subsets):
        x = a[rng.choice(a.shape[0], subset_size, replace=False)]
        y = b[rng.choice(b.shape[0], subset_size, replace=False)]
        mmds[i] = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(x, y), polynomial_kernel(y, y))
    return KIDResult(float(mmds.mean()), float(mmds.std()))


class KID(Metric):
    kind, form, pattern, example = "kid", "kid{N}k", r"kid(?P<n>\d+)k", "kid1k"
    needs = Needs(generated="features", real="features")

    def reference_count(self, pm, inputs) -> int:
        return inputs.real_count(inputs.num_reference)

    def min_images(self, pm) -> tuple[int, str]:
        return 2, "KID averages over subsets of min(1000, generated, reference) images, and a subset needs 2"

    def compute(self, pm, inputs) -> MetricValue:
        gf, _ = inputs.generated_features(pm.n)
        rf, _ = inputs.real_features(self.reference_count(pm, inputs))
        size = min(1000, len(gf), len(rf))
        res = kid_from_features(gf, rf, num_subsets=100, subset_size=size, seed=inputs.seed)
        return MetricValue(res.mean, len(gf), len(rf), {"std": res.std, "num_subsets": 100, "subset_size": size})


register_metric(KID())
