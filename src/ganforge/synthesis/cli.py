"""CLI subcommands of the latent-space tools (style-based generators):

    ganforge mix --model RUN --rows 0-4 --cols 10-14 --styles coarse --out figs/
    ganforge truncation --model RUN --seeds 0-5 --psi 1,0.7,0.5,0 --out figs/
    ganforge variation --model RUN --seed 3 --draws 8 --out figs/
    ganforge interpolate --model RUN --seeds 0,1,2 --space w --frames 24 --out figs/
    ganforge project target.png --model RUN --steps 500 [--w-plus] --out proj/

Each writes PNGs (and GIF/MP4 for animations, project's latent .npz) into ``--out`` and refuses to
replace an existing file without ``--overwrite``. ``add_style_parsers(subparsers)`` is called by the
top-level CLI.

Arguments are checked in this order, each mistake ending in one message (exit 2) and nothing written:
the flags' values and sizes (``ganforge.args`` validators, the bounds of ``ganforge.limits``: a grid
of at most ``GRID_MAX`` images, at most ``FRAMES_MAX`` frames, ...) and the target image (read with
the data layer's byte and pixel limits) before the model is loaded; then what depends on the model
(style layers, cutoff, class); then the output folder (existing files, writable) before any image is
made.

Every file goes through the project's one writer (``ganforge.outputs``): it is complete or absent,
never partial, and a file it replaces stays as it was until its successor is complete. A command
that writes several files makes all of them in memory first and then writes them one after another;
if one cannot be written (a full disk), the files this run had already created are removed again,
so the folder holds what it held before and the same command can simply be run again. Under
``--overwrite``, files it had already replaced keep their complete new version (the old one cannot
come back); the message names them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from ganforge.args import (NOISE_MODES, bounded_int, check_file_names, check_input_file, check_not_special, choice,
                           fps, parse_seeds, path_text, positive_float, psi, psi_list, seed, shown)
from ganforge.errors import GanforgeError
from ganforge.limits import FRAMES_MAX, GRID_MAX, PROJECT_LR_MAX, PROJECT_STEPS_MAX


def _common(p: argparse.ArgumentParser, out_required: bool = True) -> None:
    p.add_argument("--model", required=True, type=path_text("--model"),
                   help="run directory, .safetensors export or model.json")
    p.add_argument("--out", required=True, type=path_text("--out"), help="output folder")
    p.add_argument("--class", dest="class_idx", type=bounded_int("--class", 0), default=None,
                   help="class index for conditional models")
    p.add_argument("--noise-mode", default="const", type=choice("--noise-mode", NOISE_MODES, "noise mode"),
                   help="random, const or none (default const)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _load(args):
    """The model of ``--model`` on ``--device`` (the device is checked first, as in generate)."""
    from ganforge.api import load_generator
    from ganforge.devices import resolve_device

    device = resolve_device(args.device, "--device")
    check_not_special(args.model, "--model", "a run directory, a .safetensors export or a model.json")
    return load_generator(args.model, device=device)


def _check_class(G, class_idx: int | None) -> None:
    from ganforge.synthesis.style import seed_labels

    if class_idx is not None:
        seed_labels(G, [0], class_idx)  # out of range / unconditional model: its message


def _targets(out: Path, names: list[str], overwrite: bool) -> list[Path]:
    """The output paths, checked before any image is made: ``--out`` is (or can become) a writable folder
    and, without ``overwrite``, none of the files exists. Nothing is created here."""
    from ganforge.outputs import check_writable_dir

    paths = [out / n for n in names]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise GanforgeError(f"{existing[0]} already exists; pass --overwrite or choose another --out")
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {str(out)!r} is a file, not a folder")
    check_writable_dir(out, "--out")
    return paths


def _write_all(files: list[tuple[Path, Callable[[Path, bool], object]]], overwrite: bool) -> None:
    """Write ``files`` (path, ``write(path, overwrite)`` through the one writer) in order, all or nothing
    for the files this run creates: when one fails, those written before it that did not exist before
    the run are removed again (see the module docstring) and the error says so."""
    from ganforge.outputs import make_dir

    if not files:
        return
    make_dir(files[0][0].parent, "--out")
    existed = {path: path.exists() for path, _ in files}
    done: list[Path] = []
    for path, write in files:
        try:
            try:
                write(path, overwrite)
            except FileExistsError:
                raise GanforgeError(f"{path} appeared while this command ran; stopped without overwriting it") from None
        except BaseException as e:
            removed = []
            for p in done:
                if not existed[p]:
                    try:
                        p.unlink()
                        removed.append(p.name)
                    except OSError:
                        pass
            replaced = [p.name for p in done if existed[p]]
            if isinstance(e, GanforgeError) and (removed or replaced):
                notes = []
                if removed:
                    notes.append(f"removed {', '.join(removed)} written before it, so nothing of this run is left")
                if replaced:
                    notes.append(f"{', '.join(replaced)} already replaced by the new version")
                raise type(e)(f"{e} ({'; '.join(notes)})") from None
            raise
        done.append(path)


def _png(img_u8, scale: int = 1) -> Callable[[Path, bool], object]:
    """A writer of one uint8 [C, H, W] image as PNG (enlarged ``scale`` times), through the one writer."""
    from ganforge.synthesis.images import save_png, to_image

    image = to_image(img_u8, scale)
    return lambda path, overwrite: save_png(image, path, overwrite=overwrite)


def _scale(G) -> int:
    return max(1, 128 // int(G.img_resolution))


def _check_grid(count: int, what: str) -> None:
    if count > GRID_MAX:
        raise GanforgeError(f"{what} = {count} images; a grid holds at most {GRID_MAX} images: give fewer seeds")


def _cmd_mix(args) -> int:
    from ganforge.synthesis.style import parse_styles, require_style_based, style_mixing_grid

    rows, cols = parse_seeds(args.rows, "--rows"), parse_seeds(args.cols, "--cols")
    _check_grid((len(rows) + 1) * (len(cols) + 1),
                f"--rows {shown(args.rows)} and --cols {shown(args.cols)}: a grid of ({len(rows)} + 1) x "
                f"({len(cols)} + 1) (the seeds' own images on top and at the left)")
    name = f"mix-{args.styles.replace(',', '+')}.png"
    check_file_names([name], "--styles", args.styles)
    G = _load(args)
    require_style_based(G, "ganforge mix")
    layers = parse_styles(args.styles, G)
    _check_class(G, args.class_idx)
    (path,) = _targets(Path(args.out), [name], args.overwrite)
    grid = style_mixing_grid(G, list(rows), list(cols), layers, psi=args.psi, class_idx=args.class_idx,
                             noise_mode=args.noise_mode)
    _write_all([(path, _png(grid, _scale(G)))], args.overwrite)
    print(f"wrote {path} (styles {args.styles}: layers {','.join(map(str, layers))} from the column seeds)")
    return 0


def _cmd_truncation(args) -> int:
    from ganforge.synthesis.style import check_cutoff, require_style_based, truncation_sweep

    seeds, psis = parse_seeds(args.seeds), args.psi
    _check_grid(len(seeds) * len(psis), f"--seeds {shown(args.seeds)} x --psi: {len(seeds)} rows x {len(psis)} "
                                        f"columns")
    G = _load(args)
    require_style_based(G, "ganforge truncation")
    cutoff = check_cutoff(G, args.cutoff, "--cutoff")
    _check_class(G, args.class_idx)
    (path,) = _targets(Path(args.out), ["truncation.png"], args.overwrite)
    grid = truncation_sweep(G, list(seeds), psis, cutoff=cutoff, class_idx=args.class_idx, noise_mode=args.noise_mode)
    _write_all([(path, _png(grid, _scale(G)))], args.overwrite)
    print(f"wrote {path} (rows: seeds {args.seeds}; columns: psi {', '.join(f'{p:g}' for p in psis)})")
    return 0


def _cmd_variation(args) -> int:
    from ganforge.synthesis.images import make_grid
    from ganforge.synthesis.style import require_style_based, stochastic_variation

    names = [f"variation-seed{args.seed}.png", f"variation-seed{args.seed}-std.png"]
    G = _load(args)
    require_style_based(G, "ganforge variation")
    _check_class(G, args.class_idx)
    grid_path, std_path = _targets(Path(args.out), names, args.overwrite)
    imgs, std = stochastic_variation(G, args.seed, args.draws, psi=args.psi, class_idx=args.class_idx,
                                     noise_seed=args.noise_seed)
    _write_all([(grid_path, _png(make_grid(imgs), _scale(G))), (std_path, _png(std[0], _scale(G)))], args.overwrite)
    print(f"wrote {grid_path} ({args.draws} noise draws) and {std_path} (per-pixel standard deviation)")
    return 0


def _cmd_interpolate(args) -> int:
    from ganforge.synthesis.images import make_grid
    from ganforge.synthesis.style import check_interpolation, interpolation_frames, require_style_based, save_animation

    seeds = parse_seeds(args.seeds)
    fmt = args.format
    check_interpolation(len(seeds), args.frames, args.loop, args.seeds)
    stem = f"interp-{args.space}-{args.seeds.replace(',', '_')}"
    names = [f"{stem}.{fmt}", f"{stem}-strip.png"]
    check_file_names(names, "--seeds", args.seeds)
    G = _load(args)
    require_style_based(G, "ganforge interpolate")
    _check_class(G, args.class_idx)
    anim_path, strip_path = _targets(Path(args.out), names, args.overwrite)
    frames = interpolation_frames(G, list(seeds), args.frames, space=args.space, psi=args.psi,
                                  class_idx=args.class_idx, noise_mode=args.noise_mode, loop=args.loop)
    step = max(1, args.frames // 4)
    _write_all([(anim_path, lambda p, ow: save_animation(frames, p, fps=args.fps, scale=_scale(G), overwrite=ow)),
                (strip_path, _png(make_grid(frames[::step], cols=len(frames[::step])), _scale(G)))], args.overwrite)
    print(f"wrote {anim_path} ({len(frames)} frames) and {strip_path}")
    return 0


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
    """The target image of ``ganforge project`` as a uint8 [H, W, C] array, read with the data layer's
    bounds (``DataConfig.max_file_bytes``, ``DataConfig.max_image_pixels`` and PIL's decompression-bomb
    guard set to the same limit); any problem is one GanforgeError naming the file and the limit."""
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


def _cmd_project(args) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from ganforge.data.folder import check_resize_policy, resize_array, to_channels
    from ganforge.outputs import write_file
    from ganforge.synthesis.images import make_grid
    from ganforge.synthesis.style import project, require_style_based, save_animation

    check_resize_policy(args.resize)
    src = Path(args.image)
    kind = "wplus" if args.w_plus else "w"
    names = [f"{src.stem}-{kind}-latent.npz", f"{src.stem}-{kind}-projected.png", f"{src.stem}-{kind}-compare.png",
             f"{src.stem}-{kind}-progress.gif"]
    arr = read_target(src)
    check_file_names(names, "target image", src.name)
    G = _load(args)
    require_style_based(G, "ganforge project")
    _check_class(G, args.class_idx)
    res, ch = int(G.img_resolution), int(G.img_channels)
    arr = to_channels(resize_array(arr, res, args.resize), ch)
    target = torch.from_numpy(np.array(arr)).permute(2, 0, 1)[None]
    latent_path, img_path, cmp_path, video_path = _targets(Path(args.out), names, args.overwrite)
    feature_fn = None
    if args.features:
        from ganforge.metrics.extractors import default_extractor_name, get_extractor

        ext = get_extractor(default_extractor_name(ch, res))
        dev = next(G.parameters()).device
        feature_fn = lambda x: ext.embed_float(x, dev)[0]  # noqa: E731
    bar = tqdm(total=args.steps, desc="project", unit="step", disable=not args.progress)
    result = project(G, target, steps=args.steps, w_plus=args.w_plus, lr=args.lr, feature_fn=feature_fn,
                     seed=args.seed, progress=lambda i, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.4f}")))
    bar.close()

    def latent(path: Path, overwrite: bool) -> None:
        write_file(path, lambda f: np.savez(f, ws=result.ws.cpu().numpy(), w_plus=args.w_plus,
                                            losses=np.asarray(result.losses), distance=result.distance),
                   overwrite=overwrite)

    frames = torch.cat(result.frames_u8)
    _write_all([(latent_path, latent), (img_path, _png(result.image_u8[0])),
                (cmp_path, _png(make_grid(torch.cat([target, result.image_u8])), _scale(G))),
                (video_path, lambda p, ow: save_animation(frames, p, fps=10, scale=_scale(G), overwrite=ow))],
               args.overwrite)
    print(f"final loss {result.losses[-1]:.5f} ({result.distance}); wrote {latent_path}, {img_path}, {cmp_path}, "
          f"{video_path}")
    return 0


def add_style_parsers(sub) -> None:
    m = sub.add_parser("mix", help="style-mixing grid (row seeds take the chosen styles of column seeds)")
    _common(m)
    m.add_argument("--rows", required=True, help="row seeds, e.g. 0-4")
    m.add_argument("--cols", required=True, help="column seeds, e.g. 10-14")
    m.add_argument("--styles", default="coarse", help="coarse, middle, fine (combinable) or layers like 0-3,6")
    m.add_argument("--psi", type=psi("--psi"), default=1.0, help="truncation psi (default 1: none)")
    m.set_defaults(func=_cmd_mix)

    t = sub.add_parser("truncation", help="truncation sweep grid: one row per seed, one column per psi")
    _common(t)
    t.add_argument("--seeds", default="0-5")
    t.add_argument("--psi", type=psi_list("--psi"), default="1,0.8,0.6,0.4,0.2,0", help="psi values, comma separated")
    t.add_argument("--cutoff", type=bounded_int("--cutoff", 0), default=None,
                   help="truncate only style layers below this index")
    t.set_defaults(func=_cmd_truncation)

    v = sub.add_parser("variation", help="one latent under several noise draws, with the per-pixel std")
    _common(v)
    v.add_argument("--seed", type=seed("--seed"), default=0)
    v.add_argument("--draws", type=bounded_int("--draws", 2, GRID_MAX, describe=f">= 2 to show variation and <= "
                                                                          f"{GRID_MAX} (the images of one grid)"),
                   default=8)
    v.add_argument("--noise-seed", type=seed("--noise-seed"), default=0)
    v.add_argument("--psi", type=psi("--psi"), default=1.0)
    v.set_defaults(func=_cmd_variation)

    i = sub.add_parser("interpolate", help="interpolation between seeds (lerp in W or slerp in Z) as GIF/MP4 + strip")
    _common(i)
    i.add_argument("--seeds", default="0,1,2,3")
    i.add_argument("--space", default="w", type=choice("--space", ("w", "z"), "interpolation space"),
                   help="w (lerp) or z (slerp)")
    i.add_argument("--frames", type=bounded_int("--frames", 1, FRAMES_MAX), default=24,
                   help=f"frames per transition (at most {FRAMES_MAX} frames in all)")
    i.add_argument("--fps", type=fps("--fps"), default=24)
    i.add_argument("--format", default="gif", type=choice("--format", ("gif", "mp4"), fold_case=True),
                   help="gif or mp4 (mp4 needs imageio-ffmpeg)")
    i.add_argument("--loop", action="store_true", help="return to the first seed")
    i.add_argument("--psi", type=psi("--psi"), default=1.0)
    i.set_defaults(func=_cmd_interpolate)

    p = sub.add_parser("project", help="invert an image into W or W+ (latent, reconstruction, progress GIF)")
    p.add_argument("image", type=path_text("the target image"), help="target image file")
    _common(p)
    p.add_argument("--steps", type=bounded_int("--steps", 1, PROJECT_STEPS_MAX), default=500)
    p.add_argument("--w-plus", action="store_true", help="one w per layer (W+) instead of one w (W)")
    p.add_argument("--lr", type=positive_float("--lr", PROJECT_LR_MAX), default=0.1)
    p.add_argument("--resize", default="crop", help="crop, pad or stretch the target to the model's size")
    p.add_argument("--features", action="store_true",
                   help="add the evaluation extractor's feature distance to the pixel loss")
    p.add_argument("--seed", type=seed("--seed"), default=0)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=_cmd_project)
