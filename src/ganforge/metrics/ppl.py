"""Perceptual path length.

Karras, Laine, Aila (2019), "A Style-Based Generator Architecture for Generative Adversarial
Networks", CVPR (section 4.2). PPL is the expected distance between images generated from two latents
epsilon apart along an interpolation path, divided by epsilon^2:

    l = E[ d(G(i(z0, z1; t)), G(i(z0, z1; t + eps))) / eps^2 ],   eps = 1e-4

In Z the interpolation i is spherical (slerp); in W (generators with ``mapping``/``synthesis``) it is
linear. ``sampling="full"`` draws t ~ U(0, 1), ``"end"`` uses t = 0. As in StyleGAN, distances
outside the 1st..99th percentile are discarded before averaging. Class-conditional generators use
the same random class at both ends.

Distance: StyleGAN uses LPIPS (Zhang et al. 2018); ganforge instead uses the evaluation feature
extractor: d = |f(x0)/|f(x0)| - f(x1)/|f(x1)||^2 on un-quantised images. Values are therefore not
comparable with published LPIPS-based PPL numbers; the record's ``details.distance`` says so.

Noise inputs: both ends of a pair must see the same noise, or PPL measures the noise (a small random
change divided by eps^2 = 1e-8 dwarfs the path's own change). As the official code (StyleGAN's
``randomize_noise=False``, StyleGAN2-ADA's ``noise_mode='const'``), generators that take ``noise_mode``
are run with their constant noise buffers; the record's ``details.noise`` says which.

Z-space slerp: StyleGAN's mapping network normalises z, so it slerps unit vectors. Generators that
use z directly (DCGAN) would see out-of-distribution unit-norm latents; ganforge slerps the
directions and linearly interpolates the norms, which equals StyleGAN's path after normalisation.

Named metrics (registered at the end), one per space and sampling: ``ppl_z``, ``ppl_zend``,
``ppl_w``, ``ppl_wend`` over 10k samples, ``ppl{N}k_z`` etc. over N*1000. They need the generator
itself, so they are refused for sets of images.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Metric, MetricValue, Needs, register_metric
from ganforge.metrics.generation import check_generator, eval_mode, sample_latents, to_float255


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of directions with lerped norms; a, b [N, D], t [N] -> [N, D]."""
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    ua, ub = a / na, b / nb
    t = t[:, None]
    d = (ua * ub).sum(dim=1, keepdim=True).clamp(-1.0, 1.0)
    p = t * torch.acos(d)
    c = ub - d * ua
    c = c / c.norm(dim=1, keepdim=True).clamp_min(1e-12)
    direction = ua * torch.cos(p) + c * torch.sin(p)
    return direction * (na + t * (nb - na))


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation; a, b [N, ...], t [N]."""
    t = t.reshape(-1, *([1] * (a.dim() - 1)))
    return a + (b - a) * t


def filtered_mean(dist: np.ndarray) -> float:
    """StyleGAN's reduction: mean of the values between the 1st ('lower') and 99th ('higher') percentile."""
    lo = np.percentile(dist, 1, method="lower")
    hi = np.percentile(dist, 99, method="higher")
    return float(dist[(dist >= lo) & (dist <= hi)].mean())


def ppl_from_generator(
    G: nn.Module,
    extractor,
    *,
    space: str = "z",
    sampling: str = "full",
    num_samples: int = 10000,
    epsilon: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    device="cpu",
    lpips_weights: str | None = None,
    shard=None,
) -> dict:
    """PPL of G -> {"ppl": filtered mean, "num_samples", "space", "sampling", "epsilon", "distance"}.

    ``extractor`` must provide ``embed_float(images [B, C, H, W] float in [0, 255], device)``.
    ``shard``: a ``metrics.shard.Shard`` when every process of a group computes it together.
    """
    from ganforge.metrics.shard import Shard, batch_seed, seeded_forward

    shard = shard or Shard()
    if lpips_weights is not None:
        raise GanforgeError("PPL with LPIPS weights is not supported yet; PPL uses the feature extractor's distance")
    if space not in ("z", "w"):
        raise GanforgeError(f"unknown PPL space {space!r}; valid choices: w, z")
    if sampling not in ("full", "end"):
        raise GanforgeError(f"unknown PPL sampling {sampling!r}; valid choices: end, full")
    if num_samples < 1:
        raise GanforgeError(f"PPL needs num_samples >= 1, got {num_samples}")
    if not hasattr(extractor, "embed_float"):
        raise GanforgeError(f"extractor {getattr(extractor, 'name', extractor)!r} cannot embed float images, which PPL needs")
    check_generator(G)
    if space == "w" and not (callable(getattr(G, "mapping", None)) and callable(getattr(G, "synthesis", None))):
        raise GanforgeError(
            f"PPL in W space needs a generator with mapping(z, c) and synthesis(w); {type(G).__name__} has "
            "no mapping network, so only Z-space PPL (ppl_z, ppl_zend) works for it"
        )
    fn = G if space == "z" else G.synthesis
    noise = {"noise_mode": "const"} if _takes(fn, "noise_mode") else {}
    gen = torch.Generator().manual_seed(int(seed))
    # latents and t are drawn up front (independent of batch_size); noise inside G is seeded per batch
    z0_all, c_all = sample_latents(G, num_samples, gen)
    z1_all, _ = sample_latents(G, num_samples, gen)
    t_all = torch.rand(num_samples, generator=gen) if sampling == "full" else torch.zeros(num_samples)

    def batch_distances(i: int) -> np.ndarray:
        sl = slice(i * batch_size, (i + 1) * batch_size)
        z0, z1, t = z0_all[sl].to(device), z1_all[sl].to(device), t_all[sl].to(device)
        b = z0.shape[0]
        c = c_all[sl].to(device) if c_all is not None else None
        with torch.no_grad(), eval_mode(G), seeded_forward(batch_seed(seed, None, i), device):
            if space == "z":
                za, zb = slerp(z0, z1, t), slerp(z0, z1, t + epsilon)
                imgs = G(torch.cat([za, zb]), torch.cat([c, c]) if c is not None else None, **noise)
            else:
                cc = torch.cat([c, c]) if c is not None else None
                w = G.mapping(torch.cat([z0, z1]), cc)
                w0, w1 = w[:b], w[b:]
                imgs = G.synthesis(torch.cat([lerp(w0, w1, t), lerp(w0, w1, t + epsilon)]), **noise)
            f, _ = extractor.embed_float(to_float255(imgs), device)
        f = f.double()
        f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return (((f[:b] - f[b:]) ** 2).sum(dim=1) / epsilon**2).cpu().numpy()

    dists = shard.map((num_samples + batch_size - 1) // batch_size, batch_distances)
    dist = np.concatenate(dists)
    return {
        "ppl": filtered_mean(dist),
        "num_samples": int(num_samples),
        "space": space,
        "sampling": sampling,
        "epsilon": epsilon,
        "distance": f"{getattr(extractor, 'name', '?')} unit-normalised features, squared L2 / eps^2 (not LPIPS)",
        "noise": "const (noise_mode='const')" if noise else "the generator takes no noise_mode",
    }


def _takes(fn, name: str) -> bool:
    """Whether ``fn`` (a module: its ``forward``) has a parameter called ``name``."""
    import inspect

    try:
        params = inspect.signature(fn.forward if isinstance(fn, nn.Module) else fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params


class PPL(Metric):
    """One (space, sampling) of PPL: the kinds ppl_z (Z, full), ppl_zend (Z, end), ppl_w, ppl_wend."""

    default_n = 10000
    needs = Needs(generator=True, extractor=True)

    def __init__(self, space: str, sampling: str) -> None:
        self.space, self.sampling = space, sampling
        suffix = space + ("end" if sampling == "end" else "")
        self.kind = self.form = f"ppl_{suffix}"
        self.pattern = rf"ppl(?:(?P<n>\d+)k)?_{suffix}"
        self.example = f"ppl1k_{suffix}"

    def compute(self, pm, inputs) -> MetricValue:
        out = ppl_from_generator(
            inputs.generator, inputs.extractor, space=self.space, sampling=self.sampling, num_samples=pm.n,
            batch_size=inputs.batch_size, seed=inputs.seed, device=inputs.device, shard=inputs.shard,
        )  # fmt: skip
        value = out.pop("ppl")
        return MetricValue(value, pm.n, 0, out)


for _space in ("z", "w"):
    for _sampling in ("full", "end"):
        register_metric(PPL(_space, _sampling))
