"""Evaluation of image-to-image translation models.

``evaluate_translation`` runs named metrics on a translator and a held-out set: FID/KID/PR/SWD/IS of
the translated images against the target domain (``compute_between``, so the same protocol records),
and the pair metrics of ``ganforge.metrics.pairs`` (``pair_l1``, ``pair_psnr``, ``pair_ssim``,
``pair_msssim``: every metric whose ``Needs`` ask for pairs) against the ground-truth partners of
paired data. Every record names its direction: metric ``"fid1k/AtoB"``, ``details["direction"]``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.pairs import l1, psnr, ssim  # noqa: F401  (recipes and tests read them here)


@torch.no_grad()
def translate_images(net: Any, src_u8: torch.Tensor, direction: str, *, device: Any = "cpu",
                     batch_size: int = 64, shard=None) -> torch.Tensor:
    """uint8 [N, C_in, H, W] -> the translator's uint8 outputs [N, C_out, H, W] (CPU). ``shard``: a
    ``metrics.shard.Shard`` when every process of a group translates its share of the batches."""
    from ganforge.metrics.shard import Shard
    from ganforge.images import to_uint8

    def one(i: int) -> torch.Tensor:
        x = src_u8[i * batch_size:(i + 1) * batch_size].to(device).float() / 127.5 - 1
        return to_uint8(net(x, direction)).cpu()

    out = (shard or Shard()).map((len(src_u8) + batch_size - 1) // batch_size, one)
    return torch.cat(out) if out else src_u8.new_zeros((0,))


def _domains(ds: Any, direction: str) -> tuple[torch.Tensor, torch.Tensor]:
    src, dst = direction[0], direction[-1]
    return (ds.a_u8 if src == "A" else ds.b_u8), (ds.a_u8 if dst == "A" else ds.b_u8)


def check_translation_metrics(names, eval_ds: Any, directions: list[str]) -> None:
    """Refuse, before any work, what ``evaluate_translation`` could not give on ``eval_ds``."""
    from ganforge.metrics.protocol import check_image_set_metrics, parse_metrics

    parsed = parse_metrics(names)
    check_image_set_metrics([p for p in parsed if not p.spec.needs.pairs])
    for pm in parsed:
        if pm.spec.needs.pairs and not eval_ds.paired:
            raise GanforgeError(f"metric {pm.name!r} compares translations with their ground truth, but "
                                f"{eval_ds.name!r} is unpaired; use fid/kid against the target domain")
        capped = not pm.explicit_n and pm.spec.default_n_is_cap  # bare swd, pair_*: as many as there are
        for d in directions:
            src, _ = _domains(eval_ds, d)
            if pm.n > len(src) and not capped:
                raise GanforgeError(f"metric {pm.name!r} needs {pm.n} translated images but {eval_ds.name!r} has "
                                    f"{len(src)} {d[0]} images to translate; use a smaller N (1k = 1000) or more data")


class _Pairs:
    """The ``Inputs`` source of a pair metric: translations and their partners, nothing else."""

    def __init__(self, translated: torch.Tensor, truth: torch.Tensor) -> None:
        self.pairs = (translated, truth)


def evaluate_translation(names, net: Any, eval_ds: Any, directions: list[str], *, extractor=None, device="cpu",
                         seed: int = 0, protocol: str | None = None, batch_size: int = 64,
                         cache_dir=None, num_real: int | None = None, distributed: bool = False) -> list[Any]:
    """Metric records of translator ``net`` on the translation dataset ``eval_ds``, per direction.

    Image-set metrics (fid, kid, pr, swd, is) compare the first N translations of the source domain
    with the target domain's images; pair metrics compare translations with their partners (paired
    data), over N pairs (bare names: min(1000, pairs available)). ``distributed``: every process of
    the group calls this together and translates and embeds its share (as ``compute``).
    """
    from ganforge.metrics.base import Inputs
    from ganforge.metrics.protocol import MetricRecord, compute_between, parse_metrics
    from ganforge.metrics.shard import Shard

    check_translation_metrics(names, eval_ds, directions)
    parsed = parse_metrics(names)
    sets = [p for p in parsed if not p.spec.needs.pairs]
    pairs = [p for p in parsed if p.spec.needs.pairs]
    records = []
    for d in directions:
        src_u8, dst_u8 = _domains(eval_ds, d)
        need = max([p.n for p in parsed], default=0)
        t0 = time.perf_counter()
        out = translate_images(net, src_u8[:need], d, device=device, batch_size=batch_size,
                               shard=Shard(distributed))
        translate_s = time.perf_counter() - t0
        ref = eval_ds.domain(d[-1])
        if sets:
            for r in compute_between([p.name for p in sets], ref, out, extractor=extractor, device=device,
                                     batch_size=batch_size, seed=seed, protocol=protocol, cache_dir=cache_dir,
                                     num_real=num_real, distributed=distributed):
                records.append(dataclasses.replace(r, metric=f"{r.metric}/{d}",
                                                   details={**r.details, "direction": d}))
        for pm in pairs:
            t1 = time.perf_counter()
            n = min(pm.n, len(out)) if not pm.explicit_n and pm.spec.default_n_is_cap else pm.n
            res = pm.spec.compute(pm, Inputs(pm, _Pairs(out[:n], dst_u8[:n])))
            records.append(MetricRecord(
                metric=f"{pm.name}/{d}", value=res.value, extractor=None, extractor_weights_hash=None,
                resize="none (native resolution)", num_gen=int(res.num_gen), num_real=int(res.num_real),
                dataset=ref.name, real_split=getattr(eval_ds, "split", None),
                dataset_hash=getattr(eval_ds, "content_hash", None), seed=int(seed), protocol=None,
                wall_time_s=round(time.perf_counter() - t1 + translate_s * n / max(len(out), 1), 3),
                details={"direction": d, **res.details}))
    return records
