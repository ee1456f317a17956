"""Moving the input of an alias-free (StyleGAN3) generator: ``generate --translate/--rotate`` and
``ganforge video``.

    from ganforge import load_generator
    from ganforge.synthesis.motion import motion_frames, write_video

    G = load_generator("models/stylegan3-t-ffhq")
    frames = motion_frames(G, [0, 1, 2, 3], motion="rotate", frames=72)   # uint8 [72, C, H', W']
    write_video(G, [0, 1, 2, 3], "turn.gif", motion="translate", radius=0.25)

A StyleGAN3 synthesis network starts from Fourier features of the plane, and the [3, 3] buffer
``synthesis.input.transform`` (``ganforge.interfaces.input_transform``) maps output coordinates to the
coordinates those features are sampled at. As the official ``gen_images.py``, the matrix written into it
is the INVERSE of the wanted motion ``M = [[cos a, sin a, tx], [-sin a, cos a, ty], [0, 0, 1]]``, so
the picture is moved by ``M``: rotated by ``a`` and translated by ``(tx, ty)``.

Units are the official ones: a translation is measured in image widths (the image spans -0.5..0.5 in
the input's coordinates), x to the right and y downwards, so ``--translate 0.25,0`` moves the picture a
quarter of its width to the right and ``1/img_resolution`` is one pixel; a rotation is in degrees, and
a positive angle turns the picture counter-clockwise as seen on screen (the official sign). The
transform buffer is always put back as it was afterwards, also after an error or an interrupt.

Bounds: each translation component is finite and within +-``TRANSLATE_MAX`` image widths (the features
are defined on the whole plane, but in float32 their phases lose precision far from the origin; 16
widths is far beyond any sensible setting), a rotation is any finite number of degrees. A video has at
most ``ganforge.limits.FRAMES_MAX`` frames of at most ``VIDEO_SEEDS_MAX`` seeds each, and the frames,
which are held in memory together, at most ``VIDEO_BYTES_MAX`` bytes (after the enlargement for viewing).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganforge.args import Seeds, check_choice, check_float, check_int, check_psi, shown
from ganforge.errors import GanforgeError
from ganforge.images import make_grid, to_uint8
from ganforge.interfaces import input_transform
from ganforge.limits import FPS_MAX, FRAMES_MAX

TRANSLATE_MAX = 16.0  # |tx|, |ty| in image widths (generate --translate, video --radius)
VIDEO_SEEDS_MAX = 256  # seeds tiled into one video frame (a 16 x 16 grid)
VIDEO_BYTES_MAX = 2**30  # bytes of all frames of one video together (held in memory before writing)
MOTIONS = ("rotate", "translate")
VIDEO_FORMATS = (".gif", ".mp4")
DEFAULT_DEGREES = 360.0  # video --motion rotate: one full turn
DEFAULT_RADIUS = 0.25  # video --motion translate: a circle of a quarter image width


# ------------------------------------------------------------------------------------------------
# The transform.


def parse_translate(value: str | Sequence[float], flag: str = "--translate") -> tuple[float, float]:
    """A translation ``(tx, ty)`` in image widths from a text 'X,Y' (or a pair of numbers): two finite
    numbers within +-``TRANSLATE_MAX``, else a GanforgeError naming ``flag`` and the value."""
    if isinstance(value, str):
        parts = value.split(",")
        if len(parts) != 2:
            raise GanforgeError(f"bad {flag} {shown(value)}: expected two numbers X,Y in image widths, e.g. 0.25,0")
    else:
        parts = list(value)
        if len(parts) != 2:
            raise GanforgeError(f"bad {flag} {shown(str(value))}: expected two numbers X,Y in image widths")
    out = []
    for p in parts:
        try:
            number = float(p.strip() if isinstance(p, str) else p)
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if not (math.isfinite(number) and abs(number) <= TRANSLATE_MAX):
            text = value if isinstance(value, str) else ",".join(map(str, value))
            raise GanforgeError(f"bad {flag} {shown(text)}: expected two finite numbers X,Y within "
                                f"+-{TRANSLATE_MAX:g} image widths, e.g. 0.25,0")
        out.append(number)
    return out[0], out[1]


def check_rotate(value: object, flag: str = "--rotate") -> float:
    """A rotation in degrees: any finite number."""
    return check_float(value, flag, describe="a finite number of degrees")


def motion_matrix(translate: Sequence[float] = (0.0, 0.0), rotate: float = 0.0) -> np.ndarray:
    """The picture's motion ``M`` [3, 3] (float64): a rotation by ``rotate`` degrees, then a translation
    by ``translate`` image widths (the matrix official gen_images.py builds)."""
    a = math.radians(math.fmod(float(rotate), 360.0))
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, s, float(translate[0])], [-s, c, float(translate[1])], [0.0, 0.0, 1.0]])


def input_matrix(translate: Sequence[float] = (0.0, 0.0), rotate: float = 0.0) -> torch.Tensor:
    """What ``synthesis.input.transform`` holds to move the picture by ``motion_matrix``: its inverse
    (float32). ``(0, 0)`` and 0 degrees give the identity exactly."""
    return torch.from_numpy(np.linalg.inv(motion_matrix(translate, rotate))).float()


def require_input_transform(G, flag: str) -> torch.Tensor:
    """The live input transform of ``G``; a GanforgeError naming ``flag`` and the model's kind when ``G``
    has none (every generator but an alias-free one)."""
    from ganforge.synthesis.style import model_kind

    t = input_transform(G)
    if t is None:
        raise GanforgeError(f"{flag} needs a generator with a moving input, but this model is {model_kind(G)!r}: only "
                            f"alias-free (StyleGAN3) generators have one")
    return t


@contextlib.contextmanager
def moved_input(G, matrix: torch.Tensor | None, flag: str = "--translate/--rotate") -> Iterator[torch.Tensor | None]:
    """Within the block, ``G``'s input transform holds ``matrix`` (an ``input_matrix``); afterwards it holds
    what it held before, whatever happened. ``matrix`` None: nothing is touched (and ``G`` may lack one).
    The yielded buffer may be overwritten inside the block (a video writes one matrix per frame)."""
    if matrix is None:
        yield None
        return
    buf = require_input_transform(G, flag)
    saved = buf.detach().clone()
    try:
        with torch.no_grad():
            buf.copy_(matrix.to(buf.device, buf.dtype))
        yield buf
    finally:
        with torch.no_grad():
            buf.copy_(saved)


# ------------------------------------------------------------------------------------------------
# Videos.


def motion_path(motion: str, frames: int, *, degrees: float = DEFAULT_DEGREES,
                radius: float = DEFAULT_RADIUS) -> list[tuple[tuple[float, float], float]]:
    """``(translate, rotate)`` of each frame. Frame k shows k/frames of the motion, so the first frame is
    the unmoved picture and a full turn (or the circle) loops without a repeated frame.

    ``rotate``: the picture turns by ``degrees`` in all about its centre. ``translate``: the picture's
    centre travels once around a circle of ``radius`` image widths that passes through the start,
    ``(radius * (cos phi - 1), radius * sin phi)`` for phi from 0 to 2 pi."""
    check_choice(motion, "motion", MOTIONS, "--motion")
    out = []
    for k in range(frames):
        f = k / frames
        if motion == "rotate":
            out.append(((0.0, 0.0), degrees * f))
        else:
            phi = 2 * math.pi * f
            out.append(((radius * (math.cos(phi) - 1), radius * math.sin(phi)), 0.0))
    return out


def check_video_file(path: str | Path, overwrite: bool = False) -> Path:
    """The video file ``path``, checked before any work: a .gif or .mp4 name, for .mp4 the writer installed
    (imageio with imageio-ffmpeg), no existing file unless ``overwrite``, a folder it can be written in."""
    from ganforge.outputs import check_writable_dir

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_FORMATS:
        raise GanforgeError(f"--out {shown(str(path))}: the video file must end in .gif or .mp4")
    if suffix == ".mp4":
        missing = [m for m in ("imageio", "imageio_ffmpeg") if importlib.util.find_spec(m) is None]
        if missing:
            raise GanforgeError(f"writing .mp4 needs {' and '.join(m.replace('_', '-') for m in missing)}, which "
                                f"{'is' if len(missing) == 1 else 'are'} not installed: pip install "
                                f"'ganforge[video]' imageio-ffmpeg (or write a .gif)")
    if path.is_dir():
        raise GanforgeError(f"--out {shown(str(path))} is a folder; give a video file name like turn.gif")
    if path.exists() and not overwrite:
        raise GanforgeError(f"{path} already exists; pass --overwrite or choose another --out")
    check_writable_dir(path.parent, "--out", shown=path)
    return path


def check_video_options(seeds: Seeds | str | Sequence[int], motion: str, frames: int, fps: int,
                        degrees: float | None = None, radius: float | None = None) -> tuple[float, float]:
    """Everything about a video that needs no model: the motion, its extent, the frame count, the fps and
    the number of seeds. Returns ``(degrees, radius)`` with the defaults filled in."""
    seeds = Seeds.of(seeds)
    check_choice(motion, "motion", MOTIONS, "--motion")
    check_int(frames, "--frames", 1, FRAMES_MAX)
    check_int(fps, "--fps", 1, FPS_MAX)
    if len(seeds) > VIDEO_SEEDS_MAX:
        raise GanforgeError(f"--seeds {shown(seeds.text)}: {len(seeds)} seeds; a video frame tiles at most "
                            f"{VIDEO_SEEDS_MAX}")
    if motion == "rotate" and radius is not None:
        raise GanforgeError("--radius sets the circle of --motion translate; --motion rotate takes --degrees")
    if motion == "translate" and degrees is not None:
        raise GanforgeError("--degrees sets the turn of --motion rotate; --motion translate takes --radius")
    degrees = DEFAULT_DEGREES if degrees is None else check_rotate(degrees, "--degrees")
    radius = DEFAULT_RADIUS if radius is None else check_float(
        radius, "--radius", 0.0, TRANSLATE_MAX / 2, lo_open=True)  # the circle's far side: 2 radii
    return degrees, radius


def _grid_shape(n: int, h: int, w: int, pad: int = 2) -> tuple[int, int]:
    if n == 1:
        return h, w
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    return rows * (h + pad) + pad, cols * (w + pad) + pad


def check_video_memory(G, num_seeds: int, frames: int, scale: int = 1) -> int:
    """The bytes the frames take (at ``scale``); a GanforgeError when more than ``VIDEO_BYTES_MAX``."""
    h, w = _grid_shape(num_seeds, int(G.img_resolution), int(G.img_resolution))
    size = frames * int(G.img_channels) * h * scale * w * scale
    if size > VIDEO_BYTES_MAX:
        raise GanforgeError(f"--frames {frames} x {num_seeds} seed(s) at {G.img_resolution} px ({w * scale} x "
                            f"{h * scale} per frame as written) = {size / 2**20:.0f} MiB of frames; a video holds "
                            f"at most {VIDEO_BYTES_MAX // 2**20} MiB: give fewer --frames or fewer --seeds")
    return size


@dataclass
class Video:
    """What ``write_video`` wrote: the file, its frame count and one frame's size (pixels, as written)."""

    path: Path
    frames: int
    width: int
    height: int


@torch.no_grad()
def motion_frames(G, seeds: Seeds | str | Sequence[int], *, motion: str = "rotate", frames: int = 72,
                  degrees: float | None = None, radius: float | None = None, psi: float = 1.0,
                  trunc_cutoff: int | None = None, class_idx: int | None = None) -> torch.Tensor:
    """uint8 frames [frames, C, H', W'] of ``G``'s pictures for ``seeds`` while its input moves.

    Each seed's latent (and label) comes from the seed as in ``ganforge generate``, so frame 0 is the image
    ``generate`` makes for that seed; several seeds are tiled into a grid per frame (``make_grid``), one
    seed is the bare image. The transform is put back afterwards.

    Args:
        G: an alias-free (StyleGAN3) generator.
        seeds: the seeds (at most ``VIDEO_SEEDS_MAX``).
        motion: 'rotate' (turn by ``degrees``, default a full turn) or 'translate' (a circle of ``radius``
            image widths through the start, default 0.25); see ``motion_path``.
        frames: the number of frames, 1..FRAMES_MAX.
        psi, trunc_cutoff: truncation (1: none).
        class_idx: the class of every image of a conditional model (None: each seed draws one).
    """
    from ganforge.synthesis.style import check_cutoff, seeds_to_ws

    seeds = Seeds.of(seeds)
    degrees, radius = check_video_options(seeds, motion, frames, 1, degrees, radius)
    psi = check_psi(psi, "--psi")
    require_input_transform(G, f"--motion {motion}")
    trunc_cutoff = check_cutoff(G, trunc_cutoff, "--trunc-cutoff")
    check_video_memory(G, len(seeds), frames)
    ws = seeds_to_ws(G, list(seeds), psi=psi, cutoff=trunc_cutoff, class_idx=class_idx)
    out = []
    with moved_input(G, input_matrix(), f"--motion {motion}") as buf:
        for translate, rotate in motion_path(motion, frames, degrees=degrees, radius=radius):
            buf.copy_(input_matrix(translate, rotate).to(buf.device, buf.dtype))
            imgs = to_uint8(G.synthesis(ws, noise_mode="const")).cpu()
            out.append(imgs[0] if len(imgs) == 1 else make_grid(imgs))
    return torch.stack(out)


def write_video(G, seeds: Seeds | str | Sequence[int], out: str | Path, *, motion: str = "rotate",
                frames: int = 72, fps: int = 24, degrees: float | None = None, radius: float | None = None,
                psi: float = 1.0, trunc_cutoff: int | None = None, class_idx: int | None = None,
                overwrite: bool = False) -> Video:
    """Write a video (GIF, or MP4 with imageio-ffmpeg) of ``motion_frames`` to the file ``out``.

    Every check comes first (the options, the file name and format, the MP4 writer, an existing file, the
    folder, the model, the frames' memory); the file is written through the project's one writer
    (``style.save_animation``: complete or absent), enlarged for viewing as ``ganforge interpolate``
    does (``figures.view_scale``).

    Args:
        G, seeds, motion, frames, degrees, radius, psi, trunc_cutoff, class_idx: as for ``motion_frames``.
        out: the video file, ending in .gif or .mp4 (its folder is created when missing).
        fps: frames per second, 1..FPS_MAX.
        overwrite: replace an existing file.
    """
    from ganforge.outputs import make_dir
    from ganforge.synthesis.figures import check_class, view_scale
    from ganforge.synthesis.style import check_cutoff, save_animation

    seeds = Seeds.of(seeds)
    check_video_options(seeds, motion, frames, fps, degrees, radius)
    psi = check_psi(psi, "--psi")
    path = check_video_file(out, overwrite)
    require_input_transform(G, f"--motion {motion}")
    check_cutoff(G, trunc_cutoff, "--trunc-cutoff")
    check_class(G, class_idx)
    scale = view_scale(G)
    check_video_memory(G, len(seeds), frames, scale)
    images = motion_frames(G, seeds, motion=motion, frames=frames, degrees=degrees, radius=radius, psi=psi,
                           trunc_cutoff=trunc_cutoff, class_idx=class_idx)
    make_dir(path.parent, "--out")
    try:
        save_animation(images, path, fps=fps, scale=scale, overwrite=overwrite)
    except FileExistsError:
        raise GanforgeError(f"{path} appeared while this command ran; stopped without overwriting it") from None
    return Video(path=path, frames=len(images), width=images.shape[-1] * scale, height=images.shape[-2] * scale)
