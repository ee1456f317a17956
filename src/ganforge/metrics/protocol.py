"""Named metrics with a fixed protocol, and protocol-stamped records.

The metrics themselves are registered in ``base.METRICS`` by the modules that hold their maths
(``builtin.py`` lists them; docs/metrics.md describes every name). This module parses names against
that registry and runs them: it checks what each metric declares in its ``Needs`` before any work,
draws the generated samples and extracts their features once for every metric that asks for the
same ones, splits that work over the processes of a group (``shard.py``), keeps the reference
features and statistics in an on-disk cache (``cache.py``), and stamps each value into a
``MetricRecord``. Nothing here knows a metric by its kind.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ganforge.metrics.builtin  # noqa: F401  (registers the shipped metrics)
from ganforge.errors import GanforgeError
from ganforge.limits import METRIC_SAMPLES_MAX
from ganforge.metrics.base import METRICS, Inputs, Metric, MetricValue

# ---------------------------------------------------------------------------------------------
# Records


def _ganforge_version() -> str:
    try:
        from ganforge.version import __version__

        return str(__version__)
    except Exception:
        return "0.1.0"


@dataclass
class MetricRecord:
    """One metric value plus everything needed to reproduce or compare it."""

    metric: str  # name as requested, e.g. "fid10k"
    value: Any  # float, or a dict for precision/recall and SWD
    extractor: str | None  # feature extractor name (None for SWD, MS-SSIM)
    extractor_weights_hash: str | None  # first 16 hex of the weights' content hash (tensors, not file bytes)
    resize: str | None  # how images were brought to the extractor's input
    num_gen: int  # generated images used
    num_real: int  # real images used (0 if none)
    dataset: str | None  # reference dataset name
    real_split: str | None  # reference split ("train"/"test") if known
    dataset_hash: str | None  # content hash of the reference dataset
    seed: int
    # the extractor's input pipeline: "tf" or "pytorch-fid" for inception-v3-fid, "native" for an
    # extractor with one fixed pipeline (fmnist-cnn), None for metrics without extractor (SWD, MS-SSIM)
    protocol: str | None = None
    ganforge_version: str = field(default_factory=_ganforge_version)
    wall_time_s: float = 0.0
    details: dict = field(default_factory=dict)  # std, k, subset sizes, PPL distance, ...

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# Names


@dataclass(frozen=True)
class ParsedMetric:
    name: str
    spec: Metric  # the registered metric (spec.kind, spec.needs, spec.compute, ...)
    n: int
    k: int | None = None
    explicit_n: bool = True  # False for the bare forms (swd, msssim, ppl_z, ...) that use default_n

    def with_thousands(self, t: int) -> str:
        """This metric's name with N = ``t`` (e.g. fid10k -> fid2k, pr10k3 -> pr2k3, swd -> swd2k)."""
        if self.explicit_n:
            return re.sub(r"\d+k", f"{t}k", self.name, count=1)
        head, sep, tail = self.name.partition("_")
        return f"{head}{t}k{sep}{tail}"


def parse_metric(name: str) -> ParsedMetric:
    """'fid10k' -> ParsedMetric(kind fid, n 10000); unknown names raise a GanforgeError listing the forms."""
    text = str(name).strip()
    for form in METRICS:
        spec = METRICS.get(form)
        m = re.fullmatch(spec.pattern, text)
        if not m:
            continue
        g = m.groupdict()
        n = int(g["n"]) * 1000 if g.get("n") else spec.default_n
        if n is None or n < 1:
            raise GanforgeError(f"metric {text!r}: the sample count must be at least 1k")
        if n > METRIC_SAMPLES_MAX:
            raise GanforgeError(f"metric {text!r}: {n:,} samples is over the {METRIC_SAMPLES_MAX:,} "
                                f"({METRIC_SAMPLES_MAX // 1000}k) one metric may use; the published protocols use 50k")
        k = int(g["k"]) if g.get("k") else None
        if k is not None and k < 1:
            raise GanforgeError(f"metric {text!r}: the neighbourhood size must be >= 1")
        return ParsedMetric(text, spec, n, k, explicit_n=bool(g.get("n")))
    raise GanforgeError(
        f"unknown metric {text!r}; valid forms: {', '.join(METRICS.names())} "
        "(N = thousands of samples, e.g. fid10k, ifid5k, kid2k, pr10k3, is10k, ppl2k_z, swd8k)"
    )


def parse_metrics(names) -> list[ParsedMetric]:
    if isinstance(names, str):
        names = [s for s in names.split(",")]
    out = [parse_metric(n) for n in names if str(n).strip()]
    if not out:
        raise GanforgeError("no metrics requested; e.g. --metrics fid10k,kid10k")
    return out


# ---------------------------------------------------------------------------------------------
# Real features with on-disk cache


def _num_images(dataset) -> int:
    return int(dataset.images_u8.shape[0])


def real_subset_indices(total: int, count: int) -> torch.Tensor:
    """First ``count`` entries of a fixed (seed 0) permutation, or all indices if count >= total."""
    if count >= total:
        return torch.arange(total)
    return torch.randperm(total, generator=torch.Generator().manual_seed(0))[:count].sort().values


def class_indices(dataset, label: int) -> torch.Tensor:
    """Indices (increasing) of the reference images labelled ``label``."""
    return torch.nonzero(torch.as_tensor(dataset.labels) == int(label)).flatten()


def _reference_pool(dataset, label: int | None) -> tuple[int, torch.Tensor | None]:
    """(size, indices) of the images a reference subset is drawn from: the whole dataset (indices
    None), or the images of class ``label``."""
    if label is None:
        return _num_images(dataset), None
    pool = class_indices(dataset, label)
    return len(pool), pool


def _with_label(fields: dict, label: int | None) -> dict:
    # whole-dataset entries keep the keys they always had; per-class entries add the class
    return fields if label is None else {**fields, "label": int(label)}


def real_features(dataset, extractor, count: int, *, cache_dir=None, batch_size: int = 64, device="cpu",
                  label: int | None = None, shard=None) -> tuple[np.ndarray, np.ndarray | None]:
    """(features, logits) of ``count`` reference images, from the cache when possible.

    ``label``: None for the whole dataset, or a class index for the images of that class only (the
    cache key then holds the class). ``shard``: a ``metrics.shard.Shard`` when every process of a group
    calls this together (each embeds its share of the batches; the cache is used when every process
    has it).
    """
    from ganforge.metrics.shard import Shard

    shard = shard or Shard()
    from ganforge.metrics.cache import (
        cache_key,
        default_cache_dir,
        load_arrays,
        save_arrays,
    )

    total, pool = _reference_pool(dataset, label)
    count = min(count, total)
    key = cache_key(**_with_label(dict(
        dataset=str(dataset.content_hash),
        extractor=extractor.name,
        weights=extractor.weights_hash,
        resize=extractor.resize,
        count=count,
    ), label))  # fmt: skip
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = path / f"real-{key[:40]}.safetensors"
    cached = load_arrays(path)
    if shard.all(cached is not None and "features" in cached and cached["features"].shape[0] == count):
        return cached["features"], cached.get("logits")
    from ganforge.data.stream import take_rows

    idx = real_subset_indices(total, count)
    if pool is not None:
        idx = pool[idx]
    feats, logits = embed_sharded(extractor, take_rows(dataset.images_u8, idx), batch_size, device, shard)
    arrays = {"features": feats}
    if logits is not None:
        arrays["logits"] = logits
    meta = {
        "dataset": str(getattr(dataset, "name", "")),
        "dataset_hash": str(dataset.content_hash),
        "extractor": extractor.name,
        "weights_hash": extractor.weights_hash,
        "count": str(count),
    }
    if label is not None:
        meta["label"] = str(int(label))
    if not shard.writes_cache:
        return feats, logits
    try:
        save_arrays(path, arrays, meta)
    except OSError as e:
        import warnings

        warnings.warn(f"could not write the metrics cache {path}: {e}", stacklevel=2)
    return feats, logits


def real_feature_stats(dataset, extractor, count: int, *, cache_dir=None, batch_size: int = 64,
                       device="cpu", label: int | None = None, shard=None) -> tuple[np.ndarray, np.ndarray]:
    """(mean [D], covariance [D, D]) float64 of the reference features, cached beside the features so
    a repeated FID does not recompute a [count, D] covariance (about 0.5 TFLOP at 60k x 2048).
    ``label`` and ``shard`` as in ``real_features``: the statistics of one class's images."""
    from ganforge.metrics.cache import (
        cache_key,
        default_cache_dir,
        load_arrays,
        save_arrays,
    )
    from ganforge.metrics.fid import feature_stats
    from ganforge.metrics.shard import Shard

    shard = shard or Shard()
    count = min(count, _reference_pool(dataset, label)[0])
    key = cache_key(**_with_label(dict(dataset=str(dataset.content_hash), extractor=extractor.name,
                                       weights=extractor.weights_hash, resize=extractor.resize, count=count,
                                       kind="stats"), label))
    path = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"real-stats-{key[:40]}.safetensors"
    cached = load_arrays(path)
    if shard.all(cached is not None and "mu" in cached and "sigma" in cached):
        return cached["mu"], cached["sigma"]
    feats, _ = real_features(dataset, extractor, count, cache_dir=cache_dir, batch_size=batch_size, device=device,
                             label=label, shard=shard)
    mu, sigma = feature_stats(feats)
    meta = {"dataset_hash": str(dataset.content_hash), "extractor": extractor.name, "count": str(count)}
    if label is not None:
        meta["label"] = str(int(label))
    if not shard.writes_cache:
        return mu, sigma
    try:
        save_arrays(path, {"mu": mu, "sigma": sigma}, meta)
    except OSError as e:
        import warnings

        warnings.warn(f"could not write the metrics cache {path}: {e}", stacklevel=2)
    return mu, sigma


def embed_sharded(extractor, images_u8: torch.Tensor, batch_size: int, device, shard) -> tuple[np.ndarray, np.ndarray | None]:
    """``extractor.embed`` of ``images_u8`` in batches of ``batch_size``, each process of ``shard`` doing
    its share; the same arrays as one ``embed`` call. ``images_u8`` may be a ``StreamedImages`` (rows on
    disk): each batch is read when its turn comes."""
    n_batches = (int(images_u8.shape[0]) + batch_size - 1) // batch_size
    if n_batches == 0:
        return extractor.embed(images_u8[:0], batch_size=batch_size, device=device)
    parts = shard.map(n_batches, lambda i: extractor.embed(images_u8[i * batch_size:(i + 1) * batch_size],
                                                             batch_size=batch_size, device=device))
    return _concat_embeddings(parts)


def _concat_embeddings(parts) -> tuple[np.ndarray, np.ndarray | None]:
    feats = np.concatenate([f for f, _ in parts])
    logits = [lg for _, lg in parts if lg is not None]
    return feats, (np.concatenate(logits) if logits else None)


# ---------------------------------------------------------------------------------------------
# compute


def _resolve_extractor(extractor, dataset, inception_weights, protocol=None):
    from ganforge.metrics.extractors import default_extractor_name, get_extractor

    if extractor is None:
        channels = int(dataset.images_u8.shape[1])
        res = int(dataset.images_u8.shape[-1])
        extractor = default_extractor_name(channels, res)
    if isinstance(extractor, str):
        weights = inception_weights if extractor == "inception-v3-fid" else None
        return get_extractor(extractor, weights_path=weights, protocol=protocol)
    if protocol is not None and getattr(extractor, "protocol", None) != protocol:
        raise GanforgeError(f"protocol {protocol!r} was asked for, but the given extractor object uses "
                            f"{getattr(extractor, 'protocol', None)!r}; build it with that protocol")
    return extractor


def _check_protocol(protocol) -> None:
    from ganforge.metrics.inception import PROTOCOLS

    if protocol is not None and protocol not in PROTOCOLS:
        raise GanforgeError(f"unknown protocol {protocol!r}; valid choices: {', '.join(PROTOCOLS)} "
                            "(for the inception-v3-fid extractor)")


def _resolve_device(device) -> str | torch.device:
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _check_common(batch_size, num_real, seed) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise GanforgeError(f"batch_size must be >= 1, got {batch_size!r}")
    if num_real is not None and (isinstance(num_real, bool) or not isinstance(num_real, int) or num_real < 2):
        raise GanforgeError(f"num_real must be >= 2, got {num_real!r}")
    from ganforge.limits import SEED_MAX

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise GanforgeError(f"seed must be an integer >= 0 and <= {SEED_MAX} (KID seeds numpy's RandomState), "
                            f"got {seed!r}")


def _check_shapes(G, dataset) -> None:
    c, h, w = (int(s) for s in dataset.images_u8.shape[1:])
    gc, gr = getattr(G, "img_channels", None), getattr(G, "img_resolution", None)
    if gc is not None and gr is not None and (int(gc), int(gr), int(gr)) != (c, h, w):
        raise GanforgeError(
            f"generator {type(G).__name__} makes {gc}x{gr}x{gr} images but the reference data "
            f"{getattr(dataset, 'name', '')!r} is {c}x{h}x{w}; evaluate against data at the generator's resolution"
        )


class _Evaluator:
    """Shared state of one compute call: the extractor, the generated samples and their features (each
    drawn and embedded once, whichever metrics ask), and the reference data. The source behind every
    metric's ``Inputs``."""

    def __init__(self, dataset, extractor, *, fake, device, batch_size, seed, num_real, cache_dir, inception_weights,
                 protocol=None, fake_class=None, num_classes: int = 0, shard=None, generator=None):
        from ganforge.metrics.shard import Shard

        self.dataset = dataset
        self.generator = generator  # None for a fixed set of images
        self.fake = fake  # callable(n) -> list of functions, each making one uint8 batch, or None
        self.fake_class = fake_class  # callable(n, k) -> the same for n images of class k, or None
        self.shard = shard or Shard()
        self.num_classes = num_classes  # the generator's classes (0: unconditional, or no generator)
        self.device = device
        self.batch_size = batch_size
        self.seed = seed
        self.num_real = num_real
        self.cache_dir = cache_dir
        self._extractor_arg = extractor
        self._inception_weights = inception_weights
        self._protocol = protocol
        self._extractor = None
        self._gen_memo: dict[tuple[int | None, int], tuple[np.ndarray, np.ndarray | None]] = {}  # (class, n)
        self.fake_count: int | None = None  # size of a fixed generated set (compute_between); None: a generator

    def inputs(self, pm: ParsedMetric) -> Inputs:
        return Inputs(pm, self)

    @property
    def extractor(self):
        if self._extractor is None:
            self._extractor = _resolve_extractor(self._extractor_arg, self.dataset, self._inception_weights,
                                                 self._protocol)
        return self._extractor

    def generated_images(self, n: int) -> torch.Tensor:
        batches = self.fake(n)
        if self.fake_count is not None:  # a fixed set: every rank holds it already, nothing to gather
            return torch.cat([b() for b in batches])
        return torch.cat(self.shard.map(len(batches), lambda i: batches[i]()))

    def generated_features(self, n: int, label: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(features, logits) of n generated images: from ``fake``, or n of class ``label`` from ``fake_class``."""
        key = (label, n)
        if key not in self._gen_memo:
            # a fixed image set's first n images are the first n of a longer request: reuse them. A
            # generator's are not (its labels are drawn after all latents, and randn's prefixes are not
            # guaranteed), so generated samples are reused only for the same (class, n).
            fixed = self.fake_count is not None
            longer = [m for c, m in self._gen_memo if c is None and m >= n] if (label is None and fixed) else []
            if longer:
                f, lg = self._gen_memo[(None, min(longer))]
                self._gen_memo[key] = (f[:n], lg[:n] if lg is not None else None)
            else:
                batches = self.fake(n) if label is None else self.fake_class(n, label)
                ext = self.extractor
                parts = self.shard.map(len(batches), lambda i: ext.embed(batches[i](), batch_size=self.batch_size,
                                                                         device=self.device))
                self._gen_memo[key] = _concat_embeddings(parts)
        return self._gen_memo[key]

    @property
    def num_reference(self) -> int:
        return _num_images(self.dataset)

    def real_count(self, default: int) -> int:
        total = _num_images(self.dataset)
        return min(self.num_real, total) if self.num_real else min(default, total)

    def real_features(self, count: int):
        return real_features(self.dataset, self.extractor, count, cache_dir=self.cache_dir, batch_size=self.batch_size,
                             device=self.device, shard=self.shard)

    def real_stats(self, count: int, label: int | None = None):
        return real_feature_stats(self.dataset, self.extractor, count, cache_dir=self.cache_dir,
                                  batch_size=self.batch_size, device=self.device, label=label, shard=self.shard)

    def real_images(self, count: int) -> torch.Tensor:
        total = _num_images(self.dataset)
        return self.dataset.images_u8[real_subset_indices(total, count)]

    def class_real_count(self, label: int) -> int:
        total = len(class_indices(self.dataset, label))
        return min(self.num_real, total) if self.num_real else total

    @property
    def reference_class_names(self):
        return getattr(self.dataset, "class_names", None) or ()


def _run_one(ev: _Evaluator, pm: ParsedMetric) -> MetricValue:
    """Metric ``pm`` on the evaluation ``ev``: (value, num_gen, num_real, details)."""
    return pm.spec.compute(pm, ev.inputs(pm))


def _check_logits(extractor, pm: ParsedMetric) -> None:
    if not getattr(extractor, "num_logits", 0):
        if hasattr(extractor, "classifier_missing_message"):
            raise GanforgeError(extractor.classifier_missing_message(f"metric {pm.name!r}"))
        raise GanforgeError(f"metric {pm.name!r} needs an extractor with classifier logits; {extractor.name!r} has none")


def refuse_pair_metrics(parsed) -> None:
    """Pair metrics compare a translation model's outputs with ground-truth partners; only translation
    training (recipes pix2pix, cyclegan on paired data) computes them."""
    for pm in parsed:
        if pm.spec.needs.pairs:
            raise GanforgeError(f"metric {pm.name!r} compares translated images with their ground truth; it is "
                                f"computed while training a translation model (recipe pix2pix or cyclegan on "
                                f"paired data, metrics.names), not for generators or image folders")


def check_image_set_metrics(parsed) -> None:
    """Refuse, before any work, the metrics a fixed set of generated images cannot give: those that need
    the generator itself (PPL), or the class of every generated image (intra-class FID)."""
    refuse_pair_metrics(parsed)
    for pm in parsed:
        if pm.spec.needs.per_class:
            raise GanforgeError(f"metric {pm.name!r} needs a class-conditional generator (it generates every class "
                                f"on its own); it cannot be computed from image folders, whose images carry no "
                                f"labels")
        if pm.spec.needs.generator:
            raise GanforgeError(f"metric {pm.name!r} needs a generator; it cannot be computed from image folders")


def check_image_counts(parsed, ev: _Evaluator) -> None:
    """Refuse, before any work, a metric whose image sets are too small for it to mean anything (or to be
    computed at all): one message naming the metric, the count given and the count needed."""
    data_name = getattr(ev.dataset, "name", "")
    for pm in parsed:
        need = pm.spec.min_images(pm)
        if need is None:
            continue
        least, why = need
        gen, real = pm.spec.images_used(pm, ev.inputs(pm))
        for side, have in (("generated", gen), ("reference", real)):
            if have >= least:
                continue
            total = _num_images(ev.dataset)
            if side == "reference" and have == total:
                where = f"the reference data {data_name!r} has {have}"
            elif side == "reference" and have == ev.num_real:
                where = f"{have} are used (num_real / --num-real {ev.num_real})"
            elif side == "reference":
                where = f"{have} of the {total} reference images are used (as many as it compares them with)"
            elif ev.fake_count is not None:
                where = f"the generated set has {have}"
            else:
                where = f"it generates {have} (the N of its name)"
            raise GanforgeError(f"metric {pm.name!r} needs at least {least} {side} images ({why}), but {where}")


def _too_few_generated(pm: ParsedMetric, want: int, have: int) -> str:
    if have >= 1000:
        hint = f"add images, or name a count the set can give, e.g. {pm.with_thousands(have // 1000)!r}"
    else:
        hint = f"add images (N counts thousands, so the smallest, {pm.with_thousands(1)!r}, needs 1000)"
    return f"metric {pm.name!r} needs {want} generated images but the generated set has {have}; {hint}"


def _split_of(dataset) -> str | None:
    """``dataset.split`` if present, else the suffix of names like ``"fashion-mnist:train"``."""
    split = getattr(dataset, "split", None)
    if split is None:
        name = str(getattr(dataset, "name", ""))
        if ":" in name and name.rsplit(":", 1)[1] in ("train", "test"):
            split = name.rsplit(":", 1)[1]
    return split


def _evaluate(parsed, ev: _Evaluator, dataset, seed) -> list[MetricRecord]:
    for pm in parsed:  # before any work: IS needs a classifier (features-only weights have none)
        if pm.spec.needs.logits:
            _check_logits(ev.extractor, pm)
    records = []
    for pm in parsed:
        t0 = time.perf_counter()
        value, num_gen, num_real, details = _run_one(ev, pm)
        want = pm.spec.generated_needed(pm, ev.inputs(pm), ev.fake_count)
        if num_gen != want:  # a metric name promises its sample count; never report fewer silently
            raise GanforgeError(_too_few_generated(pm, want, num_gen))
        ext = ev.extractor if pm.spec.uses_extractor else None
        if ext is not None and hasattr(ext, "input_note"):
            details = {**details, "input": ext.input_note(tuple(dataset.images_u8.shape))}
        records.append(
            MetricRecord(
                metric=pm.name,
                value=value,
                extractor=ext.name if ext is not None else None,
                extractor_weights_hash=ext.weights_hash if ext is not None else None,
                resize=ext.resize if ext is not None else "none (native resolution)",
                num_gen=int(num_gen),
                num_real=int(num_real),
                dataset=getattr(dataset, "name", None),
                real_split=_split_of(dataset),
                dataset_hash=getattr(dataset, "content_hash", None),
                seed=int(seed),
                protocol=(getattr(ext, "protocol", "native") if ext is not None else None),
                wall_time_s=round(time.perf_counter() - t0, 3),
                details=details,
            )
        )
    return records


def compute(
    names,
    generator,
    dataset,
    *,
    extractor=None,
    device="cpu",
    batch_size: int = 64,
    seed: int = 0,
    num_real: int | None = None,
    cache_dir=None,
    inception_weights: str | None = None,
    protocol: str | None = None,
    distributed: bool = False,
) -> list[MetricRecord]:
    """Evaluate ``generator`` against ``dataset`` for each metric name -> list of MetricRecord.

    names: list or comma-separated string ("fid10k,kid10k"); all are validated before any work.
    generator: G(z [N, z_dim], c [N] int64 | None) -> [N, C, H, W] in [-1, 1], with z_dim, num_classes.
    dataset: object with images_u8 [N, C, H, W] uint8, content_hash, name (and optionally split); intra-class
        FID also needs labels [N] int64 (and class_names) with G's classes.
    extractor: None (default for the data), a registered name, or an extractor object.
    device: "cpu", "cuda", ... or "auto"; the generator must already live on that device.
    num_real: cap on reference images (default: all for FID/KID, N for PR/SWD; for intra-class FID a cap
        on each class's).
    protocol: the Inception input pipeline, "tf" (default) or "pytorch-fid" (``inception.PROTOCOLS``);
        refused for extractors with one fixed pipeline.
    distributed: every process of the torch.distributed group calls ``compute`` with the same
        arguments; each generates and embeds its share of the batches (``metrics.shard``) and every one
        returns the same records, equal to one process's.
    """
    parsed = parse_metrics(names)
    refuse_pair_metrics(parsed)
    _check_protocol(protocol)
    _check_common(batch_size, num_real, seed)
    _check_shapes(generator, dataset)
    for pm in parsed:  # what only the metric knows to refuse (intra-class FID: a conditional G, labelled data)
        pm.spec.check_generator(pm, generator, dataset)
    device = _resolve_device(device)
    from ganforge.metrics.generation import generated_batches
    from ganforge.metrics.shard import Shard

    def fake(n):
        return generated_batches(generator, n, batch_size=batch_size, seed=seed, device=device)

    def fake_class(n, label):
        return generated_batches(generator, n, batch_size=batch_size, seed=seed, device=device, label=label)

    ev = _Evaluator(
        dataset, extractor, fake=fake, device=device, batch_size=batch_size, seed=seed,
        num_real=num_real, cache_dir=cache_dir, inception_weights=inception_weights, protocol=protocol,
        fake_class=fake_class, num_classes=int(getattr(generator, "num_classes", 0) or 0), shard=Shard(distributed),
        generator=generator,
    )  # fmt: skip
    check_image_counts(parsed, ev)
    return _evaluate(parsed, ev, dataset, seed)


def compute_between(
    names,
    real_dataset,
    fake_images_u8: torch.Tensor,
    *,
    extractor=None,
    device="cpu",
    batch_size: int = 64,
    seed: int = 0,
    num_real: int | None = None,
    cache_dir=None,
    inception_weights: str | None = None,
    protocol: str | None = None,
    distributed: bool = False,
) -> list[MetricRecord]:
    """Like ``compute`` but with a fixed set of generated images [M, C, H, W] uint8 instead of a generator
    (a tensor, or the ``StreamedImages`` of a streamed folder, read one batch at a time).

    A metric asking for N samples uses the first min(N, M) images; PPL and intra-class FID (which need a
    generator, and labels for the generated images) are refused. ``distributed`` as in ``compute``.
    """
    parsed = parse_metrics(names)
    check_image_set_metrics(parsed)
    _check_protocol(protocol)
    from ganforge.data.stream import StreamedImages

    if not isinstance(fake_images_u8, StreamedImages):  # a streamed folder stays on disk: read batch by batch
        fake_images_u8 = torch.as_tensor(fake_images_u8)
    if fake_images_u8.dtype != torch.uint8 or fake_images_u8.dim() != 4:
        raise GanforgeError("generated images must be a uint8 tensor [M, C, H, W]")
    if tuple(fake_images_u8.shape[1:]) != tuple(real_dataset.images_u8.shape[1:]):
        raise GanforgeError(
            f"real images are {tuple(real_dataset.images_u8.shape[1:])} but generated ones are "
            f"{tuple(fake_images_u8.shape[1:])} (C, H, W); bring both to the same size"
        )
    _check_common(batch_size, num_real, seed)
    device = _resolve_device(device)

    def fake(n):
        n = min(n, int(fake_images_u8.shape[0]))  # a metric that takes "all there are" asks for more
        return [(lambda s=s: fake_images_u8[s:min(s + batch_size, n)]) for s in range(0, n, batch_size)]

    from ganforge.metrics.shard import Shard

    ev = _Evaluator(
        real_dataset, extractor, fake=fake, device=device, batch_size=batch_size, seed=seed,
        num_real=num_real, cache_dir=cache_dir, inception_weights=inception_weights, protocol=protocol,
        shard=Shard(distributed),
    )  # fmt: skip
    have = ev.fake_count = int(fake_images_u8.shape[0])
    for pm in parsed:  # before any work: every metric gets the sample count its name promises
        want = pm.spec.generated_needed(pm, ev.inputs(pm), available=have)
        if have < want:
            raise GanforgeError(_too_few_generated(pm, want, have))
        pm.spec.check_fixed_set(pm, ev.inputs(pm))
    check_image_counts(parsed, ev)
    return _evaluate(parsed, ev, real_dataset, seed)
