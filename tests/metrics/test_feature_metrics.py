"""FID, KID, IS and precision/recall: closed forms, errors, and parity with reference implementations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import (
    fid_from_features,
    fid_from_stats,
    inception_score_from_logits,
    kid_from_features,
    precision_recall_from_features,
)
from ganforge.metrics.fid import SampleSizeWarning


def _feats(n, d, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + shift


# ---------------------------------------------------------------- FID


def test_fid_equal_covariances_is_squared_mean_distance():
    d = 6
    rng = np.random.default_rng(0)
    a = rng.normal(size=(d, d))
    sigma = a @ a.T + d * np.eye(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    assert fid_from_stats(mu1, sigma, mu2, sigma) == pytest.approx(float(((mu1 - mu2) ** 2).sum()), rel=1e-9, abs=1e-9)


def test_fid_diagonal_closed_form():
    # for commuting (diagonal) covariances, tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (s1 - s2)^2
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    got = fid_from_stats(np.zeros(3), np.diag(s1**2), np.ones(3), np.diag(s2**2))
    assert got == pytest.approx(3.0 + ((s1 - s2) ** 2).sum(), rel=1e-9)


def test_fid_same_features_is_zero_and_shifted_is_positive():
    a = _feats(400, 8, 0)
    assert abs(fid_from_features(a, a)) < 1e-8
    assert fid_from_features(a, a + 1.0) == pytest.approx(8.0, rel=1e-9)


def test_fid_warns_when_fewer_samples_than_dims():
    a, b = _feats(10, 20, 0), _feats(10, 20, 1)
    with pytest.warns(SampleSizeWarning, match="N < D"):
        v = fid_from_features(a, b)
    assert np.isfinite(v)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SampleSizeWarning)
        fid_from_features(_feats(50, 20, 0), _feats(50, 20, 1))  # no warning when N >= D


def test_fid_singular_product_uses_offset_fallback():
    # rank-deficient covariances (a constant feature) still give a finite, correct value
    a, b = _feats(200, 4, 0), _feats(200, 4, 1)
    a[:, 0] = 0.0
    b[:, 0] = 0.0
    v = fid_from_features(a, b)
    v_ref = fid_from_features(a[:, 1:], b[:, 1:])
    assert v == pytest.approx(v_ref, abs=1e-4)


@pytest.mark.parametrize(
    "args",
    [
        (np.zeros((5, 3)), np.zeros((5, 4))),
        (np.zeros(5), np.zeros((5, 3))),
        (np.full((5, 3), np.nan), np.zeros((5, 3))),
    ],
)
def test_fid_bad_inputs(args):
    with pytest.raises(GanforgeError):
        fid_from_features(*args)


def test_fid_stats_shape_mismatch():
    with pytest.raises(GanforgeError, match="do not match"):
        fid_from_stats(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_fid_parity_with_pytorch_fid(pytorch_fid_score):
    a, b = _feats(300, 64, 0), _feats(300, 64, 1, shift=0.2) * 1.3
    mine = fid_from_features(a, b)
    ref = pytorch_fid_score.calculate_frechet_distance(
        a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    )
    assert abs(mine - float(ref)) / abs(float(ref)) < 1e-6


# ---------------------------------------------------------------- KID


def test_kid_same_distribution_near_zero_and_shift_positive():
    a, b = _feats(400, 16, 0), _feats(400, 16, 1)
    same = kid_from_features(a, b, num_subsets=20, subset_size=200, seed=1)
    # unbiased: two samples of one distribution give ~0 (within the subset noise)
    assert abs(same.mean) < 2 * same.std + 1e-3
    far = kid_from_features(a, b + 1.0, num_subsets=20, subset_size=200, seed=1)
    assert far.mean > 0.1 and far.mean > 20 * abs(same.mean)


def test_kid_of_a_set_with_itself_vanishes_like_one_over_m():
    # both subsets = the whole set: only the O(1/m) diagonal term of the unbiased estimator remains
    vals = []
    for n in (100, 400, 1600):
        x = _feats(n, 8, 0)
        vals.append(abs(kid_from_features(x, x, num_subsets=1, subset_size=n).mean))
    assert vals[0] > vals[1] > vals[2] and vals[2] < 2e-2
    assert vals[0] / vals[2] == pytest.approx(16, rel=0.3)


def test_kid_identical_subsets_exactly_zero():
    # with subset_size == N both subsets are the whole (same) set: the unbiased MMD^2 is then
    # -2/m^2 * sum(Kxy) + 2/(m(m-1)) * (sum(Kxx) - tr Kxx), which is not 0; check the estimator formula
    from ganforge.metrics.kid import mmd2_unbiased, polynomial_kernel

    x = _feats(50, 4, 0)
    k = polynomial_kernel(x, x)
    expected = 2 * (k.sum() - np.trace(k)) / (50 * 49) - 2 * k.sum() / 50**2
    assert mmd2_unbiased(k, k, k) == pytest.approx(expected, rel=1e-12)


def test_kid_subset_larger_than_samples_is_error():
    with pytest.raises(GanforgeError, match="subset_size 1000 is larger"):
        kid_from_features(_feats(100, 4, 0), _feats(5000, 4, 1))


@pytest.mark.parametrize("kw", [{"num_subsets": 0}, {"subset_size": 1}])
def test_kid_bad_arguments(kw):
    with pytest.raises(GanforgeError):
        kid_from_features(_feats(100, 4, 0), _feats(100, 4, 1), **{"subset_size": 50, **kw})


def test_kid_parity_with_torch_fidelity(torch_fidelity_module):
    kid_mod = torch_fidelity_module("metric_kid")
    a, b = _feats(300, 32, 0), _feats(280, 32, 1, shift=0.1)  # float64: torch-fidelity keeps the dtype
    ref = kid_mod.kid_features_to_metric(
        torch.from_numpy(a), torch.from_numpy(b), kid_subsets=10, kid_subset_size=100, rng_seed=7, verbose=False
    )
    mine = kid_from_features(a, b, num_subsets=10, subset_size=100, seed=7)
    assert mine.mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-9)
    assert mine.std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-9)


# ---------------------------------------------------------------- IS


def test_is_uniform_one_hot_is_num_classes():
    k, splits = 7, 5
    labels = np.tile(np.arange(k), 4 * splits)  # every split holds each class equally often
    logits = np.full((labels.size, k), -50.0)
    logits[np.arange(labels.size), labels] = 50.0
    res = inception_score_from_logits(logits, splits=splits)
    assert res.mean == pytest.approx(k, rel=1e-9)
    assert res.std < 1e-9


def test_is_identical_predictions_is_one():
    logits = np.tile(np.random.default_rng(0).normal(size=(1, 10)), (100, 1))
    assert inception_score_from_logits(logits, splits=10).mean == pytest.approx(1.0, abs=1e-12)


def test_is_parity_with_torch_fidelity(torch_fidelity_module):
    isc = torch_fidelity_module("metric_isc")
    logits = np.random.default_rng(3).normal(size=(200, 12)) * 3
    ref = isc.isc_features_to_metric(torch.from_numpy(logits), splits=4, shuffle=False)
    mine = inception_score_from_logits(logits, splits=4)
    assert mine.mean == pytest.approx(ref["inception_score_mean"], rel=1e-9)
    assert mine.std == pytest.approx(ref["inception_score_std"], rel=1e-6)


@pytest.mark.parametrize("logits,splits", [(np.zeros((5, 3)), 6), (np.zeros((5, 3)), 0), (np.zeros(5), 1)])
def test_is_bad_inputs(logits, splits):
    with pytest.raises(GanforgeError):
        inception_score_from_logits(logits, splits=splits)


# ---------------------------------------------------------------- precision / recall


def test_pr_identical_sets_are_one():
    a = _feats(300, 10, 0)
    pr = precision_recall_from_features(a, a.copy(), k=3, batch_size=64)
    assert pr["precision"] == 1.0 and pr["recall"] == 1.0


def test_pr_disjoint_sets_are_zero_and_mode_dropping_lowers_recall():
    real = _feats(300, 5, 0)
    far = precision_recall_from_features(real, real + 100.0, k=3)
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    # generated samples cover only half of the real data -> high precision, low recall
    half = real[real[:, 0] > 0]
    pr = precision_recall_from_features(real, half, k=3)
    assert pr["precision"] > 0.9 and pr["recall"] < 0.7


def test_pr_batch_size_does_not_change_result():
    real, gen = _feats(250, 8, 0), _feats(230, 8, 1, shift=0.3)
    r1 = precision_recall_from_features(real, gen, k=3, batch_size=7)
    r2 = precision_recall_from_features(real, gen, k=3, batch_size=1000)
    assert r1 == r2


def test_pr_parity_with_torch_fidelity(torch_fidelity_module):
    prc = torch_fidelity_module("metric_prc")
    real = _feats(400, 16, 0).astype(np.float32)
    gen = (_feats(350, 16, 1, shift=0.25) * 1.2).astype(np.float32)
    # torch-fidelity's convention: features_1 = generated, features_2 = real
    p_ref, r_ref = prc.calculate_precision_recall_full(torch.from_numpy(gen), torch.from_numpy(real), neighborhood=3)
    mine = precision_recall_from_features(real, gen, k=3)
    assert mine["precision"] == pytest.approx(p_ref, abs=1e-6)  # torch-fidelity averages in float32
    assert mine["recall"] == pytest.approx(r_ref, abs=1e-6)
    assert 0.05 < mine["precision"] < 0.95  # a non-trivial case


@pytest.mark.parametrize("k", [0, 10])
def test_pr_bad_k(k):
    with pytest.raises(GanforgeError, match="k must be"):
        precision_recall_from_features(_feats(10, 3, 0), _feats(10, 3, 1), k=k)


def test_pr_dim_mismatch():
    with pytest.raises(GanforgeError):
        precision_recall_from_features(_feats(10, 3, 0), _feats(10, 4, 1))
