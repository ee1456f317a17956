"""Latent-space tools for style-based generators (StyleGAN 1/2 and any model with the same interface).

A style-based generator here is one with ``mapping(z, c, truncation_psi=..., truncation_cutoff=...)
-> ws [N, num_ws, w_dim]``, ``synthesis(ws, noise_mode=...) -> [N, C, H, W]`` and the attributes
``z_dim``, ``w_dim``, ``num_ws``, ``num_classes``, ``img_resolution`` and ``layer_resolutions`` (the
resolution each of the ``num_ws`` style inputs acts at). The tools:

- ``truncation_sweep``: rows of seeds, columns of psi values (Karras et al. 2019, fig. 8).
- ``style_mixing_grid``: the paper's figure 3: row seeds take the chosen style layers of column seeds.
- ``stochastic_variation``: one latent with several noise draws, plus the per-pixel standard
  deviation across the draws (fig. 4), which shows where noise acts.
- ``interpolation_frames``: linear interpolation in W or spherical in Z between seeds.
- ``project``: find the W (or W+) latent whose image matches a target (section 5 of the StyleGAN2
  paper), optimising from the W mean with noise added to the latent early on.

Every latent comes from the seed the same way as ``ganforge generate`` (``torch.randn(1, z_dim)`` of
a CPU generator seeded with the seed), so a seed names the same image in every tool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganforge import args as _args
from ganforge.args import NOISE_MODES
from ganforge.errors import GanforgeError
from ganforge.interfaces import StyleGenerator, input_transform
from ganforge.limits import FPS_MAX, FRAMES_MAX, PROJECT_LR_MAX
from ganforge.metrics.ppl import lerp, slerp
from ganforge.images import make_grid, to_uint8

STYLE_GROUPS = ("coarse", "middle", "fine")


def require_style_based(G: nn.Module, what: str) -> None:
    """Raise a GanforgeError unless ``G`` has the style-based interface (see module docstring)."""
    if not isinstance(G, StyleGenerator):
        raise GanforgeError(f"{what} needs a style-based generator (StyleGAN, StyleGAN2, StyleGAN3: mapping + "
                            f"synthesis); this model is {model_kind(G)!r}")


def has_noise(G: nn.Module) -> bool:
    """False for a generator without noise inputs (StyleGAN3 sets ``has_noise = False``); True otherwise."""
    return getattr(G, "has_noise", True) is not False


def model_kind(G: nn.Module) -> str:
    """The model's kind for messages: its arch ("stylegan3-t", "stylegan2-skip"), else its class name."""
    return getattr(G, "arch", None) or getattr(G, "meta", {}).get("arch") or type(G).__name__


def check_noise_applies(G: nn.Module, mode: str | None, flag: str = "--noise-mode") -> None:
    """Refuse ``mode`` 'random' for a generator without noise inputs: its pictures are the same in every
    noise mode, so asking for random noise would promise variation that never comes ('const' and 'none'
    are accepted: without noise they are what the model does anyway)."""
    if mode == "random" and not has_noise(G):
        raise GanforgeError(f"{flag} random: this model ({model_kind(G)!r}) has no noise inputs (StyleGAN3 removed "
                            f"them), so its pictures are the same in every noise mode; leave out {flag}")


def require_noise(G: nn.Module, what: str) -> None:
    """Raise a GanforgeError naming ``what`` when ``G`` has no noise inputs (StyleGAN3): stochastic
    variation has nothing to show there, since every noise draw gives the same picture."""
    if not has_noise(G):
        raise GanforgeError(f"{what} shows what a model's noise inputs change, but this model ({model_kind(G)!r}) has "
                            f"none (StyleGAN3 removed them): every noise draw would give the same picture")


def check_noise_mode(mode: str, flag: str | None = None) -> str:
    """``mode`` if it is one of ``NOISE_MODES``, else a GanforgeError listing them (and naming ``flag``)."""
    return _args.check_choice(mode, "noise mode", NOISE_MODES, flag)


def check_psi(psi: float, flag: str | None = None) -> float:
    """A truncation psi: finite and within +-``ganforge.limits.PSI_MAX`` (the CLI's ``--psi`` check)."""
    return _args.check_psi(psi, flag)


def check_cutoff(G: nn.Module, cutoff: int | None, flag: str = "--cutoff") -> int | None:
    """A truncation cutoff for model ``G``: None (every layer), or 0..num_ws (the style layers below it are
    truncated). The same check for ``generate --trunc-cutoff`` and ``truncation --cutoff``: the flag's
    type refuses negative values before the model is loaded, this the values beyond the model."""
    if cutoff is None:
        return None
    _args.check_int(cutoff, flag, 0)
    num_ws = int(G.num_ws)
    if cutoff > num_ws:
        raise GanforgeError(f"{flag} {cutoff} out of range: this model has {num_ws} style layers, so the cutoff "
                            f"must be in 0..{num_ws} ({num_ws}: every layer truncated, as without {flag})")
    return int(cutoff)


def interpolation_length(num_seeds: int, frames_per_step: int, loop: bool = False) -> int:
    """Frames ``interpolation_frames`` makes: ``frames_per_step`` per transition, plus the last seed's
    frame unless ``loop`` (which adds a transition back to the first seed instead)."""
    transitions = num_seeds - 1 + (1 if loop else 0)
    return frames_per_step * transitions + (0 if loop else 1)


def check_interpolation(num_seeds: int, frames_per_step: int, loop: bool = False, seeds_text: str | None = None) -> int:
    """The frame count of an interpolation, refusing fewer than two seeds, ``frames_per_step`` < 1 and
    more than ``ganforge.limits.FRAMES_MAX`` frames in all (they are held in memory together)."""
    if num_seeds < 2:
        raise GanforgeError("interpolation needs at least two seeds, e.g. --seeds 0,1,2")
    _args.check_int(frames_per_step, "--frames", 1, FRAMES_MAX, describe=f"an integer >= 1 and <= {FRAMES_MAX}")
    total = interpolation_length(num_seeds, frames_per_step, loop)
    if total > FRAMES_MAX:
        given = f" (--seeds {_args.shown(seeds_text)})" if seeds_text is not None else ""
        transitions = num_seeds - 1 + (1 if loop else 0)
        raise GanforgeError(f"--frames {frames_per_step} x {transitions} transitions between {num_seeds} seeds{given} "
                            f"= {total} frames; an interpolation has at most {FRAMES_MAX} frames: give fewer "
                            f"--frames or fewer --seeds")
    return total


def seed_latent(seed: int, z_dim: int) -> torch.Tensor:
    """z [1, z_dim] for a seed, exactly as ``ganforge generate`` draws it."""
    return torch.randn(1, z_dim, generator=torch.Generator().manual_seed(int(seed)))


def seed_labels(G: nn.Module, seeds: list[int], class_idx: int | None) -> torch.Tensor | None:
    """Labels [N] for conditional generators: ``class_idx`` for all, else one drawn per seed the way
    ``ganforge generate`` does; None for unconditional generators."""
    ncls = int(getattr(G, "num_classes", 0) or 0)
    if ncls == 0:
        if class_idx is not None:
            raise GanforgeError(f"--class {class_idx} given but the model is unconditional")
        return None
    if class_idx is not None:
        if not 0 <= class_idx < ncls:
            raise GanforgeError(f"--class {class_idx} out of range: the model has classes 0..{ncls - 1}")
        return torch.full((len(seeds),), int(class_idx), dtype=torch.long)
    out = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        torch.randn(1, int(G.z_dim), generator=g)  # the z draw comes first, as in generate
        out.append(int(torch.randint(ncls, (1,), generator=g)))
    return torch.tensor(out, dtype=torch.long)


def _device(G: nn.Module) -> torch.device:
    from ganforge.devices import module_device

    return module_device(G)


@torch.no_grad()
def seeds_to_ws(G: nn.Module, seeds: list[int], *, psi: float = 1.0, cutoff: int | None = None,
                class_idx: int | None = None) -> torch.Tensor:
    """ws [len(seeds), num_ws, w_dim] for a list of seeds (truncated with ``psi`` up to ``cutoff``)."""
    dev = _device(G)
    z = torch.cat([seed_latent(s, int(G.z_dim)) for s in seeds]).to(dev)
    c = seed_labels(G, seeds, class_idx)
    return G.mapping(z, None if c is None else c.to(dev), truncation_psi=check_psi(psi), truncation_cutoff=cutoff)


# Images ``synthesize`` renders at once (the studio renders one frame's batch alike, to the last bit).
SYNTH_BATCH = 32


@torch.no_grad()
def synthesize(G: nn.Module, ws: torch.Tensor, noise_mode: str = "const", batch_size: int = SYNTH_BATCH) -> torch.Tensor:
    """uint8 images [N, C, H, W] (CPU) from ws, in batches."""
    check_noise_mode(noise_mode)
    out = [to_uint8(G.synthesis(ws[i:i + batch_size], noise_mode=noise_mode)).cpu()
           for i in range(0, ws.shape[0], batch_size)]
    return torch.cat(out)


# ------------------------------------------------------------------------------------------------
# Style layers.


def style_groups(G: nn.Module) -> dict[str, list[int]]:
    """Style-input indices of the paper's coarse / middle / fine groups for this generator.

    The paper's ranges (coarse 4-8 px, middle 16-32 px, fine 64 px and up) are used as they are for
    generators of 64 px and more. Smaller generators have no 64-px layers, so there the top
    resolution is "fine", the one below it "middle" and everything lower "coarse" (a 32-px model:
    coarse 4-8, middle 16, fine 32), keeping three non-empty groups.

    An alias-free (StyleGAN3) generator has no 4-px or 8-px layers: its layers sample at 16 px and
    more, and what distinguishes them is their cutoff frequency, which grows geometrically with the
    layer index. There the style inputs are split by index into thirds (the first third "coarse", the
    last "fine"; 16 inputs: 0-5, 6-10, 11-15), i.e. by frequency band.
    """
    if input_transform(G) is not None:
        n = int(G.num_ws)
        a = math.ceil(n / 3)
        b = a + (n - a) // 2
        return {"coarse": list(range(a)), "middle": list(range(a, b)), "fine": list(range(b, n))}
    res = [int(r) for r in G.layer_resolutions]
    top = max(res)
    if top >= 64:
        bounds = (8, 32)
    else:
        bounds = (top // 4, top // 2)
    groups = {"coarse": [i for i, r in enumerate(res) if r <= bounds[0]],
              "middle": [i for i, r in enumerate(res) if bounds[0] < r <= bounds[1]],
              "fine": [i for i, r in enumerate(res) if r > bounds[1]]}
    return groups


def parse_styles(text: str, G: nn.Module) -> list[int]:
    """``coarse``, ``middle``, ``fine`` (combinable with commas) or layer indices/ranges like ``0-3,6``."""
    num_ws = int(G.num_ws)
    groups = style_groups(G)
    layers: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if part in groups:
            if not groups[part]:
                raise GanforgeError(f"--styles {part}: this {max(G.layer_resolutions)}-px model has no {part} layers")
            layers.update(groups[part])
            continue
        try:
            lo, _, hi = part.partition("-")
            a, b = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            raise GanforgeError(f"bad --styles {text!r}: expected coarse, middle, fine or layer indices like 0-3,6 "
                                f"(0..{num_ws - 1})") from None
        if not 0 <= a <= b < num_ws:
            raise GanforgeError(f"bad --styles {text!r}: layers must lie in 0..{num_ws - 1}")
        layers.update(range(a, b + 1))
    if not layers:
        raise GanforgeError(f"bad --styles {text!r}: no layer given")
    return sorted(layers)


# ------------------------------------------------------------------------------------------------
# Figures.


@torch.no_grad()
def truncation_sweep(G: nn.Module, seeds: list[int], psis: list[float], *, cutoff: int | None = None,
                     class_idx: int | None = None, noise_mode: str = "const") -> torch.Tensor:
    """Grid image uint8 [C, H', W']: one row per seed, one column per psi."""
    require_style_based(G, "a truncation sweep")
    ws = [seeds_to_ws(G, seeds, psi=p, cutoff=cutoff, class_idx=class_idx) for p in psis]
    cells = torch.stack(ws, dim=1).flatten(0, 1)  # row-major: seed, then psi
    return make_grid(synthesize(G, cells, noise_mode), cols=len(psis))


@torch.no_grad()
def style_mixing_grid(G: nn.Module, row_seeds: list[int], col_seeds: list[int], layers: list[int], *,
                      psi: float = 1.0, class_idx: int | None = None, noise_mode: str = "const") -> torch.Tensor:
    """The paper's mixing figure as one uint8 image [C, H', W'].

    Top row: the column seeds' images; left column: the row seeds' images; cell (r, c): the row
    seed's styles with ``layers`` taken from the column seed. The top-left corner is blank.
    """
    require_style_based(G, "style mixing")
    row_ws = seeds_to_ws(G, row_seeds, psi=psi, class_idx=class_idx)
    col_ws = seeds_to_ws(G, col_seeds, psi=psi, class_idx=class_idx)
    mixed = row_ws[:, None].repeat(1, len(col_seeds), 1, 1)  # [R, C, num_ws, w_dim]
    mixed[:, :, layers] = col_ws[None, :, layers]
    row_img = synthesize(G, row_ws, noise_mode)
    col_img = synthesize(G, col_ws, noise_mode)
    mix_img = synthesize(G, mixed.flatten(0, 1), noise_mode).reshape(len(row_seeds), len(col_seeds), *row_img.shape[1:])
    blank = torch.full_like(row_img[:1], 255)
    cells = [blank, col_img]
    for r in range(len(row_seeds)):
        cells += [row_img[r:r + 1], mix_img[r]]
    return make_grid(torch.cat(cells), cols=len(col_seeds) + 1)


@torch.no_grad()
def stochastic_variation(G: nn.Module, seed: int, num_noise: int = 8, *, psi: float = 1.0,
                         class_idx: int | None = None, noise_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One latent with ``num_noise`` random noise draws.

    Returns:
        (images uint8 [num_noise, C, H, W], std uint8 [1, 1, H, W]): the per-pixel standard deviation
        of the float images across draws (averaged over channels), scaled so the largest is white.
    """
    require_style_based(G, "stochastic variation")
    require_noise(G, "stochastic variation")
    ws = seeds_to_ws(G, [seed], psi=psi, class_idx=class_idx)
    dev = ws.device
    imgs = []
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(int(noise_seed))
        for _ in range(num_noise):
            imgs.append(G.synthesis(ws, noise_mode="random").float().cpu())
    x = torch.cat(imgs)  # [K, C, H, W] float
    std = x.std(dim=0).mean(dim=0, keepdim=True)  # [1, H, W]
    std_u8 = (std / std.max().clamp_min(1e-8) * 255).round().to(torch.uint8)[None]
    return to_uint8(x), std_u8


@torch.no_grad()
def interpolation_frames(G: nn.Module, seeds: list[int], frames_per_step: int = 16, *, space: str = "w",
                         psi: float = 1.0, class_idx: int | None = None, noise_mode: str = "const",
                         loop: bool = False) -> torch.Tensor:
    """uint8 frames [T, C, H, W] travelling through ``seeds`` (back to the first when ``loop``).

    ``space="w"``: linear interpolation of the (truncated) ws; ``space="z"``: spherical interpolation of
    the latents, mapped frame by frame.
    """
    require_style_based(G, "interpolation")
    if space not in ("w", "z"):
        raise GanforgeError(f"unknown interpolation space {space!r}; valid choices: w, z")
    check_interpolation(len(seeds), frames_per_step, loop)
    path = list(seeds) + ([seeds[0]] if loop else [])
    t = torch.arange(frames_per_step, dtype=torch.float32) / frames_per_step
    dev = _device(G)
    frames = []
    c = seed_labels(G, path, class_idx)
    for i in range(len(path) - 1):
        ci = None if c is None else c[i:i + 1].repeat(frames_per_step).to(dev)
        if space == "w":
            w0, w1 = seeds_to_ws(G, [path[i], path[i + 1]], psi=psi, class_idx=class_idx)
            ws = lerp(w0[None].repeat(frames_per_step, 1, 1), w1[None].repeat(frames_per_step, 1, 1), t.to(dev))
        else:
            z0, z1 = seed_latent(path[i], int(G.z_dim)), seed_latent(path[i + 1], int(G.z_dim))
            z = slerp(z0.repeat(frames_per_step, 1), z1.repeat(frames_per_step, 1), t).to(dev)
            ws = G.mapping(z, ci, truncation_psi=check_psi(psi))
        frames.append(synthesize(G, ws, noise_mode))
    if not loop:
        frames.append(synthesize(G, seeds_to_ws(G, [path[-1]], psi=psi, class_idx=class_idx), noise_mode))
    return torch.cat(frames)


def save_animation(frames_u8: torch.Tensor, path: str | Path, fps: int = 24, scale: int = 1, *,
                   overwrite: bool = True) -> Path:
    """Write frames [T, C, H, W] as a GIF (Pillow) or, for ``.mp4``, a video (needs imageio[ffmpeg]).

    The file is written through the project's one writer (``ganforge.outputs.atomic_write``: a temporary
    file beside ``path``, fsync, rename): a full disk or an interrupt leaves no partial file and an
    existing ``path`` as it was; without ``overwrite`` an existing file is never replaced
    (``FileExistsError``). ``fps``: 1..``ganforge.limits.FPS_MAX``."""
    import numpy as np
    from PIL import Image

    from ganforge.outputs import atomic_write

    path = Path(path)
    _args.check_int(fps, "--fps", 1, FPS_MAX)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise GanforgeError(f"unknown animation format {path.suffix!r} for {str(path)!r}; valid choices: .gif, .mp4")
    if suffix == ".mp4":
        try:
            import imageio.v2 as imageio
        except ImportError:
            raise GanforgeError("writing .mp4 needs imageio with ffmpeg: pip install 'ganforge[video]' "
                                "imageio-ffmpeg (or write a .gif)") from None
    arr = frames_u8.permute(0, 2, 3, 1).cpu().numpy()
    if scale > 1:
        arr = arr.repeat(scale, axis=1).repeat(scale, axis=2)
    if suffix == ".gif":
        mode = "L" if arr.shape[-1] == 1 else "RGB"
        imgs = [Image.fromarray(a[..., 0] if mode == "L" else a, mode=mode) for a in arr]

        def write(tmp: Path) -> None:
            imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:],
                         duration=max(1, round(1000 / fps)), loop=0)

        return atomic_write(path, write, overwrite=overwrite)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)

    def write_video(tmp: Path) -> None:
        try:
            imageio.mimwrite(tmp, list(arr), fps=fps, macro_block_size=1)
        except OSError:
            raise  # a full disk: the writer names the path
        except Exception as e:  # noqa: BLE001 - no ffmpeg backend, codec errors
            raise GanforgeError(f"cannot write {str(path)!r}: {type(e).__name__}: {e} "
                                f"(install imageio-ffmpeg, or write a .gif)") from None

    return atomic_write(path, write_video, overwrite=overwrite)


# ------------------------------------------------------------------------------------------------
# Projection.


@dataclass
class Projection:
    """Result of ``project``: the latent, its image and the optimisation history."""

    ws: torch.Tensor  # [1, num_ws, w_dim] (W: all rows equal)
    image_u8: torch.Tensor  # [1, C, H, W]
    w_plus: bool
    losses: list[float] = field(default_factory=list)
    frames_u8: list[torch.Tensor] = field(default_factory=list)  # one image per recorded step
    distance: str = "pixel mse"


def w_statistics(G: nn.Module, n: int = 10000, seed: int = 123) -> tuple[torch.Tensor, float]:
    """Mean w [1, 1, w_dim] and the scalar spread sqrt(E|w - mean|^2) of ``n`` sampled latents."""
    dev = _device(G)
    g = torch.Generator().manual_seed(seed)
    ws = []
    with torch.no_grad():
        for i in range(0, n, 1000):
            m = min(1000, n - i)
            z = torch.randn(m, int(G.z_dim), generator=g).to(dev)
            c = (torch.randint(int(G.num_classes), (m,), generator=g).to(dev) if int(G.num_classes or 0) else None)
            ws.append(G.mapping(z, c)[:, :1])
    w = torch.cat(ws)
    mean = w.mean(0, keepdim=True)
    return mean, float(((w - mean).square().sum() / n).sqrt())


def project(G: nn.Module, target_u8: torch.Tensor, *, steps: int = 500, w_plus: bool = False, lr: float = 0.1,
            initial_noise: float = 0.05, feature_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
            feature_weight: float = 1.0, record_every: int = 10, seed: int = 0,
            progress: Callable[[int, float], None] | None = None) -> Projection:
    """Optimise a latent in W (one w for every layer) or W+ (one per layer) so that
    ``G.synthesis(ws, noise_mode='const')`` matches ``target_u8`` [1, C, H, W].

    The loss is the pixel MSE in [-1, 1] plus ``feature_weight`` times the squared distance of
    normalised features ``feature_fn(images in [0, 255])`` when given (the official projector uses
    LPIPS/VGG16, which needs weights not shipped here; ganforge uses its evaluation extractor and
    says so in ``distance``). Starting from the W mean, Gaussian noise of ``initial_noise`` times
    the W spread is added to the latent and decays to 0 over the first 75 % of the steps, and the
    learning rate ramps down with a cosine over the last 25 % (as in the StyleGAN2 projector).
    """
    require_style_based(G, "projection")
    if steps < 1:
        raise GanforgeError(f"--steps must be >= 1, got {steps}")
    _args.check_float(lr, "--lr", 0.0, PROJECT_LR_MAX, lo_open=True)
    res, ch = int(G.img_resolution), int(getattr(G, "img_channels", target_u8.shape[1]))
    if tuple(target_u8.shape[1:]) != (ch, res, res):
        raise GanforgeError(f"target image is {tuple(target_u8.shape[1:])} (C, H, W) but the model makes "
                            f"{(ch, res, res)}; resize it first")
    dev = _device(G)
    target = target_u8.to(dev).float() / 127.5 - 1
    target_feat = None
    if feature_fn is not None:
        with torch.no_grad():
            target_feat = F.normalize(feature_fn((target + 1) * 127.5).flatten(1), dim=1)
    w_mean, w_std = w_statistics(G)
    num_ws = int(G.num_ws)
    w = w_mean.repeat(1, num_ws if w_plus else 1, 1).clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    g = torch.Generator().manual_seed(seed)
    result = Projection(ws=w.detach(), image_u8=target_u8, w_plus=w_plus,
                        distance="pixel mse" + (" + normalised extractor features" if feature_fn else ""))
    for i in range(steps):
        t = i / steps
        noise_scale = w_std * initial_noise * max(0.0, 1 - t / 0.75) ** 2
        ramp = min(1.0, (1 - t) / 0.25)
        for group in opt.param_groups:
            group["lr"] = lr * (0.5 - 0.5 * math.cos(ramp * math.pi))
        w_noisy = w + torch.randn(w.shape, generator=g).to(dev) * noise_scale
        ws = w_noisy if w_plus else w_noisy.repeat(1, num_ws, 1)
        img = G.synthesis(ws, noise_mode="const")
        loss = (img - target).square().mean()
        if feature_fn is not None:
            feat = F.normalize(feature_fn((img + 1) * 127.5).flatten(1), dim=1)
            loss = loss + feature_weight * (feat - target_feat).square().sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()
        result.losses.append(value)
        if progress is not None:
            progress(i, value)
        if i % record_every == 0 or i == steps - 1:
            with torch.no_grad():
                final = w if w_plus else w.repeat(1, num_ws, 1)
                result.frames_u8.append(to_uint8(G.synthesis(final, noise_mode="const")).cpu())
    with torch.no_grad():
        result.ws = (w if w_plus else w.repeat(1, num_ws, 1)).detach()
        result.image_u8 = to_uint8(G.synthesis(result.ws, noise_mode="const")).cpu()
    return result
