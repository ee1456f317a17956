"""Fréchet Inception Distance.

Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter (2017), "GANs Trained by a Two Time-Scale Update
Rule Converge to a Local Nash Equilibrium", NeurIPS. FID is the Fréchet (2-Wasserstein) distance
between Gaussians fitted to two sets of features:

    FID = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))

Statistics are computed in float64; the matrix square root is scipy's ``sqrtm``; when the product is
singular or the root is not finite, ``eps * I`` is added to both covariances (pytorch-fid's fallback).
FID is biased upwards for finite samples (Chong & Forsyth 2020), so values are comparable only at the
same sample counts.
"""

from __future__ import annotations

import warnings

import numpy as np

from ganforge.errors import GanforgeError


class SampleSizeWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance estimate is singular."""


def _as_features(x, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise GanforgeError(f"{what} must be a [N, D] feature array with N >= 2, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise GanforgeError(f"{what} contains NaN or infinite values")
    return a


def feature_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """[N, D] features -> (mean [D], covariance [D, D]) in float64 (unbiased, N-1 denominator).

    Warns (``SampleSizeWarning``) when N < D.
    """
    a = _as_features(features, "features")
    if a.shape[0] < a.shape[1]:
        warnings.warn(
            f"FID statistics from {a.shape[0]} samples of {a.shape[1]}-d features: N < D makes the covariance "
            "singular and the FID estimate strongly biased; use more samples",
            SampleSizeWarning,
            stacklevel=2,
        )
    return a.mean(axis=0), np.cov(a, rowvar=False)


def _sqrtm(m: np.ndarray) -> tuple[np.ndarray, bool]:
    """scipy sqrtm; returns (root, ok) where ok is False if scipy flagged singularity or non-finite output."""
    from scipy import linalg

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        root = linalg.sqrtm(m)
    singular = any("singular" in str(w.message).lower() for w in caught)
    return root, (not singular) and bool(np.isfinite(root).all())


def fid_from_stats(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """FID between N(mu1, sigma1) and N(mu2, sigma2); mu [D], sigma [D, D]. Returns a float >= 0 (up to rounding)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise GanforgeError(
            f"FID statistics do not match: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}"
        )
    diff = mu1 - mu2
    covmean, ok = _sqrtm(s1.dot(s2))
    if not ok:
        offset = np.eye(d) * eps
        covmean, _ = _sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.max(np.abs(np.diagonal(covmean).imag))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise GanforgeError(
                f"FID: the matrix square root has a large imaginary component ({imag:.3g}); the feature "
                "covariances are degenerate (too few or identical samples?)"
            )
        covmean = covmean.real
    if not np.isfinite(covmean).all():
        raise GanforgeError("FID: the matrix square root is not finite even with the eps offset")
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def fid_from_features(a, b, eps: float = 1e-6) -> float:
    """FID between feature sets a [N1, D] and b [N2, D] (any float dtype; computed in float64)."""
    a, b = _as_features(a, "first feature set"), _as_features(b, "second feature set")
    if a.shape[1] != b.shape[1]:
        raise GanforgeError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    mu1, s1 = feature_stats(a)
    mu2, s2 = feature_stats(b)
    return fid_from_stats(mu1, s1, mu2, s2, eps=eps)
