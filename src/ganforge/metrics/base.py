"""What a named metric is: its name form, what it takes from an evaluation, and how it turns that into
its value.

Every metric kind (``fid``, ``kid``, ``ppl_z``, ``pair_l1``, ...) is a ``Metric`` registered in
``METRICS`` under its name form (``"fid{N}k"``) by the module that holds its maths (``fid.py``,
``kid.py``, ...); ``builtin.py`` imports those modules. ``protocol.compute`` parses names against this
registry, checks what each metric declares in its ``Needs`` before any work, and runs it with an
``Inputs``: the samples, features and reference data of one evaluation, drawn and embedded once and
shared by every metric that asks for the same thing. ``Inputs`` refuses what a metric did not declare,
so a declaration cannot drift from what the metric's code uses.

This module imports no metric and no orchestration, so metric modules can import it freely.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any, Iterator, NamedTuple

from ganforge.errors import GanforgeError
from ganforge.registry import Registry

GENERATED = (None, "images", "features")
REAL = (None, "images", "features", "stats")


@dataclass(frozen=True)
class Needs:
    """What a metric takes from one evaluation. The orchestration reads these flags to refuse, before
    any work, what an evaluation cannot give (a set of images has no generator, a generator that is not
    a translator has no ground-truth pairs) and to stamp the record with the extractor."""

    # "images": uint8 [N, C, H, W] pixels; "features": the extractor's (features [N, D], logits [N, K] | None)
    generated: str | None = None
    # "images", "features", or "stats": (mean [D], covariance [D, D]) of the reference features, cached on disk
    real: str | None = None
    logits: bool = False  # the classifier logits of the generated features; checked before any metric runs
    generator: bool = False  # the generator itself (PPL interpolates its latents), not only images drawn from it
    extractor: bool = False  # the extractor object itself, for what the needs above do not cover (PPL)
    per_class: bool = False  # the generated features of each class on its own, vs that class's reference stats
    pairs: bool = False  # translated images and their ground-truth partners (translation models only)

    def __post_init__(self) -> None:
        if self.generated not in GENERATED:
            raise ValueError(f"Needs.generated must be one of {GENERATED}, got {self.generated!r}")
        if self.real not in REAL:
            raise ValueError(f"Needs.real must be one of {REAL}, got {self.real!r}")
        if self.logits and self.generated != "features":
            raise ValueError("Needs.logits comes with the generated features: set generated='features'")
        if self.per_class and (self.generated != "features" or self.real not in (None, "stats")):
            raise ValueError("Needs.per_class gives per-class generated features and reference stats: set "
                             "generated='features' and real='stats' (or None)")
        others = (self.generated, self.real, self.logits, self.generator, self.extractor, self.per_class)
        if self.pairs and any(others):
            raise ValueError("Needs.pairs is all a pair metric gets (an evaluation of a translator has no other inputs)")
        if not self.pairs and not any(others):
            raise ValueError("a metric needs something to measure: declare at least one of Needs' fields")

    @property
    def uses_extractor(self) -> bool:
        """Whether the metric's record names an extractor (its features, logits or the object itself)."""
        return self.generated == "features" or self.real in ("features", "stats") or self.logits or self.extractor


class MetricValue(NamedTuple):
    """What ``Metric.compute`` returns; ``protocol`` adds the rest of the ``MetricRecord``."""

    value: Any  # a float, or a dict of floats (precision/recall, SWD)
    num_gen: int  # generated images used
    num_real: int  # reference images used (0 if none)
    details: dict


class Metric:
    """One metric kind. Subclasses set the class attributes below and override ``compute``; the other
    methods have defaults that fit a metric of N generated images.

    ``pm`` below is the ``protocol.ParsedMetric`` of a requested name (``pm.n``, ``pm.k``,
    ``pm.explicit_n``, ``pm.name``); ``inputs`` is an ``Inputs``.
    """

    kind: str = ""  # e.g. "fid"; what ParsedMetric.spec.kind says
    form: str = ""  # the name form users read, e.g. "fid{N}k"; the key in METRICS
    pattern: str = ""  # regex of the names, with the named group n (thousands) and optionally k
    default_n: int | None = None  # samples of the bare name (no N in it), None if N is required
    example: str = ""  # a valid name, cheap to compute (docs and the contract tests use it)
    needs: Needs | None = None
    # the bare name takes as many images as there are, up to default_n, instead of promising default_n
    default_n_is_cap: bool = False

    @property
    def uses_extractor(self) -> bool:
        return self.needs is not None and self.needs.uses_extractor

    def generated_needed(self, pm, inputs: Inputs, available: int | None = None) -> int:
        """Generated images the name promises (a record with fewer is refused); ``available``: the size
        of a fixed generated set, None for a generator."""
        return pm.n

    def reference_count(self, pm, inputs: Inputs) -> int:
        """Reference images this metric compares with (0 for none)."""
        return 0

    def images_used(self, pm, inputs: Inputs) -> tuple[int, int]:
        """(generated, reference) images it will use, for the image-count check before any work."""
        gen = pm.n if inputs.fake_count is None else min(pm.n, inputs.fake_count)
        return gen, self.reference_count(pm, inputs)

    def min_images(self, pm) -> tuple[int, str] | None:
        """(images each compared set needs at least, why), or None when it compares no image sets."""
        return None

    def check_generator(self, pm, generator, dataset) -> None:
        """Refuse, before any work, a generator or reference data this metric cannot use (``compute``)."""

    def check_fixed_set(self, pm, inputs: Inputs) -> None:
        """Refuse, before any work, what a fixed set of generated images cannot give (``compute_between``)."""

    def compute(self, pm, inputs: Inputs) -> MetricValue:
        raise NotImplementedError(f"metric kind {self.kind!r} does not implement compute")

    def __repr__(self) -> str:
        return f"<metric {self.form} ({self.kind})>"


class UndeclaredInput(RuntimeError):
    """A metric asked ``Inputs`` for something its ``Needs`` do not declare (a bug in the metric)."""


class Inputs:
    """What one metric may take from an evaluation: the accessors its ``Needs`` declare, and the
    settings every metric may read. ``source`` does the work (``protocol``'s evaluation, or the
    translated pairs of ``translation``); results are shared between metrics there, not here."""

    def __init__(self, pm, source) -> None:
        self._pm = pm
        self._needs: Needs = pm.spec.needs
        self._source = source

    def _need(self, ok: bool, what: str) -> None:
        if not ok:
            raise UndeclaredInput(f"metric kind {self._pm.spec.kind!r} asked for {what}, which its Needs "
                                  f"({self._needs}) do not declare")

    # settings of the evaluation, open to every metric
    @property
    def seed(self) -> int:
        return self._source.seed

    @property
    def device(self):
        return self._source.device

    @property
    def batch_size(self) -> int:
        return self._source.batch_size

    @property
    def shard(self):
        """The ``metrics.shard.Shard`` of the evaluation: work a metric splits over processes goes through it."""
        return self._source.shard

    @property
    def fake_count(self) -> int | None:
        """Size of a fixed set of generated images (``compute_between``); None for a generator."""
        return self._source.fake_count

    @property
    def num_classes(self) -> int:
        """The generator's classes (0: unconditional, or no generator)."""
        return self._source.num_classes

    @property
    def num_reference(self) -> int:
        """Images of the reference data set."""
        return self._source.num_reference

    def real_count(self, default: int) -> int:
        """Reference images used: ``num_real`` if given, else ``default``, at most all there are."""
        return self._source.real_count(default)

    # what the Needs declare
    @property
    def extractor(self):
        self._need(self._needs.uses_extractor, "the feature extractor")
        return self._source.extractor

    @property
    def generator(self):
        self._need(self._needs.generator, "the generator")
        G = self._source.generator
        if G is None:
            raise GanforgeError(f"metric {self._pm.name!r} needs a generator; it cannot be computed from image folders")
        return G

    def generated_features(self, n: int, label: int | None = None):
        """(features [n, D], logits [n, K] | None) of n generated images (of class ``label`` if given)."""
        self._need(self._needs.generated == "features", "generated features")
        self._need(label is None or self._needs.per_class, "the generated features of one class")
        return self._source.generated_features(n, label)

    def generated_images(self, n: int):
        """uint8 [n, C, H, W] generated images (fewer from a fixed set that has fewer)."""
        self._need(self._needs.generated == "images", "generated images")
        return self._source.generated_images(n)

    def real_features(self, count: int):
        """(features, logits | None) of ``count`` reference images (a fixed subset; cached on disk)."""
        self._need(self._needs.real == "features", "reference features")
        return self._source.real_features(count)

    def real_stats(self, count: int, label: int | None = None):
        """(mean [D], covariance [D, D]) float64 of ``count`` reference images' features (of class ``label``)."""
        self._need(self._needs.real == "stats", "reference feature statistics")
        self._need(label is None or self._needs.per_class, "the reference statistics of one class")
        return self._source.real_stats(count, label)

    def real_images(self, count: int):
        """uint8 [count, C, H, W]: a fixed (seed 0) subset of the reference images."""
        self._need(self._needs.real == "images", "reference images")
        return self._source.real_images(count)

    def class_real_count(self, label: int) -> int:
        """Reference images of class ``label`` used: all of them, or at most ``num_real``."""
        self._need(self._needs.per_class, "per-class reference counts")
        return self._source.class_real_count(label)

    @property
    def reference_class_names(self) -> tuple:
        """The reference data's class names (may be empty)."""
        self._need(self._needs.per_class, "the reference class names")
        return self._source.reference_class_names

    @property
    def pairs(self):
        """(translated, ground truth): two uint8 [n, C, H, W] batches, image i of one the partner of image i
        of the other."""
        self._need(self._needs.pairs, "translated pairs")
        return self._source.pairs


# ---------------------------------------------------------------------------------------------
# The registry


class MetricRegistry(Registry[Metric]):
    """``Registry`` of metrics by name form that can also take an entry back out (for metrics that live
    only as long as a test or a notebook cell)."""

    def remove(self, name: str) -> Metric:
        obj = self.get(name)  # an unknown name gets the registry's usual error
        del self._items[name]
        return obj


METRICS: MetricRegistry = MetricRegistry("metric form")


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to ``METRICS`` after checking its declaration; returns it. ValueError for a
    declaration that cannot work (a form or kind already taken, an example its pattern does not match)."""
    if not isinstance(metric, Metric):
        raise TypeError(f"register_metric takes a Metric, got {type(metric).__name__}")
    for attr in ("kind", "form", "pattern", "example"):
        if not isinstance(getattr(metric, attr), str) or not getattr(metric, attr):
            raise ValueError(f"metric {metric.form or metric.kind or metric!r}: {attr} must be a non-empty string")
    if not isinstance(metric.needs, Needs):
        raise ValueError(f"metric {metric.form!r}: needs must be a Needs, got {metric.needs!r}")
    try:
        compiled = re.compile(metric.pattern)
    except re.error as e:
        raise ValueError(f"metric {metric.form!r}: pattern {metric.pattern!r} is not a regex ({e})") from None
    if "n" not in compiled.groupindex:
        raise ValueError(f"metric {metric.form!r}: pattern {metric.pattern!r} has no named group 'n'")
    if not compiled.fullmatch(metric.example):
        raise ValueError(f"metric {metric.form!r}: its example {metric.example!r} does not match {metric.pattern!r}")
    if metric.form in METRICS:
        raise ValueError(f"duplicate metric form {metric.form!r}")
    taken = next((METRICS.get(f) for f in METRICS if METRICS.get(f).kind == metric.kind), None)
    if taken is not None:  # kinds are what callers compare (ParsedMetric.spec.kind): one metric each
        raise ValueError(f"duplicate metric kind {metric.kind!r} (registered as {taken.form!r})")
    METRICS.add(metric.form, metric)
    return metric


def unregister_metric(metric: Metric | str) -> Metric:
    """Take a metric (or the metric of a name form) out of ``METRICS``; returns it."""
    return METRICS.remove(metric.form if isinstance(metric, Metric) else metric)


@contextlib.contextmanager
def registered_metric(metric: Metric) -> Iterator[Metric]:
    """``with registered_metric(MyMetric()):`` the metric is known to ``parse_metric`` and ``compute``
    inside the block only."""
    register_metric(metric)
    try:
        yield metric
    finally:
        unregister_metric(metric)
