"""A metric is one registered ``Metric``: registered from outside ganforge (here, from the tests) it is
parsed, checked and computed end to end by ``compute``/``compute_between`` with no change to the
protocol, gets its declared inputs (shared with the other metrics of the call) and nothing else."""

from __future__ import annotations

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import (
    METRICS,
    Metric,
    MetricValue,
    Needs,
    compute,
    compute_between,
    parse_metric,
    register_metric,
    registered_metric,
    unregister_metric,
)
from ganforge.metrics.base import UndeclaredInput
from ganforge.metrics.generation import generate_images
from ganforge.metrics.protocol import real_subset_indices
from ganforge.metrics.extractors import TorchExtractor


class CountingPool(TorchExtractor):
    """8x8 average-pooled pixels; counts the images it embedded."""

    name = "test-count-pool8"
    feature_dim = 64
    num_logits = 0
    resize = "adaptive average pool to 8x8"

    def __init__(self):
        super().__init__()
        self.images_seen = 0

    @property
    def weights_hash(self):
        return "0" * 16

    def _load(self):
        return torch.nn.Identity()

    def _forward(self, net, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1) / 255, None

    def embed(self, images_u8, batch_size=64, device="cpu"):
        self.images_seen += int(images_u8.shape[0])
        return super().embed(images_u8, batch_size, device)


class MeanPixel(Metric):
    """|mean generated pixel - mean reference pixel| over N of each: the smallest metric a user might add."""

    kind, form, pattern, example = "meanpix", "meanpix{N}k", r"meanpix(?P<n>\d+)k", "meanpix1k"
    needs = Needs(generated="images", real="images")

    def reference_count(self, pm, inputs):
        return inputs.real_count(pm.n)

    def compute(self, pm, inputs):
        gen = inputs.generated_images(pm.n)
        real = inputs.real_images(self.reference_count(pm, inputs))
        value = abs(float(gen.double().mean()) - float(real.double().mean()))
        return MetricValue(value, len(gen), len(real), {"unit": "uint8 levels"})


class FeatureNorm(Metric):
    """Mean L2 norm of the generated features: shares the extractor's pass with FID."""

    kind, form, pattern, example = "featnorm", "featnorm{N}k", r"featnorm(?P<n>\d+)k", "featnorm1k"
    needs = Needs(generated="features")

    def compute(self, pm, inputs):
        f, _ = inputs.generated_features(pm.n)
        return MetricValue(float((f**2).sum(axis=1).mean() ** 0.5), len(f), 0, {})


def _metric(kind, needs, compute=None, **attrs) -> Metric:
    """A throwaway metric ``{kind}{N}k``."""
    body = {"kind": kind, "form": f"{kind}{{N}}k", "pattern": kind + r"(?P<n>\d+)k", "example": f"{kind}1k",
            "needs": needs, **attrs}
    if compute is not None:
        body["compute"] = compute
    return type(f"Metric_{kind}", (Metric,), body)()


def _blobs(n, seed=0, s=32):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 1, 4, 4, generator=g)
    up = torch.nn.functional.interpolate(low, size=(s, s), mode="bicubic", align_corners=False)
    return (up.clamp(0, 1) * 255).to(torch.uint8)


@pytest.fixture
def data(helpers):
    return helpers.make_dataset(_blobs(1200), name="blobs")


def test_a_metric_registered_from_a_test_is_computed_end_to_end(helpers, data, tmp_path):
    with pytest.raises(GanforgeError, match="unknown metric 'meanpix1k'"):
        parse_metric("meanpix1k")
    G = helpers.TinyGenerator()
    with registered_metric(MeanPixel()) as m:
        assert METRICS.get("meanpix{N}k") is m and parse_metric("meanpix2k").n == 2000
        rec, fid = compute("meanpix1k,fid1k", G, data, extractor="test-pool4", batch_size=300, seed=4,
                           cache_dir=tmp_path)
        gen = generate_images(G, 1000, batch_size=300, seed=4)
        real = data.images_u8[real_subset_indices(1200, 1000)]
        assert rec.value == abs(float(gen.double().mean()) - float(real.double().mean()))
        assert (rec.metric, rec.num_gen, rec.num_real, rec.details) == ("meanpix1k", 1000, 1000, {"unit": "uint8 levels"})
        assert (rec.extractor, rec.protocol, rec.resize) == (None, None, "none (native resolution)")
        assert rec.dataset == "blobs" and rec.seed == 4 and fid.extractor == "test-pool4"
        # from a fixed set of images too, and the generic "too few generated" refusal applies to it
        (between,) = compute_between("meanpix1k", data, gen)
        assert between.value == rec.value
        with pytest.raises(GanforgeError, match=r"metric 'meanpix1k' needs 1000 generated images but the generated "
                                                r"set has 999"):
            compute_between("meanpix1k", data, gen[:999])
    with pytest.raises(GanforgeError, match="unknown metric 'meanpix1k'"):  # gone after the block
        parse_metric("meanpix1k")
    assert "meanpix{N}k" not in METRICS


def test_metrics_that_ask_for_the_same_features_share_one_pass(helpers, data, tmp_path):
    G = helpers.TinyGenerator()
    ext = CountingPool()
    with registered_metric(FeatureNorm()):
        fid, norm = compute("fid1k,featnorm1k", G, data, extractor=ext, cache_dir=tmp_path)
    assert ext.images_seen == 1000 + 1200  # the generated images were made and embedded once, for both
    assert G.calls == 16  # ceil(1000 / 64) batches: drawn once
    assert (norm.extractor, norm.protocol, norm.resize) == (fid.extractor, fid.protocol, fid.resize)
    assert norm.value > 0 and norm.num_gen == 1000 and norm.num_real == 0


def test_a_metric_gets_only_what_its_needs_declare(helpers, data):
    def sneaky(self, pm, inputs):
        inputs.generated_images(pm.n)
        inputs.real_features(pm.n)  # not declared
        raise AssertionError("unreachable")

    with registered_metric(_metric("sneaky", Needs(generated="images"), sneaky)):
        with pytest.raises(UndeclaredInput, match=r"metric kind 'sneaky' asked for reference features"):
            compute("sneaky1k", helpers.TinyGenerator(), data, extractor="test-pool4")

    def grabs_generator(self, pm, inputs):
        return MetricValue(float(inputs.generator.z_dim), pm.n, 0, {})

    with registered_metric(_metric("grab", Needs(generated="images"), grabs_generator)):
        with pytest.raises(UndeclaredInput, match="asked for the generator"):
            compute("grab1k", helpers.TinyGenerator(), data)


def _refused_before_any_work(helpers, data, names, match, **kw):
    G = helpers.TinyGenerator()
    with pytest.raises(GanforgeError, match=match):
        compute(names, G, data, **kw)
    assert G.calls == 0


def test_refusals_before_any_work_follow_the_declared_needs(helpers, data):
    never = lambda self, pm, inputs: pytest.fail("computed a metric that should have been refused")  # noqa: E731
    with registered_metric(_metric("needsg", Needs(generator=True, extractor=True), never)):
        with pytest.raises(GanforgeError, match=r"^metric 'needsg1k' needs a generator; it cannot be computed from "
                                                r"image folders$"):
            compute_between("needsg1k", data, data.images_u8)
    with registered_metric(_metric("percls", Needs(generated="features", real="stats", per_class=True), never)):
        with pytest.raises(GanforgeError, match=r"^metric 'percls1k' needs a class-conditional generator"):
            compute_between("fid1k,percls1k", data, data.images_u8)
    with registered_metric(_metric("pairy", Needs(pairs=True), never)):
        _refused_before_any_work(helpers, data, "fid1k,pairy1k", r"^metric 'pairy1k' compares translated images")
    with registered_metric(_metric("logity", Needs(generated="features", logits=True), never)):
        # test-pool4 has no classifier: refused before the FID that comes first generates anything
        _refused_before_any_work(helpers, data, "fid1k,logity1k", r"^metric 'logity1k' needs an extractor with "
                                                                  r"classifier logits; 'test-pool4' has none$",
                                 extractor="test-pool4")


def test_the_hooks_of_a_metric_run_before_any_work(helpers, data):
    def no_generator_please(self, pm, G, dataset):
        raise GanforgeError(f"{pm.name}: not with {type(G).__name__}")

    never = lambda self, pm, inputs: pytest.fail("computed")  # noqa: E731
    hooked = _metric("hooked", Needs(generated="images"), never, check_generator=no_generator_please)
    with registered_metric(hooked):
        _refused_before_any_work(helpers, data, "fid1k,hooked1k", r"^hooked1k: not with TinyGenerator$")
    counted = _metric("counted", Needs(generated="images", real="images"), never,
                      min_images=lambda self, pm: (1500, "it wants many"),
                      reference_count=lambda self, pm, inputs: inputs.real_count(inputs.num_reference))
    with registered_metric(counted):
        _refused_before_any_work(helpers, data, "fid1k,counted1k",
                                 r"^metric 'counted1k' needs at least 1500 generated images \(it wants many\), but it "
                                 r"generates 1000 \(the N of its name\)$")


def test_a_metric_that_returns_fewer_samples_than_its_name_promises_is_refused(helpers, data):
    def short(self, pm, inputs):
        gen = inputs.generated_images(pm.n)
        return MetricValue(0.0, len(gen) - 1, 0, {})

    with registered_metric(_metric("short", Needs(generated="images"), short)):
        with pytest.raises(GanforgeError, match=r"^metric 'short1k' needs 1000 generated images but the generated "
                                                r"set has 999"):
            compute("short1k", helpers.TinyGenerator(), data)


# ---------------------------------------------------------------- registration


def test_register_and_unregister(helpers):
    m = register_metric(MeanPixel())
    try:
        assert parse_metric("meanpix3k").spec is m
        with pytest.raises(ValueError, match="duplicate metric form 'meanpix{N}k'"):
            register_metric(MeanPixel())
        with pytest.raises(ValueError, match=r"duplicate metric kind 'meanpix' \(registered as 'meanpix{N}k'\)"):
            register_metric(_metric("meanpix", Needs(generated="images"), form="other{N}k"))
    finally:
        assert unregister_metric(m) is m
    with pytest.raises(GanforgeError, match=r"unknown metric form 'meanpix{N}k'; valid choices: eqr\{N\}k, .*fid"):
        unregister_metric("meanpix{N}k")


def test_a_failing_block_still_unregisters_its_metric():
    with pytest.raises(RuntimeError, match="inside"):
        with registered_metric(MeanPixel()):
            raise RuntimeError("inside")
    assert "meanpix{N}k" not in METRICS


@pytest.mark.parametrize("attrs,match", [
    ({"example": "meanpix"}, r"its example 'meanpix' does not match"),
    ({"pattern": r"meanpix\d+k", "example": "meanpix1k"}, r"has no named group 'n'"),
    ({"pattern": r"meanpix(?P<n>\d+k", "example": "meanpix1k"}, r"is not a regex"),
    ({"form": ""}, r"form must be a non-empty string"),
    ({"needs": None}, r"needs must be a Needs"),
])
def test_a_declaration_that_cannot_work_is_refused_at_registration(attrs, match):
    attrs = dict(attrs)
    bad = _metric("meanpix", attrs.pop("needs", Needs(generated="images")), **attrs)
    with pytest.raises(ValueError, match=match):
        register_metric(bad)
    assert "meanpix{N}k" not in METRICS and not any(METRICS.get(f).kind == "meanpix" for f in METRICS)


def test_only_metrics_are_registered():
    with pytest.raises(TypeError, match="register_metric takes a Metric, got dict"):
        register_metric({"kind": "x"})


@pytest.mark.parametrize("kwargs,match", [
    ({}, "a metric needs something to measure"),
    ({"generated": "pixels"}, "Needs.generated must be one of"),
    ({"real": "images", "generated": "logits"}, "Needs.generated must be one of"),
    ({"real": "everything"}, "Needs.real must be one of"),
    ({"logits": True}, "Needs.logits comes with the generated features"),
    ({"generated": "images", "per_class": True}, "Needs.per_class gives per-class generated features"),
    ({"generated": "features", "real": "images", "per_class": True}, "Needs.per_class gives"),
    ({"pairs": True, "real": "images"}, "Needs.pairs is all a pair metric gets"),
])
def test_needs_that_contradict_themselves_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Needs(**kwargs)


@pytest.mark.parametrize("needs,uses", [
    (Needs(generated="images", real="images"), False),
    (Needs(pairs=True), False),
    (Needs(generated="features"), True),
    (Needs(real="stats", generated="images"), True),
    (Needs(generator=True), False),
    (Needs(generator=True, extractor=True), True),
    (Needs(generated="features", logits=True), True),
])
def test_a_record_names_an_extractor_exactly_when_the_needs_use_one(needs, uses):
    assert needs.uses_extractor is uses
    assert _metric("x", needs).uses_extractor is uses


def test_the_example_of_the_docs_registers_and_computes(helpers, data):
    """The code block of docs/metrics.md "Adding a metric" runs as written."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    section = text.split("## Adding a metric", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    code = "\n".join(line[3:] for line in code.splitlines())  # the block is indented under a list item
    namespace: dict = {}
    exec(compile(code, "docs/metrics.md", "exec"), namespace)  # noqa: S102 - the project's own docs
    try:
        (rec,) = compute("meanpix1k", helpers.TinyGenerator(), data, batch_size=500)
        assert rec.metric == "meanpix1k" and rec.value >= 0 and (rec.num_gen, rec.num_real) == (1000, 1000)
    finally:
        unregister_metric("meanpix{N}k")
