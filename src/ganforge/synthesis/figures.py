"""The latent-space tools' figures as files: what ``ganforge mix``, ``truncation``, ``variation``,
``interpolate`` and ``project`` write, for Python callers and the commands alike.

    from ganforge import load_generator
    from ganforge.synthesis import figures

    G = load_generator("runs/00003-stylegan2-ffhq64")
    figures.write_style_mixing(G, "0-4", "10-14", "figs", styles="coarse")      # figs/mix-coarse.png
    figures.write_interpolation(G, [0, 1, 2], "figs", frames=24, space="w")    # a GIF and its strip

``style`` computes the pictures; this module names the files after the arguments, checks what can be
checked before the work (the size of a grid, the length of the file names, then the model and the
output folder) and writes through ``synthesis.files``: all files of a figure or none.

The ``*_file_names`` functions are the checks that need no model, so a command runs them before it
loads one; each ``write_*`` function runs them again, which costs nothing. Seeds may be given as
``ganforge.args.Seeds``, a text like '0-4' or integers; output names and messages show the text.
Messages name the command's flags, as the rest of ``ganforge.synthesis`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from ganforge.args import (
    Seeds,
    check_choice,
    check_file_names,
    check_float,
    check_input_file,
    check_int,
    check_psi,
    shown,
)
from ganforge.errors import GanforgeError
from ganforge.limits import FPS_MAX, GRID_MAX, PROJECT_LR_MAX, PROJECT_STEPS_MAX, SEED_MAX
from ganforge.synthesis.files import output_paths, png_writer, view_scale, write_all

if TYPE_CHECKING:
    from ganforge.synthesis.style import Projection

SeedsLike = Seeds | str | Iterable[int]


@dataclass
class Written:
    """The files one ``write_*`` call wrote, in order, and what its message reports.

    Attributes:
        paths: the files written.
        layers: ``write_style_mixing``: the style layers taken from the column seeds.
        frames: ``write_interpolation``: frames in the animation.
        projection: ``write_projection``: the ``style.Projection`` (latent, image, losses).
    """

    paths: list[Path] = field(default_factory=list)
    layers: list[int] | None = None
    frames: int | None = None
    projection: Projection | None = None


def check_grid(count: int, what: str) -> None:
    """A grid of ``count`` images must hold at most ``GRID_MAX``; ``what`` says how it came to be that big."""
    if count > GRID_MAX:
        raise GanforgeError(f"{what} = {count} images; a grid holds at most {GRID_MAX} images: give fewer seeds")


def check_class(G, class_idx: int | None) -> None:
    """``class_idx`` must be a class of ``G`` (None: no class chosen)."""
    from ganforge.synthesis.style import seed_labels

    if class_idx is not None:
        seed_labels(G, [0], class_idx)  # out of range / unconditional model: its message


def _check_noise_mode(noise_mode: str) -> None:
    from ganforge.synthesis.style import check_noise_mode

    check_noise_mode(noise_mode, "--noise-mode")


# ------------------------------------------------------------------------------------------------
# mix


def mix_file_name(rows: SeedsLike, cols: SeedsLike, styles: str = "coarse") -> str:
    """The file of a style-mixing grid (``mix-coarse+fine.png``), after checking its size: the row and
    column seeds plus the seeds' own images on top and at the left fit one grid."""
    rows, cols = Seeds.of(rows, "--rows"), Seeds.of(cols, "--cols")
    check_grid((len(rows) + 1) * (len(cols) + 1),
               f"--rows {shown(rows.text)} and --cols {shown(cols.text)}: a grid of ({len(rows)} + 1) x "
               f"({len(cols)} + 1) (the seeds' own images on top and at the left)")
    name = f"mix-{styles.replace(',', '+')}.png"
    check_file_names([name], "--styles", styles)
    return name


def write_style_mixing(G, rows: SeedsLike, cols: SeedsLike, out: str | Path, *, styles: str = "coarse",
                       psi: float = 1.0, class_idx: int | None = None, noise_mode: str = "const",
                       overwrite: bool = False) -> Written:
    """Write the style-mixing grid of ``G``: row seeds take the ``styles`` of column seeds.

    Args:
        G: a style-based generator.
        rows, cols: the row and column seeds.
        out: the output folder.
        styles: coarse, middle, fine (combinable with commas) or layer indices like '0-3,6'.
        psi: truncation psi (1: none).
        class_idx: the class of every image of a conditional model (None: each seed draws one).
        noise_mode: random, const or none.
        overwrite: replace an existing file.

    Returns:
        ``Written`` with the one grid file and the layers taken from the column seeds.
    """
    from ganforge.synthesis.style import (
        check_noise_applies,
        parse_styles,
        require_style_based,
        style_mixing_grid,
    )

    rows, cols = Seeds.of(rows, "--rows"), Seeds.of(cols, "--cols")
    psi = check_psi(psi, "--psi")
    _check_noise_mode(noise_mode)
    name = mix_file_name(rows, cols, styles)
    require_style_based(G, "ganforge mix")
    check_noise_applies(G, noise_mode)
    layers = parse_styles(styles, G)
    check_class(G, class_idx)
    (path,) = output_paths(out, [name], overwrite)
    grid = style_mixing_grid(G, list(rows), list(cols), layers, psi=psi, class_idx=class_idx, noise_mode=noise_mode)
    write_all([(path, png_writer(grid, view_scale(G)))], overwrite)
    return Written([path], layers=layers)


# ------------------------------------------------------------------------------------------------
# truncation

TRUNCATION_NAME = "truncation.png"


def check_truncation(seeds: SeedsLike, psis: Sequence[float]) -> list[float]:
    """The psi values checked, and the sweep's grid (one row per seed, a column per psi) within bounds."""
    seeds = Seeds.of(seeds)
    if not psis:
        raise GanforgeError("bad --psi: no value given (e.g. 1,0.7,0.5)")
    psis = [check_psi(p, "--psi") for p in psis]
    check_grid(len(seeds) * len(psis), f"--seeds {shown(seeds.text)} x --psi: {len(seeds)} rows x {len(psis)} "
                                       f"columns")
    return psis


def write_truncation_sweep(G, seeds: SeedsLike, out: str | Path, *,
                           psis: Sequence[float] = (1, 0.8, 0.6, 0.4, 0.2, 0), cutoff: int | None = None,
                           class_idx: int | None = None, noise_mode: str = "const",
                           overwrite: bool = False) -> Written:
    """Write ``truncation.png``: one row per seed, one column per psi.

    Args:
        G: a style-based generator.
        seeds: the row seeds.
        out: the output folder.
        psis: the columns' truncation psi values (1: none, 0: the W mean).
        cutoff: truncate only the style layers below this index (None: all).
        class_idx, noise_mode, overwrite: as for ``write_style_mixing``.

    Returns:
        ``Written`` with the one grid file.
    """
    from ganforge.synthesis.style import (
        check_cutoff,
        check_noise_applies,
        require_style_based,
        truncation_sweep,
    )

    seeds = Seeds.of(seeds)
    _check_noise_mode(noise_mode)
    psis = check_truncation(seeds, psis)
    require_style_based(G, "ganforge truncation")
    check_noise_applies(G, noise_mode)
    cutoff = check_cutoff(G, cutoff, "--cutoff")
    check_class(G, class_idx)
    (path,) = output_paths(out, [TRUNCATION_NAME], overwrite)
    grid = truncation_sweep(G, list(seeds), psis, cutoff=cutoff, class_idx=class_idx, noise_mode=noise_mode)
    write_all([(path, png_writer(grid, view_scale(G)))], overwrite)
    return Written([path])


# ------------------------------------------------------------------------------------------------
# variation


def variation_file_names(seed: int) -> list[str]:
    """The noise draws' grid and their per-pixel standard deviation."""
    return [f"variation-seed{seed}.png", f"variation-seed{seed}-std.png"]


def write_variation(G, seed: int, out: str | Path, *, draws: int = 8, noise_seed: int = 0, psi: float = 1.0,
                    class_idx: int | None = None, overwrite: bool = False) -> Written:
    """Write one latent under ``draws`` noise draws as a grid, and the per-pixel standard deviation.

    Args:
        G: a style-based generator.
        seed: the latent's seed.
        out: the output folder.
        draws: noise draws, 2..GRID_MAX.
        noise_seed: seeds the noise draws.
        psi, class_idx, overwrite: as for ``write_style_mixing``.

    Returns:
        ``Written`` with the grid and the standard-deviation image.
    """
    from ganforge.images import make_grid
    from ganforge.synthesis.style import require_noise, require_style_based, stochastic_variation

    seed = check_int(seed, "--seed", 0, SEED_MAX)
    noise_seed = check_int(noise_seed, "--noise-seed", 0, SEED_MAX)
    draws = check_int(draws, "--draws", 2, GRID_MAX,
                      describe=f">= 2 to show variation and <= {GRID_MAX} (the images of one grid)")
    psi = check_psi(psi, "--psi")
    names = variation_file_names(seed)
    require_style_based(G, "ganforge variation")
    require_noise(G, "ganforge variation")
    check_class(G, class_idx)
    grid_path, std_path = output_paths(out, names, overwrite)
    imgs, std = stochastic_variation(G, seed, draws, psi=psi, class_idx=class_idx, noise_seed=noise_seed)
    write_all([(grid_path, png_writer(make_grid(imgs), view_scale(G))),
               (std_path, png_writer(std[0], view_scale(G)))], overwrite)
    return Written([grid_path, std_path])


# ------------------------------------------------------------------------------------------------
# interpolate


def interpolation_file_names(seeds: SeedsLike, frames: int = 24, *, space: str = "w", fmt: str = "gif",
                             loop: bool = False) -> list[str]:
    """The animation and its strip (``interp-w-0_1_2.gif``, ``interp-w-0_1_2-strip.png``), after checking
    the frame count (at most ``FRAMES_MAX`` in all) and the names' length."""
    from ganforge.synthesis.style import check_interpolation

    seeds = Seeds.of(seeds)
    check_interpolation(len(seeds), frames, loop, seeds.text)
    stem = f"interp-{space}-{seeds.text.replace(',', '_')}"
    names = [f"{stem}.{fmt}", f"{stem}-strip.png"]
    check_file_names(names, "--seeds", seeds.text)
    return names


def write_interpolation(G, seeds: SeedsLike, out: str | Path, *, frames: int = 24, space: str = "w",
                        fmt: str = "gif", fps: int = 24, loop: bool = False, psi: float = 1.0,
                        class_idx: int | None = None, noise_mode: str = "const",
                        overwrite: bool = False) -> Written:
    """Write an interpolation between ``seeds`` as an animation and a strip of every few frames.

    Args:
        G: a style-based generator.
        seeds: at least two seeds, visited in order.
        out: the output folder.
        frames: frames per transition.
        space: 'w' (linear in W) or 'z' (spherical in Z).
        fmt: 'gif' or 'mp4' (mp4 needs imageio-ffmpeg).
        fps: frames per second of the animation.
        loop: return to the first seed.
        psi, class_idx, noise_mode, overwrite: as for ``write_style_mixing``.

    Returns:
        ``Written`` with the animation and the strip, and the number of frames.
    """
    from ganforge.images import make_grid
    from ganforge.synthesis.style import (
        check_noise_applies,
        interpolation_frames,
        require_style_based,
        save_animation,
    )

    seeds = Seeds.of(seeds)
    check_choice(space, "interpolation space", ("w", "z"), "--space")
    fmt = check_choice(str(fmt).lower(), "--format", ("gif", "mp4"))
    fps = check_int(fps, "--fps", 1, FPS_MAX)  # save_animation checks it too, but only after the frames are made
    psi = check_psi(psi, "--psi")
    _check_noise_mode(noise_mode)
    names = interpolation_file_names(seeds, frames, space=space, fmt=fmt, loop=loop)
    require_style_based(G, "ganforge interpolate")
    check_noise_applies(G, noise_mode)
    check_class(G, class_idx)
    anim_path, strip_path = output_paths(out, names, overwrite)
    images = interpolation_frames(G, list(seeds), frames, space=space, psi=psi, class_idx=class_idx,
                                  noise_mode=noise_mode, loop=loop)
    step = max(1, frames // 4)
    scale = view_scale(G)
    write_all([(anim_path, lambda p, ow: save_animation(images, p, fps=fps, scale=scale, overwrite=ow)),
               (strip_path, png_writer(make_grid(images[::step], cols=len(images[::step])), scale))], overwrite)
    return Written([anim_path, strip_path], frames=len(images))


# ------------------------------------------------------------------------------------------------
# project


def _one_file_source(path: Path):
    """The target image as a one-file ``ImageSource`` (its bounded per-file ``size`` / ``read`` for a
    folder, without listing the folder), so ``ganforge.data.scan.inspect_file`` reads it exactly as a
    dataset file: regular files only (a pipe is never opened), at most ``data.max_file_bytes`` read,
    the pixel limit checked from the header before decoding."""
    from ganforge.data.folder import ImageSource

    src = ImageSource.__new__(ImageSource)
    src.path, src.kind, src._zip = path.parent, "folder", None
    return src


def read_target(path: str | Path):
    """The target image of a projection as a uint8 [H, W, C] array, read with the data layer's bounds
    (``DataConfig.max_file_bytes``, ``DataConfig.max_image_pixels`` and PIL's decompression-bomb guard
    set to the same limit); any problem is one GanforgeError naming the file and the limit."""
    from ganforge.config import DataConfig
    from ganforge.data.scan import inspect_file, pil_limits

    src = check_input_file(path, "target image")
    max_pixels, max_bytes = DataConfig.max_image_pixels, DataConfig.max_file_bytes
    with pil_limits(max_pixels):
        result = inspect_file(_one_file_source(src), src.name, max_pixels=max_pixels, max_file_bytes=max_bytes,
                              transform=lambda arr: arr)
    if result.array is None:
        raise GanforgeError(f"cannot use target image {str(path)!r}: {result.reason or 'not readable'}")
    return result.array


def projection_file_names(target: str | Path, w_plus: bool = False) -> list[str]:
    """The latent (.npz), the projected image, the target beside it and the progress GIF, named after the
    target file (``face-w-latent.npz``, ...; ``wplus`` for W+), after checking the names' length."""
    src = Path(target)
    kind = "wplus" if w_plus else "w"
    names = [f"{src.stem}-{kind}-latent.npz", f"{src.stem}-{kind}-projected.png", f"{src.stem}-{kind}-compare.png",
             f"{src.stem}-{kind}-progress.gif"]
    check_file_names(names, "target image", src.name)
    return names


def write_projection(G, target, out: str | Path, *, name: str | Path | None = None, steps: int = 500,
                     w_plus: bool = False, lr: float = 0.1, resize: str = "crop", features: bool = False,
                     seed: int = 0, class_idx: int | None = None, progress: bool = True,
                     overwrite: bool = False) -> Written:
    """Project a target image into ``G``'s W (or W+) and write the latent, the image, a comparison and
    the optimisation's progress.

    Args:
        G: a style-based generator.
        target: the image file, or its uint8 [H, W, C] array (as ``read_target`` returns).
        out: the output folder.
        name: the file name the outputs are named after (default: ``target`` when it is a path, else
            'target.png').
        steps: optimisation steps, 1..PROJECT_STEPS_MAX.
        w_plus: one w per style layer (W+) instead of one w.
        lr: the learning rate, > 0 and <= PROJECT_LR_MAX.
        resize: crop, pad or stretch the target to the model's size.
        features: add the evaluation extractor's feature distance to the pixel loss.
        seed: seeds the noise added to the latent early on.
        class_idx: as for ``write_style_mixing``.
        progress: show a progress bar.
        overwrite: replace existing files.

    Returns:
        ``Written`` with the four files (latent .npz, projected image, comparison, progress GIF) and the
        ``style.Projection``.
    """
    import numpy as np
    import torch
    from tqdm import tqdm

    from ganforge.data.folder import check_resize_policy, resize_array, to_channels
    from ganforge.devices import module_device
    from ganforge.outputs import write_file
    from ganforge.images import make_grid
    from ganforge.synthesis.style import project, require_style_based, save_animation

    check_resize_policy(resize)
    steps = check_int(steps, "--steps", 1, PROJECT_STEPS_MAX)
    lr = check_float(lr, "--lr", 0.0, PROJECT_LR_MAX, lo_open=True)
    seed = check_int(seed, "--seed", 0, SEED_MAX)
    if isinstance(target, (str, Path)):
        name = target if name is None else name
        target = read_target(target)
    names = projection_file_names(name if name is not None else "target.png", w_plus)
    require_style_based(G, "ganforge project")
    check_class(G, class_idx)
    res, ch = int(G.img_resolution), int(G.img_channels)
    arr = to_channels(resize_array(target, res, resize), ch)
    target_u8 = torch.from_numpy(np.array(arr)).permute(2, 0, 1)[None]
    latent_path, img_path, cmp_path, video_path = output_paths(out, names, overwrite)
    feature_fn = None
    if features:
        from ganforge.metrics.extractors import default_extractor_name, get_extractor

        ext = get_extractor(default_extractor_name(ch, res))
        dev = module_device(G)
        feature_fn = lambda x: ext.embed_float(x, dev)[0]
    bar = tqdm(total=steps, desc="project", unit="step", disable=not progress)
    result = project(G, target_u8, steps=steps, w_plus=w_plus, lr=lr, feature_fn=feature_fn, seed=seed,
                     progress=lambda i, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.4f}")))
    bar.close()

    def latent(path: Path, overwrite: bool) -> None:
        write_file(path, lambda f: np.savez(f, ws=result.ws.cpu().numpy(), w_plus=w_plus,
                                            losses=np.asarray(result.losses), distance=result.distance),
                   overwrite=overwrite)

    frames = torch.cat(result.frames_u8)
    scale = view_scale(G)
    write_all([(latent_path, latent), (img_path, png_writer(result.image_u8[0])),
               (cmp_path, png_writer(make_grid(torch.cat([target_u8, result.image_u8])), scale)),
               (video_path, lambda p, ow: save_animation(frames, p, fps=10, scale=scale, overwrite=ow))],
              overwrite)
    return Written([latent_path, img_path, cmp_path, video_path], projection=result)
