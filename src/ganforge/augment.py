"""Augmentation that the discriminator sees, for every family: DiffAugment and ADA (``augment.*``).

Both transform *every* image D sees, reals and fakes alike (penalty inputs too), with operations that
are differentiable in the image, so G learns through them; G's samples themselves stay clean. The
recipes only call ``self.aug(x)`` before their discriminator; this module owns the transforms, their
randomness (the trainer's generator, so resume is exact) and ADA's probability.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"), ops
named by ``augment.policy``:

* ``color``: brightness + U(-0.5, 0.5), saturation x U(0, 2) around the per-pixel channel mean,
  contrast x U(0.5, 1.5) around the image mean;
* ``translation``: integer shift of up to 1/8 of the size per axis, zeros shifted in;
* ``cutout``: a square of half the size, at a random place, set to zero.

Each op is applied to each image with probability ``augment.p`` (1 in the paper).

ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"), groups named
by ``augment.pipe`` letters, each transform applied with probability p (rotations with
1 - sqrt(1 - p), so that pre- and post-rotation together happen with about p, as in the paper):

* ``b`` (pixel blitting): x-flip, rotation by a multiple of 90 degrees, integer translation of up to
  1/8 of the size;
* ``g`` (general geometric): isotropic scale (lognormal, std 0.2 octaves), rotation, anisotropic
  scale (0.2), rotation, fractional translation (normal, std 1/8 of the size). All geometric
  transforms of an image are composed into one matrix and resampled once (bilinear, reflection at
  the borders);
* ``c`` (colour): brightness (normal, std 0.2), contrast (lognormal, 0.5 octaves), luma flip, hue
  rotation, saturation (lognormal, 1 octave), composed into one 4x4 colour matrix (gray images: the
  matrix acts on the gray value repeated to RGB, averaged back).

Deviation from the official pipeline: the geometric resampling is one bilinear ``grid_sample`` with
reflection padding instead of 2x upsampling with a wavelet filter; blitting at integer positions is
exact either way. The transforms are the paper's, each invertible in distribution, so with p below
about 0.8 the generator cannot learn them (non-leaking). p adapts: every ``augment.ada_interval``
steps r_t = E[sign(D(real))] over those steps is compared with ``augment.target`` (0.6) and p moves by
sign(r_t - target) * batch * interval / (ada_kimg * 1000), clamped to [0, 1]; so p can go from 0 to 1
in ``ada_kimg`` thousand images. p and the running sums are in the checkpoint and p in the stats.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError

DIFFAUGMENT_OPS = ("color", "translation", "cutout")
ADA_GROUPS = "bgc"
KINDS = ("diffaugment", "ada")


def parse_policy(policy: str) -> tuple[str, ...]:
    ops = tuple(s.strip() for s in str(policy).split(",") if s.strip())
    bad = [o for o in ops if o not in DIFFAUGMENT_OPS]
    if bad or not ops:
        raise GanforgeError(f"augment.policy {policy!r}: unknown or no operation {bad[0] if bad else ''!r}; "
                            f"valid: a comma-separated subset of {', '.join(DIFFAUGMENT_OPS)}")
    return ops


def parse_pipe(pipe: str) -> str:
    text = str(pipe)
    if not text or any(ch not in ADA_GROUPS for ch in text) or len(set(text)) != len(text):
        raise GanforgeError(f"augment.pipe {pipe!r}: valid are distinct letters of {ADA_GROUPS!r} "
                            "(b: flips, 90-degree rotations, integer shifts; g: scale, rotation, fractional "
                            "shift; c: colour), e.g. 'bgc'")
    return text


# ---------------------------------------------------------------------------------------------
# DiffAugment


def _chosen(n: int, p: float, g: torch.Generator, device) -> torch.Tensor:
    """[n, 1, 1, 1] bool: which images an op applies to."""
    return (torch.rand(n, 1, 1, 1, device=device, generator=g) < p)


def diff_color(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n, dev = x.shape[0], x.device
    x = x + (torch.rand(n, 1, 1, 1, device=dev, generator=g, dtype=x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=dev, generator=g, dtype=x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=dev, generator=g, dtype=x.dtype) + 0.5) + mean


def _shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Integer shift per image (dy, dx [n] int64), zeros shifted in; a gather, differentiable in x."""
    n, c, h, w = x.shape
    ys = torch.arange(h, device=x.device)[None, :] - dy[:, None]  # [n, h] source rows
    xs = torch.arange(w, device=x.device)[None, :] - dx[:, None]
    valid = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]  # [n, h, w]
    idx = ys.clamp(0, h - 1)[:, :, None] * w + xs.clamp(0, w - 1)[:, None, :]  # [n, h, w]
    out = x.flatten(2).gather(2, idx.flatten(1)[:, None, :].expand(n, c, h * w)).view(n, c, h, w)
    return out * valid[:, None].to(x.dtype)


def diff_translation(x: torch.Tensor, g: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (n,), device=x.device, generator=g)
    dx = torch.randint(-sx, sx + 1, (n,), device=x.device, generator=g)
    return _shift(x, dy, dx)


def diff_cutout(x: torch.Tensor, g: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n,), device=x.device, generator=g)
    cx = torch.randint(0, w + (1 - cw % 2), (n,), device=x.device, generator=g)
    ys = torch.arange(h, device=x.device)[None, :] - (cy[:, None] - ch // 2)
    xs = torch.arange(w, device=x.device)[None, :] - (cx[:, None] - cw // 2)
    inside = ((ys >= 0) & (ys < ch))[:, :, None] & ((xs >= 0) & (xs < cw))[:, None, :]
    return x * (~inside)[:, None].to(x.dtype)


_DIFF_OPS = {"color": diff_color, "translation": diff_translation, "cutout": diff_cutout}


# ---------------------------------------------------------------------------------------------
# ADA


def _eye(n: int, k: int, device) -> torch.Tensor:
    return torch.eye(k, device=device).expand(n, k, k).clone()


def _mat3(a, b, c, d, e, f) -> torch.Tensor:
    """[n, 3, 3] from rows (a, b, c) / (d, e, f) / (0, 0, 1), each entry [n]."""
    z, o = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([torch.stack([a, b, c], -1), torch.stack([d, e, f], -1), torch.stack([z, z, o], -1)], 1)


def _rotate(theta):
    return _mat3(torch.cos(theta), -torch.sin(theta), 0 * theta, torch.sin(theta), torch.cos(theta), 0 * theta)


def _scale(sx, sy):
    return _mat3(sx, 0 * sx, 0 * sx, 0 * sx, sy, 0 * sx)


def _translate(tx, ty):
    return _mat3(torch.ones_like(tx), 0 * tx, tx, 0 * tx, torch.ones_like(tx), ty)


class _Draw:
    """Random numbers for one batch, all from the trainer's generator, drawn in a fixed order."""

    def __init__(self, n: int, g: torch.Generator, device):
        self.n, self.g, self.device = n, g, device

    def uniform(self):
        return torch.rand(self.n, device=self.device, generator=self.g)

    def normal(self):
        return torch.randn(self.n, device=self.device, generator=self.g)

    def integers(self, k: int):
        return torch.randint(0, k, (self.n,), device=self.device, generator=self.g)

    def gate(self, p: float, value, neutral):
        """``value`` where the image is chosen (probability p), else ``neutral``."""
        return torch.where(self.uniform() < p, value, neutral)


def ada_geometry(n: int, p: float, groups: str, size: tuple[int, int], g: torch.Generator, device) -> torch.Tensor:
    """[n, 3, 3] maps from output to input pixel coordinates in affine_grid's [-1, 1] units."""
    h, w = size
    d = _Draw(n, g, device)
    m = _eye(n, 3, device)
    zero, one = torch.zeros(n, device=device), torch.ones(n, device=device)
    if "b" in groups:
        flip = d.gate(p, 1 - 2 * d.integers(2).float(), one)  # -1 = mirrored
        m = m @ _scale(flip, one)
        quarter = d.gate(p, d.integers(4).float(), zero)
        m = m @ _rotate(quarter * (math.pi / 2))
        tx = d.gate(p, torch.round((d.uniform() * 2 - 1) * 0.125 * w) * 2 / w, zero)
        ty = d.gate(p, torch.round((d.uniform() * 2 - 1) * 0.125 * h) * 2 / h, zero)
        m = m @ _translate(tx, ty)
    if "g" in groups:
        p_rot = 1 - math.sqrt(max(0.0, 1 - p))
        s = d.gate(p, torch.exp2(d.normal() * 0.2), one)
        m = m @ _scale(s, s)
        m = m @ _rotate(d.gate(p_rot, (d.uniform() * 2 - 1) * math.pi, zero))
        a = d.gate(p, torch.exp2(d.normal() * 0.2), one)
        m = m @ _scale(a, 1 / a)
        m = m @ _rotate(d.gate(p_rot, (d.uniform() * 2 - 1) * math.pi, zero))
        tx = d.gate(p, d.normal() * 0.125 * 2, zero)
        ty = d.gate(p, d.normal() * 0.125 * 2, zero)
        m = m @ _translate(tx, ty)
    return m


def ada_color(n: int, p: float, g: torch.Generator, device) -> torch.Tensor:
    """[n, 4, 4] colour matrices on homogeneous RGB values in [-1, 1]."""
    d = _Draw(n, g, device)
    c = _eye(n, 4, device)
    zero, one = torch.zeros(n, device=device), torch.ones(n, device=device)
    v = torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)  # the luma axis
    vv = torch.outer(v, v)
    eye4 = torch.eye(4, device=device)
    b = d.gate(p, d.normal() * 0.2, zero)
    t = _eye(n, 4, device)
    t[:, :3, 3] = b[:, None]
    c = t @ c
    k = d.gate(p, torch.exp2(d.normal() * 0.5), one)
    c = torch.diag_embed(torch.stack([k, k, k, one], -1)) @ c
    flip = d.gate(p, d.integers(2).float(), zero)
    c = (eye4 - 2 * vv * flip[:, None, None]) @ c
    p_rot = 1 - math.sqrt(max(0.0, 1 - p))
    theta = d.gate(p_rot, (d.uniform() * 2 - 1) * math.pi, zero)
    c = _rotate_about_luma(theta, v) @ c
    s = d.gate(p, torch.exp2(d.normal() * 1.0), one)
    c = (vv + (eye4 - vv) * s[:, None, None]) @ c
    return c


def _rotate_about_luma(theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """[n, 4, 4] rotation by theta about the unit axis v (Rodrigues), last row/column identity."""
    x, y, z = v[0], v[1], v[2]
    k = torch.stack([torch.stack([0 * x, -z, y]), torch.stack([z, 0 * x, -x]), torch.stack([-y, x, 0 * x])])
    eye3 = torch.eye(3, device=theta.device)
    r = eye3 + torch.sin(theta)[:, None, None] * k + (1 - torch.cos(theta))[:, None, None] * (k @ k)
    out = _eye(theta.shape[0], 4, theta.device)
    out[:, :3, :3] = r
    return out


def apply_geometry(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Resample each image through its [3, 3] matrix; images whose matrix is the identity are returned as is."""
    identity = (m - torch.eye(3, device=m.device)).abs().amax(dim=(1, 2)) == 0
    if bool(identity.all()):
        return x
    grid = F.affine_grid(m[:, :2, :].to(x.dtype), list(x.shape), align_corners=False)
    warped = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return torch.where(identity[:, None, None, None], x, warped)


def apply_color(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    n, ch = x.shape[:2]
    rgb = x if ch == 3 else x.expand(n, 3, *x.shape[2:])
    out = torch.einsum("nij,njhw->nihw", c[:, :3, :3].to(x.dtype), rgb) + c[:, :3, 3, None, None].to(x.dtype)
    return out if ch == 3 else out.mean(dim=1, keepdim=True)


# ---------------------------------------------------------------------------------------------
# The object the trainer owns


class Augment:
    """D's input augmentation of one run: ``__call__(x)`` transforms a batch; ADA adapts ``p``."""

    def __init__(self, cfg: Any, rng: torch.Generator):
        self.kind = cfg.kind
        if self.kind not in KINDS:
            raise GanforgeError(f"augment.kind {self.kind!r}: valid choices: {', '.join(KINDS)}, none")
        self.rng = rng
        self.policy = parse_policy(cfg.policy) if self.kind == "diffaugment" else ()
        self.pipe = parse_pipe(cfg.pipe) if self.kind == "ada" else ""
        default_p = 1.0 if self.kind == "diffaugment" else 0.0
        self.p = float(cfg.p) if cfg.p is not None else default_p
        self.target = cfg.target if self.kind == "ada" else None
        self.ada_kimg, self.interval = float(cfg.ada_kimg), int(cfg.ada_interval)
        self._sign_sum: torch.Tensor | float = 0.0
        self._sign_count = self._steps = 0

    @property
    def adaptive(self) -> bool:
        return self.target is not None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0:
            return x
        n, dev = x.shape[0], x.device
        if self.kind == "diffaugment":
            for op in self.policy:
                x = torch.where(_chosen(n, self.p, self.rng, dev), _DIFF_OPS[op](x, self.rng), x)
            return x
        if "b" in self.pipe or "g" in self.pipe:
            x = apply_geometry(x, ada_geometry(n, self.p, self.pipe, tuple(x.shape[2:]), self.rng, dev))
        if "c" in self.pipe:
            x = apply_color(x, ada_color(n, self.p, self.rng, dev))
        return x

    # -- ADA's controller --

    def observe(self, real_sign_mean: torch.Tensor | float) -> None:
        """Record one D step's mean sign of D(real) (the trainer calls this after each D step). Summed on
        the device: the host reads it once per ``interval`` steps, not once per step."""
        if self.adaptive:
            self._sign_sum = self._sign_sum + (real_sign_mean.detach().float()
                                               if isinstance(real_sign_mean, torch.Tensor) else float(real_sign_mean))
            self._sign_count += 1

    def end_step(self, batch_size: int) -> None:
        """After each training step: every ``interval`` steps, move p toward the overfitting target."""
        if not self.adaptive:
            return
        self._steps += 1
        if self._steps % self.interval or not self._sign_count:
            return
        rt = float(self._sign_sum) / self._sign_count
        adjust = math.copysign(1.0, rt - self.target) if rt != self.target else 0.0
        self.p = min(1.0, max(0.0, self.p + adjust * batch_size * self.interval / (self.ada_kimg * 1000)))
        self._sign_sum, self._sign_count = 0.0, 0

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p, "sign_sum": float(self._sign_sum), "sign_count": self._sign_count, "steps": self._steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p = float(state["p"])
        self._sign_sum, self._sign_count = float(state["sign_sum"]), int(state["sign_count"])
        self._steps = int(state["steps"])
