"""Metrics of image-to-image translation models.

Pixel metrics against ground truth, per image pair on uint8 images (then averaged over pairs):

- ``l1``: mean |x - y| / 255 over pixels and channels (0 = equal, 1 = black vs white). Twice this is
  the L1 distance on the [-1, 1] scale pix2pix trains with.
- ``psnr``: 10 log10(255^2 / MSE) in dB, with the MSE floored at 1e-10 so equal images give a finite
  148 dB rather than infinity.
- ``ssim``: single-scale SSIM (Wang et al. 2004) with the 11x11 Gaussian window (sigma 1.5), "valid"
  filtering, K1 = 0.01, K2 = 0.03, L = 255, mean over positions and channels: the same statistics as
  the finest scale of ``ganforge.metrics.msssim``.
- ``msssim``: ``ganforge.metrics.msssim`` (its scale count depends on the resolution; see there).

``evaluate_translation`` runs named metrics on a translator and a held-out set: FID/KID/PR/SWD/IS of
the translated images against the target domain (``compute_between``, so the same protocol records),
and ``pair_l1``, ``pair_psnr``, ``pair_ssim``, ``pair_msssim`` against the ground-truth partners of
paired data. Every record names its direction: metric ``"fid1k/AtoB"``, ``details["direction"]``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.msssim import WINDOW, _ssim_terms, _window, msssim

PAIR_KINDS = ("pair_l1", "pair_psnr", "pair_ssim", "pair_msssim")


def _check_pair(x_u8: torch.Tensor, y_u8: torch.Tensor, what: str) -> None:
    if x_u8.shape != y_u8.shape or x_u8.dim() != 4:
        raise GanforgeError(f"{what} needs two image batches of equal shape [N, C, H, W], got "
                            f"{tuple(x_u8.shape)} and {tuple(y_u8.shape)}")


def l1(x_u8: torch.Tensor, y_u8: torch.Tensor) -> torch.Tensor:
    """Per pair [N] float64: mean |x - y| / 255."""
    _check_pair(x_u8, y_u8, "L1")
    return (x_u8.double() - y_u8.double()).abs().mean(dim=(1, 2, 3)) / 255


def psnr(x_u8: torch.Tensor, y_u8: torch.Tensor) -> torch.Tensor:
    """Per pair [N] float64: 10 log10(255^2 / max(MSE, 1e-10)) dB."""
    _check_pair(x_u8, y_u8, "PSNR")
    mse = (x_u8.double() - y_u8.double()).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(255.0**2 / mse.clamp_min(1e-10))


def ssim(x_u8: torch.Tensor, y_u8: torch.Tensor) -> torch.Tensor:
    """Per pair [N] float64: SSIM, mean over positions and channels (images of at least 11 px)."""
    _check_pair(x_u8, y_u8, "SSIM")
    if min(x_u8.shape[-2:]) < WINDOW:
        raise GanforgeError(f"SSIM needs images of at least {WINDOW} px, got {tuple(x_u8.shape[-2:])}")
    value, _ = _ssim_terms(x_u8.double(), y_u8.double(), _window(torch.float64))
    return value.mean(dim=1)


PAIR_FUNCTIONS = {"pair_l1": l1, "pair_psnr": psnr, "pair_ssim": ssim, "pair_msssim": msssim}
_PAIR_NOTES = {"pair_l1": "mean |x - y| / 255", "pair_psnr": "dB, MSE floored at 1e-10",
               "pair_ssim": "11x11 Gaussian window, sigma 1.5, valid", "pair_msssim": "ganforge.metrics.msssim"}


@torch.no_grad()
def translate_images(net: Any, src_u8: torch.Tensor, direction: str, *, device: Any = "cpu",
                     batch_size: int = 64, shard=None) -> torch.Tensor:
    """uint8 [N, C_in, H, W] -> the translator's uint8 outputs [N, C_out, H, W] (CPU). ``shard``: a
    ``metrics.shard.Shard`` when every process of a group translates its share of the batches."""
    from ganforge.metrics.shard import Shard
    from ganforge.synthesis.images import to_uint8

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
    check_image_set_metrics([p for p in parsed if p.spec.kind not in PAIR_KINDS])
    for pm in parsed:
        if pm.spec.kind in PAIR_KINDS and not eval_ds.paired:
            raise GanforgeError(f"metric {pm.name!r} compares translations with their ground truth, but "
                                f"{eval_ds.name!r} is unpaired; use fid/kid against the target domain")
        for d in directions:
            src, _ = _domains(eval_ds, d)
            strict = pm.spec.kind not in PAIR_KINDS or pm.explicit_n
            if strict and pm.n > len(src) and not (pm.spec.kind == "swd" and not pm.explicit_n):
                raise GanforgeError(f"metric {pm.name!r} needs {pm.n} translated images but {eval_ds.name!r} has "
                                    f"{len(src)} {d[0]} images to translate; use a smaller N (1k = 1000) or more data")


def evaluate_translation(names, net: Any, eval_ds: Any, directions: list[str], *, extractor=None, device="cpu",
                         seed: int = 0, protocol: str | None = None, batch_size: int = 64,
                         cache_dir=None, num_real: int | None = None, distributed: bool = False) -> list[Any]:
    """Metric records of translator ``net`` on the translation dataset ``eval_ds``, per direction.

    Image-set metrics (fid, kid, pr, swd, is) compare the first N translations of the source domain
    with the target domain's images; ``pair_*`` metrics compare translations with their partners
    (paired data), over N pairs (bare names: min(1000, pairs available)). ``distributed``: every
    process of the group calls this together and translates and embeds its share (as ``compute``).
    """
    from ganforge.metrics.shard import Shard

    from ganforge.metrics.protocol import MetricRecord, compute_between, parse_metrics

    check_translation_metrics(names, eval_ds, directions)
    parsed = parse_metrics(names)
    sets = [p for p in parsed if p.spec.kind not in PAIR_KINDS]
    pairs = [p for p in parsed if p.spec.kind in PAIR_KINDS]
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
            n = min(pm.n, len(out)) if not pm.explicit_n else pm.n
            values = PAIR_FUNCTIONS[pm.spec.kind](out[:n], dst_u8[:n])
            records.append(MetricRecord(
                metric=f"{pm.name}/{d}", value=float(values.mean()), extractor=None, extractor_weights_hash=None,
                resize="none (native resolution)", num_gen=int(n), num_real=int(n), dataset=ref.name,
                real_split=getattr(eval_ds, "split", None), dataset_hash=getattr(eval_ds, "content_hash", None),
                seed=int(seed), protocol=None,
                wall_time_s=round(time.perf_counter() - t1 + translate_s * n / max(len(out), 1), 3),
                details={"direction": d, "std": float(values.std()) if n > 1 else 0.0,
                         "definition": _PAIR_NOTES[pm.spec.kind], "ground_truth": "paired partners"}))
    return records
