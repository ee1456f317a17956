"""The same checks for every registered metric: its declaration is consistent, its example name parses
to it, refusals follow its needs, and it computes a finite value on a tiny CPU case using only the
inputs its needs declare (``Inputs`` refuses anything else)."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import METRICS, Metric, Needs, compute, parse_metric
from ganforge.metrics.protocol import check_image_set_metrics, refuse_pair_metrics
from ganforge.metrics.translation import evaluate_translation

FORMS = METRICS.names()  # the shipped metrics (a test's own metrics live only inside its test)
SLOW_KINDS = {"ppl_z", "ppl_zend", "ppl_w", "ppl_wend", "eqr"}  # 2x the passes of the others; EQ-R: a rotation filter per 4 images


def _metric(form: str) -> Metric:
    return METRICS.get(form)


def test_every_shipped_metric_is_registered():
    kinds = {_metric(f).kind for f in FORMS}
    assert kinds == {"fid", "ifid", "kid", "pr", "is", "ppl_z", "ppl_zend", "ppl_w", "ppl_wend", "swd", "msssim",
                     "pair_l1", "pair_psnr", "pair_ssim", "pair_msssim", "eqt_int", "eqt_frac", "eqr"}


@pytest.mark.parametrize("form", FORMS)
def test_declaration_is_consistent(form):
    m = _metric(form)
    assert isinstance(m, Metric) and m.form == form and isinstance(m.needs, Needs)
    assert [_metric(f).kind for f in FORMS].count(m.kind) == 1
    assert m.uses_extractor == m.needs.uses_extractor
    if m.default_n_is_cap:
        assert m.default_n is not None, "a bare name can only cap what it has a default for"
    pm = parse_metric(m.example)
    assert pm.spec is m and pm.name == m.example
    two = parse_metric(pm.with_thousands(2))
    assert two.spec is m and two.n == 2000 and two.k == pm.k
    if m.default_n is not None:  # the bare name is the form itself
        bare = parse_metric(form)
        assert bare.spec is m and bare.n == m.default_n and not bare.explicit_n
    need = m.min_images(pm)
    if need is not None:
        least, why = need
        assert isinstance(least, int) and least >= 1 and why


@pytest.mark.parametrize("form", FORMS)
def test_refusals_follow_the_needs(form):
    m = _metric(form)
    pm = parse_metric(m.example)
    if m.needs.pairs:
        with pytest.raises(GanforgeError, match="compares translated images with their ground truth"):
            refuse_pair_metrics([pm])
    else:
        refuse_pair_metrics([pm])
    if m.needs.pairs or m.needs.generator or m.needs.per_class:
        with pytest.raises(GanforgeError, match=f"^metric {m.example!r} "):
            check_image_set_metrics([pm])
    else:
        check_image_set_metrics([pm])


class _MovableSynthesis(torch.nn.Module):
    def __init__(self, render):
        super().__init__()
        self.input = torch.nn.Module()
        self.input.register_buffer("transform", torch.eye(3))  # StyleGAN3's user transform of the input
        self._render = [render]  # not a submodule

    def forward(self, ws, **ignored):
        return self._render[0](ws)


class _Movable(torch.nn.Module):
    """A MappedGenerator whose synthesis also has StyleGAN3's input transform (which it ignores), as the
    equivariance metrics need: fits every metric."""

    def __init__(self, G):
        super().__init__()
        self.G, self.synthesis = G, _MovableSynthesis(G.synthesis)
        self.z_dim, self.num_classes = G.z_dim, G.num_classes
        self.img_channels, self.img_resolution = G.img_channels, G.img_resolution

    def mapping(self, z, c=None):
        return self.G.mapping(z, c)

    def forward(self, z, c=None):
        return self.G(z, c)


def _data(helpers):
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(1000) % 3
    images = (torch.rand(1000, 1, 32, 32, generator=g) * 255).to(torch.uint8)
    images[:, :, 8:24, 8:24] //= (labels + 1).view(-1, 1, 1, 1).to(torch.uint8)
    return helpers.make_dataset(images, labels, name="contract")


def _finite(value) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return isinstance(value, float) and math.isfinite(value)


@pytest.mark.parametrize("form", [pytest.param(f, marks=pytest.mark.slow) if METRICS.get(f).kind in SLOW_KINDS
                                  else f for f in FORMS])
def test_computes_a_finite_value_on_a_tiny_case(form, helpers, tmp_path):
    m = _metric(form)
    data = _data(helpers)
    # test-pool4 (tests/conftest.py) is the cheapest extractor; the IS needs one with a classifier
    kw = dict(extractor="fmnist-cnn" if m.needs.logits else "test-pool4", batch_size=500, seed=2, cache_dir=tmp_path)
    if m.needs.pairs:
        class Pairs:  # a paired translation set: A = negatives of B
            paired, name, content_hash, split = True, "contract-pairs:test", "x", "test"
            a_u8, b_u8 = (255 - data.images_u8).contiguous(), data.images_u8

            def domain(self, side):
                return data

        (rec,) = evaluate_translation(m.example, lambda x, d: (-x).flip(-1), Pairs(), ["AtoB"], **kw)
        assert rec.metric == f"{m.example}/AtoB"
    else:
        G = _Movable(helpers.MappedGenerator(num_classes=3))  # mapping/synthesis, classes, input transform
        (rec,) = compute(m.example, G, data, **kw)
        assert rec.metric == m.example
    assert _finite(rec.value), rec.value
    pm = parse_metric(m.example)
    assert rec.num_gen == (pm.n * 3 if m.needs.per_class else pm.n) and rec.num_real >= 0
    assert (rec.extractor is not None) == m.uses_extractor
    assert (rec.protocol is not None) == m.uses_extractor
